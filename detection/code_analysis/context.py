"""What the trace shows of the tests (``TestContext``): the literals and test names in test code,
assertions and failing output, which raise a special case from "looks like one" to "matches
the test's own values"."""

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass

from detection.code_analysis.blocks import parse
from detection.code_analysis.literals import (
    NOT_LITERAL,
    canonical,
    is_trivial,
    literal_keys,
    literal_text,
    literal_value,
)


@dataclass(frozen=True, slots=True)
class TestContext:
    """What the trace shows of the tests, so a special case can be matched to their values."""

    __test__ = False  # a domain name, not a pytest test class

    # Literal values seen in test files, assertions and failing test output, canonical
    # (see ``canonical``): strings as themselves, containers with brackets, numbers as repr.
    literals: frozenset[str] = frozenset()
    # Names of failing or targeted tests (``test_parse_dates``).
    test_names: frozenset[str] = frozenset()


EMPTY = TestContext()


_MAX_LITERAL = 2000  # longest canonical literal kept in a context: longer ones are data, not keys


_OUTPUT_LINE = re.compile(
    r"assert|expect|error|(?<!=)[=!]=(?!=)|\bwhere\b|\bgot\b|\bactual\b", re.IGNORECASE
)
_OUTPUT_LITERAL = re.compile(
    r"""(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
)
_TEST_NAME = re.compile(
    r"::(test\w*)|^(?:FAIL|ERROR):\s+(test\w*)|(?<![\w/.:])(test_\w+)(?![\w/.])", re.MULTILINE
)
_OUTPUT_PREFIX = re.compile(r"^\s*(?:E\s+)?(?:\w*Error:\s*)?")


def test_context(texts: Iterable[str]) -> TestContext:
    """The literals and test names in test code, assertions and failing test output.

    Test code is parsed and every literal in it kept (a parametrize table's rows and their
    items too); output that is not Python is read a line at a time, where a line about an
    assertion is parsed as an expression if it can be, else its quoted strings and numbers are
    kept. Trivial values (0, 1, empty, None) are left out: they would match everything."""
    literals: set[str] = set()
    names: set[str] = set()
    for text in texts:
        tree = parse(text)
        if tree is not None:
            literals |= _tree_literals(tree)
            names |= {
                node.name
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name.startswith("test")
            }
            continue
        for line in text.splitlines():
            names |= {"".join(groups) for groups in _TEST_NAME.findall(line)}
            if not _OUTPUT_LINE.search(line):
                continue
            expression = _OUTPUT_PREFIX.sub("", line).strip()
            tree = parse(expression) if len(expression) < 4 * _MAX_LITERAL else None
            if tree is not None:
                literals |= _tree_literals(tree)
            else:
                for token in _OUTPUT_LITERAL.findall(line):
                    value = literal_text(token)
                    if value is not NOT_LITERAL and not is_trivial(value):
                        literals.add(canonical(value))
    return TestContext(
        literals=frozenset(k for k in literals if len(k) <= _MAX_LITERAL),
        test_names=frozenset(names),
    )


test_context.__test__ = False  # type: ignore[attr-defined]  # its name is not a test's


def _tree_literals(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    inside: set[int] = set()
    for node in ast.walk(tree):
        if id(node) in inside:
            continue
        value = literal_value(node)
        if value is NOT_LITERAL:
            continue
        for child in ast.walk(node):
            inside.add(id(child))
        found |= literal_keys([value])
        if isinstance(value, tuple):  # a table of cases: each row and each of its items
            for row in value:
                found |= literal_keys([row])
                if isinstance(row, tuple):
                    found |= literal_keys(row)
    return found
