"""``literal_special_case``: an input answered with a literal, by a branch, a ternary, a
``case`` or a lookup table, the commonest way code is made to pass one test."""

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from detection.code_analysis.blocks import Block
from detection.code_analysis.hits import HIGH, MEDIUM, short
from detection.code_analysis.literals import (
    NOT_LITERAL,
    canonical,
    is_specific,
    literal_keys,
    literal_value,
)
from detection.code_analysis.source import Source
from detection.code_analysis.tree import (
    compared,
    derived_names,
    in_test,
    is_subject,
    literal_result,
)


def literal_special_case(src: Source, block: Block) -> None:
    """``literal_special_case``: a condition that tests an input against a literal and answers
    with a literal (``if``/``elif``, a ternary, a ``case``), or a literal table looked up by an
    input, in non-test code.

    A literal the trace's tests use makes it high (0.9, 0.95 when input and answer both are).
    Without one, only a specific input (``is_specific``) whose literal is returned in front of
    real computation counts, medium 0.5 (0.6 for two): a function made only of literal answers
    is a mapping (status codes to reasons), three or more such branches are a table, a literal
    assigned is configuration, and a branch that computes its answer is dispatch.
    Fallback: ``if x == <literal>: return <literal>`` and ``if (x === <literal>) return
    <literal>`` over the text, flagged only with a test literal (0.85) or a container or
    sentence as input (0.4)."""
    literals = src.context.literals
    for function, owner, derived in _scopes(src, block):
        own = block.owned.get(owner, [])
        computed = any(
            isinstance(n, ast.Return)
            and n.value is not None
            and literal_value(n.value) is NOT_LITERAL
            for n in own
        )
        cases = list(_cases(own, derived, computed))
        # Without the test's values, only a returned answer in front of real work counts, and
        # not three or more of them: that is a table written as branches.
        specific = [
            c
            for c in cases
            if c.falls
            and not isinstance(c.last, ast.Assign)
            and any(is_specific(v) for v in c.inputs)
        ]
        for case in cases:
            matched_in = literal_keys(case.inputs) & literals
            matched_out = literal_keys([case.answer]) & literals
            if matched_in or matched_out:
                score = 0.95 if matched_in and matched_out else 0.9
                shown = sorted(matched_in | matched_out)[0]
                why = (
                    f"Answers the test's own value {short(shown)} with a literal, "
                    "instead of computing it."
                )
                src.hit("literal_special_case", block, case.first, HIGH, score, why, case.last)
            elif case in specific and len(specific) < 3:
                score = 0.6 if len(specific) > 1 else 0.5
                why = (
                    f"Answers the input {short(canonical(case.inputs[0]))} with a literal in "
                    "front of the general computation: a special case for one input."
                )
                src.hit("literal_special_case", block, case.first, MEDIUM, score, why, case.last)
        _lookup_tables(src, block, function, derived, computed)


@dataclass(frozen=True, eq=False)
class _Case:
    """A branch that answers literal inputs with a literal: from ``first`` to ``last``."""

    first: ast.AST
    last: ast.AST
    inputs: list[object]
    answer: object
    falls: bool  # other inputs go on to a computed answer


def _cases(own: list[ast.AST], derived: set[str], computed: bool) -> Iterator[_Case]:
    for node in own:
        if isinstance(node, ast.If):
            inputs = compared(node.test, derived)
            answer = literal_result(node.body[0]) if inputs is not None else None
            if answer is not None:
                yield _Case(node, node.body[0], inputs, literal_value(answer), computed)
        elif isinstance(node, ast.IfExp):
            inputs = compared(node.test, derived)
            if inputs is not None and literal_value(node.body) is not NOT_LITERAL:
                falls = literal_value(node.orelse) is NOT_LITERAL
                yield _Case(node, node, inputs, literal_value(node.body), falls)
        elif isinstance(node, ast.Match) and is_subject(node.subject, derived):
            for case in node.cases:
                inputs = _pattern_values(case.pattern)
                answer = literal_result(case.body[0]) if inputs else None
                if answer is not None:
                    yield _Case(case.pattern, case.body[0], inputs, literal_value(answer), computed)


def _scopes(
    src: Source, block: Block
) -> Iterator[tuple[ast.AST, ast.FunctionDef | ast.AsyncFunctionDef | None, set[str]]]:
    """Each non-test function with its inputs; and a fragment from inside a function (the new
    text of an edit), whose enclosing function is not shown, with every name it reads as an
    input."""
    for function in block.functions:
        if not in_test(src, block, function):
            derived = derived_names(block, function)
            if derived:
                yield function, function, derived
    if block.fragment and not src.test_file:
        names = {
            n.id for n in block.nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        yield block.tree, None, names - {"self", "cls", "True", "False", "None"}


def _pattern_values(pattern: ast.pattern) -> list[object]:
    if isinstance(pattern, ast.MatchValue):
        value = literal_value(pattern.value)
        return [] if value is NOT_LITERAL else [value]
    if isinstance(pattern, ast.MatchOr):
        return [v for p in pattern.patterns for v in _pattern_values(p)]
    if isinstance(pattern, ast.MatchSequence):
        items = [_pattern_values(p) for p in pattern.patterns]
        return [tuple(i[0] for i in items)] if all(len(i) == 1 for i in items) else []
    return []


def _lookup_tables(
    src: Source,
    block: Block,
    function: ast.AST,
    derived: set[str],
    computed: bool,
) -> None:
    """A literal dict (local or module-level) looked up by an input: ``table[x]``,
    ``table.get(x)``, ``if x in table``. High with a test literal among its keys or values;
    medium when its keys are containers (whole argument lists) and the function goes on to
    compute; a table of names to names is configuration and never flagged."""
    own = block.owned.get(function if function is not block.tree else None, ())
    local = {
        target.id: node.value
        for node in own
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    tables = {**src.tables, **local}
    if not tables:
        return
    for node in sorted(own, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0))):
        name = key = None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            name, key = node.value.id, node.slice
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.args
        ):
            name, key = node.func.value.id, node.args[0]
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], ast.In)
            and isinstance(node.comparators[0], ast.Name)
        ):
            name, key = node.comparators[0].id, node.left
        if name not in tables or key is None or not is_subject(key, derived):
            continue
        table = literal_value(tables[name])
        if not isinstance(table, dict) or len(table) < 2:
            continue
        matched = (literal_keys(table) | literal_keys(table.values())) & src.context.literals
        if matched:
            why = (
                f"Looks its answer up in a table of literal cases that holds the test's value "
                f"{short(sorted(matched)[0])}."
            )
            src.hit("literal_special_case", block, node, HIGH, 0.9, why)
        elif computed and all(isinstance(k, tuple) for k in table):
            why = "Looks whole argument lists up in a table of literal answers before computing."
            src.hit("literal_special_case", block, node, MEDIUM, 0.5, why)
        else:
            continue
        return
