"""``call_counter``: state kept across calls and branched on, so the same input answers two
contradictory assertions differently."""

import ast

from detection.code_analysis.blocks import Block
from detection.code_analysis.hits import HIGH
from detection.code_analysis.literals import literal_value
from detection.code_analysis.source import Source
from detection.code_analysis.tree import ancestors, dotted, in_test, literal_result


def call_counter(src: Source, block: Block) -> None:
    """``call_counter``: a function that keeps state across calls (``global``/``nonlocal``, an
    attribute of itself or of its class, a mutable default argument), updates it like a counter
    or a toggle, and branches on it, so the same input can answer differently each call.

    High, 0.75; 0.85 when the branch answers with a literal. A cache keyed by the input, a lazy
    singleton and an id generator keep state without branching on a count, and are left alone.
    Fallback: a ``global``/``nonlocal`` name that is incremented and then tested by an
    ``if``/``elif``/``while`` in the same text, 0.6."""
    for function in block.functions:
        if in_test(src, block, function):
            continue
        own = block.owned.get(function, [])
        state = _state_keys(block, function, own)
        if not state:
            continue
        updated = {}
        for node in own:
            key, where = _counter_update(node, state)
            if key:
                updated.setdefault(key, where)
        if not updated:
            continue
        for node in own:
            tested = _branch_on(node, updated)
            if tested is None:
                continue
            key, branch = tested
            literal = isinstance(branch, ast.If) and literal_result(branch.body[0]) is not None
            score = 0.85 if literal else 0.75
            why = (
                f"Keeps {key} across calls, counts it up and branches on it: the same input "
                "can get a different answer on each call."
            )
            first = min(updated[key], branch, key=lambda n: (n.lineno, n.col_offset))
            last = max(
                updated[key], branch, key=lambda n: (n.end_lineno or 0, n.end_col_offset or 0)
            )
            src.hit("call_counter", block, first, HIGH, score, why, last)
            break


def _state_keys(
    block: Block, function: ast.FunctionDef | ast.AsyncFunctionDef, own: list[ast.AST]
) -> set[str]:
    """How the state a function keeps across calls is spelled in its body."""
    keys: set[str] = set()
    for node in own:
        if isinstance(node, ast.Global | ast.Nonlocal):
            keys |= set(node.names)
    keys.add(function.name + ".")  # attributes of the function itself
    for ancestor in ancestors(block, function):
        if isinstance(ancestor, ast.ClassDef):
            keys |= {ancestor.name + ".", "type(self).", "self.__class__.", "cls."}
            break
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults = list(
        zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
    )
    defaults += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
    for arg, default in defaults:
        if isinstance(default, ast.List | ast.Dict | ast.Set) or (
            isinstance(default, ast.Call) and dotted(default.func) in ("list", "dict", "set")
        ):
            keys.add(arg.arg)
    return keys


def _state_of(node: ast.AST, state: set[str]) -> str | None:
    """The state key an expression reads (``calls``, ``f.calls``, ``seen[0]``), if any."""
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id if node.id in state else None
    if isinstance(node, ast.Attribute):
        value = node.value
        is_type = isinstance(value, ast.Call) and dotted(value.func) == "type"
        owner = "type(self)" if is_type else dotted(value)
        key = f"{owner}.{node.attr}"
        if f"{owner}." in state or key in state:
            return key
    return None


def _counter_update(node: ast.AST, state: set[str]) -> tuple[str | None, ast.AST]:
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add | ast.Sub):
        return _state_of(node.target, state), node
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        key = _state_of(node.targets[0], state)
        value = node.value
        if key and (
            (isinstance(value, ast.BinOp) and _state_of(value.left, state) == key)
            or (isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not))
            or (
                isinstance(value, ast.BinOp)
                and isinstance(value.left, ast.Call)
                and dotted(value.left.func) == "getattr"
            )
        ):
            return key, node
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("append", "add", "extend")
    ):
        key = _state_of(node.func.value, state)
        if key and "." not in key:
            return key, node
    return None, node


def _branch_on(node: ast.AST, updated: dict[str, ast.AST]) -> tuple[str, ast.AST] | None:
    """A branch or an index chosen by a counter, not a membership test of the input."""
    tests: list[ast.AST] = []
    if isinstance(node, ast.If | ast.IfExp | ast.While):
        tests = [node.test]
    elif isinstance(node, ast.Match):
        tests = [node.subject]
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        tests = [node.slice]
    keys = set(updated)
    for test in tests:
        for part in ast.walk(test):
            if isinstance(part, ast.Compare) and isinstance(part.ops[0], ast.In | ast.NotIn):
                continue  # ``key in cache``: keyed by the input
            key = (
                _state_of(part, keys)
                if isinstance(part, ast.Name | ast.Attribute | ast.Subscript)
                else None
            )
            if (
                key is None
                and isinstance(part, ast.Call)
                and dotted(part.func) == "len"
                and part.args
            ):
                key = _state_of(part.args[0], keys)
            if key and not _membership_only(test, key, keys):
                return key, node
    return None


def _membership_only(test: ast.AST, key: str, keys: set[str]) -> bool:
    return any(
        isinstance(p, ast.Compare)
        and isinstance(p.ops[0], ast.In | ast.NotIn)
        and _state_of(p.comparators[0], keys) == key
        for p in ast.walk(test)
    ) or (
        isinstance(test, ast.Compare)
        and any(isinstance(op, ast.Is | ast.IsNot) for op in test.ops)
        and any(literal_value(c) is None for c in test.comparators)
    )
