"""Numbers that pages and forms put in URLs and posts, read the same way by every view."""

# The largest id a 64-bit key holds: a larger number names nothing.
_LARGEST_ID = 2**63 - 1


def whole_number(value: str) -> int | None:
    """``value`` as a whole number written in ASCII digits, or None: "²" passes ``isdigit`` and
    is no number, and a number past any 64-bit id cannot even be put to the database."""
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= _LARGEST_ID else None
