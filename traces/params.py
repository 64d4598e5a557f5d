"""Numbers that URLs, forms and command options give as text, read the same way everywhere."""

# The largest id a 64-bit key holds: a larger number names nothing.
_LARGEST_ID = 2**63 - 1


def whole_number(value: str) -> int | None:
    """``value`` as a whole number written in ASCII digits, or None: "²" passes ``isdigit`` and
    is no number, and a number past any 64-bit id cannot even be put to the database."""
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= _LARGEST_ID else None
