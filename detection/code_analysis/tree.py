"""Questions several rules ask of a parsed block: a node's ancestors and function, a dotted name,
whether it is test code, which names derive from the inputs, what a condition compares, what
a patch replaces. One reading each, so the rules agree."""

import ast
from collections.abc import Iterator

from detection.code_analysis.blocks import Block
from detection.code_analysis.literals import NOT_LITERAL, literal_value
from detection.code_analysis.source import Source


def ancestors(block: Block, node: ast.AST) -> Iterator[ast.AST]:
    """Parents of ``node``, nearest first, from the index the block built once."""
    parents = block.parents
    while node in parents:
        node = parents[node]
        yield node


def function_of(block: Block, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function ``node`` belongs to (a lambda's is the one around it), or None."""
    return block.owner.get(node)  # type: ignore[return-value]


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a name or attribute chain; calls in the chain read as ``f()``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    if isinstance(node, ast.Call):
        inner = dotted(node.func)
        return f"{inner}()" if inner else ""
    return ""


def in_test(src: Source, block: Block, node: ast.AST) -> bool:
    """Test code: a test file, or inside a ``test*`` function or a ``Test*`` class."""
    if src.test_file:
        return True
    function = (
        node if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else block.owner.get(node)
    )
    if function not in block.testy:
        testy = False
        for ancestor in (
            (function, *ancestors(block, function)) if function else ancestors(block, node)
        ):
            if (
                isinstance(ancestor, ast.FunctionDef | ast.AsyncFunctionDef)
                and (ancestor.name.startswith("test"))
            ) or (
                isinstance(ancestor, ast.ClassDef)
                and (
                    ancestor.name.startswith("Test")
                    or any(dotted(b).endswith("TestCase") for b in ancestor.bases)
                )
            ):
                testy = True
        if function is None:
            return testy
        block.testy[function] = testy
    return block.testy[function]


def _params(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    args = function.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return {a.arg for a in every} - {"self", "cls"}


def derived_names(block: Block, function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The parameters and every local computed from them (two passes catch most chains)."""
    names = _params(function)
    own = block.owned.get(function, ())
    assigns = [n for n in own if isinstance(n, ast.Assign | ast.AnnAssign | ast.For)]
    for _ in range(2):
        for node in assigns:
            source = node.iter if isinstance(node, ast.For) else node.value
            if source is None or not mentions(source, names):
                continue
            targets = [node.target] if not isinstance(node, ast.Assign) else node.targets
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def mentions(node: ast.AST, names: set[str]) -> bool:
    """Whether ``node`` reads any of ``names``."""
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def is_subject(node: ast.AST, derived: set[str]) -> bool:
    """An expression of the inputs (``x``, ``len(xs)``, ``s.strip()``, ``(a, b)``), no literal."""
    if not mentions(node, derived):
        return False
    return not any(isinstance(n, ast.Constant) for n in ast.walk(node))


def compared(test: ast.AST, derived: set[str]) -> list[object] | None:
    """The literal values a condition tests the inputs against, when it is only that:
    ``x == 3``, ``(a, b) == (1, 2)``, ``s in ("a b", "c d")``, joined by ``and``/``or``."""
    if isinstance(test, ast.BoolOp):
        values: list[object] = []
        for operand in test.values:
            found = compared(operand, derived)
            if found is None:
                return None
            values += found
        return values
    if not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return None
    op, left, right = test.ops[0], test.left, test.comparators[0]
    if isinstance(op, ast.Eq | ast.Is):
        for subject, literal in ((left, right), (right, left)):
            value = literal_value(literal)
            if value is not NOT_LITERAL and is_subject(subject, derived):
                return [value]
    if isinstance(op, ast.In) and is_subject(left, derived):
        value = literal_value(right)
        if isinstance(value, tuple):
            return list(value)
        if isinstance(value, dict):
            return list(value)
    return None


def literal_result(statement: ast.stmt) -> ast.expr | None:
    """The literal a statement returns or assigns to a plain name."""
    if isinstance(statement, ast.Return) and statement.value is not None:
        return statement.value if literal_value(statement.value) is not NOT_LITERAL else None
    if isinstance(statement, ast.Assign) and all(
        isinstance(t, ast.Name) for t in statement.targets
    ):
        return statement.value if literal_value(statement.value) is not NOT_LITERAL else None
    return None


def always_true(node: ast.AST) -> bool:
    """A condition that holds whatever the code does: ``True``, ``x or True``, ``a == a``,
    ``len(x) >= 0``."""
    value = literal_value(node)
    if value is not NOT_LITERAL:
        return bool(value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = literal_value(node.operand)
        return inner is not NOT_LITERAL and not inner
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.Or):
            return any(always_true(v) for v in node.values)
        return all(always_true(v) for v in node.values)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op, left, right = node.ops[0], node.left, node.comparators[0]
        if (
            isinstance(op, ast.Eq | ast.Is | ast.LtE | ast.GtE)
            and not any(isinstance(n, ast.Call) for n in ast.walk(left))
            and ast.dump(left) == ast.dump(right)
        ):
            return True  # calls aside: reading a file twice may rightly be checked equal
        if (
            isinstance(op, ast.GtE)
            and isinstance(left, ast.Call)
            and dotted(left.func) in ("len", "abs")
            and literal_value(right) == 0
        ):
            return True
    return False


def patch_target(node: ast.Call) -> str:
    """What ``setattr``, ``monkeypatch.setattr``, ``mock.patch`` or ``patch.object`` replaces:
    ``"pkg.mod.name"`` as given, or the owner's dotted name and the attribute's."""
    first = literal_value(node.args[0])
    if isinstance(first, str):
        return first
    if len(node.args) >= 2:
        attr = literal_value(node.args[1])
        if isinstance(attr, str):
            return f"{dotted(node.args[0])}.{attr}"
    return ""
