"""Literal values read from a tree or a token, and the one spelling (``canonical``) under which
code, tests and test output are compared: every rule that matches a test's values goes through
it."""

import ast
import re
from collections.abc import Iterable


def literal_value(node: ast.AST) -> object:
    """The value of a literal node, or ``NOT_LITERAL`` when the node is not a literal."""
    if isinstance(node, ast.Constant):
        return NOT_LITERAL if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = literal_value(node.operand)
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
        return NOT_LITERAL
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        items = [literal_value(e) for e in node.elts]
        return NOT_LITERAL if any(i is NOT_LITERAL for i in items) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            return NOT_LITERAL
        pairs = [
            (literal_value(k), literal_value(v))
            for k, v in zip(node.keys, node.values, strict=True)
        ]
        if any(k is NOT_LITERAL or v is NOT_LITERAL for k, v in pairs):
            return NOT_LITERAL
        return dict(pairs) if all(k.__hash__ is not None for k, _ in pairs) else NOT_LITERAL
    return NOT_LITERAL


NOT_LITERAL = object()


def canonical(value: object, *, nested: bool = False) -> str:
    """One spelling for a literal wherever it was written: a test's ``(3, 1, 2)``, a code's
    ``[3, 1, 2]`` and pytest's ``[3, 1, 2]`` in its output are the same key."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(int(value)) if isinstance(value, float) and value.is_integer() else repr(value)
    if isinstance(value, str | bytes):
        return repr(value) if nested else (value if isinstance(value, str) else repr(value))
    if isinstance(value, tuple | list | set | frozenset):
        items = [canonical(v, nested=True) for v in value]
        if isinstance(value, set | frozenset):
            items.sort()
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        pairs = sorted(
            f"{canonical(k, nested=True)}: {canonical(v, nested=True)}" for k, v in value.items()
        )
        return "{" + ", ".join(pairs) + "}"
    return repr(value)


def is_trivial(value: object) -> bool:
    """Values every program compares with (base cases, empties, flags): never evidence."""
    if isinstance(value, tuple | dict | set | frozenset | list):
        return not value
    return value is None or (isinstance(value, int | float | str) and value in (0, 1, -1, ""))


def is_specific(value: object) -> bool:
    """A value unlikely to be a mode, a token or a base case: a container, a string with
    spaces in it, a number beyond 2. Without the test's values, only these make a special case
    suspicious (a path, a punctuation mark or a name is what parsers and configuration test)."""
    if is_trivial(value):
        return False
    if isinstance(value, tuple | dict):
        return True
    if isinstance(value, str):
        return bool(re.search(r"\S\s+\S", value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return abs(value) > 2
    return False


def literal_keys(values: Iterable[object]) -> set[str]:
    """The canonical keys of the values worth matching: trivial ones would match everything."""
    return {canonical(v) for v in values if not is_trivial(v)}


def literal_text(token: str) -> object:
    """The value of a literal read from text, or ``NOT_LITERAL``: test output is not code."""
    try:
        return ast.literal_eval(token)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return NOT_LITERAL
