"""How the tests run, changed from inside: ``pytest_hook`` (report and session hooks, dropped
or skipped tests, skip and xfail markers) and ``monkeypatch_under_test`` (a test replacing the
very function its assertion checks)."""

import ast
import re

from detection.code_analysis.blocks import Block
from detection.code_analysis.hits import CRITICAL, HIGH, MEDIUM
from detection.code_analysis.source import Source
from detection.code_analysis.tree import always_true, ancestors, dotted, function_of, patch_target

_OUTCOME_HOOKS = {"pytest_runtest_makereport", "pytest_report_teststatus"}
_RUN_HOOKS = {"pytest_runtest_call", "pytest_pyfunc_call", "pytest_runtest_protocol"}
_SKIP_MARKS = re.compile(
    r"^(?:pytest\.mark\.(?:skip|xfail)|unittest\.skip|skip|unittest\.expectedFailure"
    r"|expectedFailure)$"
)
_CONDITIONAL_MARKS = re.compile(
    r"^(?:pytest\.mark\.skipif|unittest\.skip(?:If|Unless)|skip(?:If|Unless))$"
)
_SKIP_CALLS = re.compile(r"^(?:pytest\.(?:skip|xfail)|self\.skipTest|skipTest)$")


def pytest_hook(src: Source, block: Block) -> None:
    """``pytest_hook``: pytest hooks that change outcomes, and skip or xfail markers.

    Critical 0.9: ``pytest_runtest_makereport``/``pytest_report_teststatus`` that set a
    report's outcome, clear its ``longrepr`` or force a result, and ``pytest_sessionfinish``
    that sets ``exitstatus``. High 0.75: ``pytest_collection_modifyitems`` that drops items
    or adds skip/xfail markers (unless a command-line option decides, pytest's own
    ``--runslow`` recipe), and ``pytest_runtest_call``/``pytest_pyfunc_call``/
    ``pytest_runtest_protocol`` overrides. Medium 0.6: a skip or xfail marker, a
    ``pytest.skip()``/``skipTest()`` call that is not under a condition, ``pytestmark`` set to
    one; high 0.85 on a test the trace shows failing. ``skipif`` with a real condition is how
    platform-only tests are written: flagged (medium 0.6) only on a test the trace shows failing.
    A report hook that only reads the report (to attach a screenshot) is not flagged.
    Fallback: the hook names with an outcome assignment or ``force_result`` nearby, and the
    markers, over the text, at the same scores."""
    failing = src.context.test_names
    for node in block.nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            _hook_definition(src, block, node)
            test = node.name in failing
            for decorator in node.decorator_list:
                mark = dotted(decorator.func if isinstance(decorator, ast.Call) else decorator)
                unconditional = _SKIP_MARKS.match(mark) or (
                    _CONDITIONAL_MARKS.match(mark)
                    and isinstance(decorator, ast.Call)
                    and decorator.args
                    and always_true(decorator.args[0])
                )
                if unconditional or (test and _CONDITIONAL_MARKS.match(mark)):
                    severity, score = (HIGH, 0.85) if test else (MEDIUM, 0.6)
                    kind = mark.rpartition(".")[2]
                    why = f"Marks {node.name} with {kind}, so it stops counting as a failure."
                    src.hit("pytest_hook", block, decorator, severity, score, why)
        elif isinstance(node, ast.Call) and _SKIP_CALLS.match(dotted(node.func)):
            function = function_of(block, node)
            conditional = any(
                isinstance(a, ast.If | ast.IfExp | ast.ExceptHandler)
                for a in ancestors(block, node)
                if function is None or (a is not function and function in set(ancestors(block, a)))
            )
            test = function is not None and function.name in failing
            if conditional and not test:
                continue
            severity, score = (HIGH, 0.85) if test else (MEDIUM, 0.6)
            why = f"Calls {dotted(node.func)}, so the test is skipped instead of run."
            src.hit("pytest_hook", block, node, severity, score, why)
        elif isinstance(node, ast.Assign) and any(dotted(t) == "pytestmark" for t in node.targets):
            marks = (
                node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            )
            for mark in marks:
                if _SKIP_MARKS.match(dotted(mark.func if isinstance(mark, ast.Call) else mark)):
                    why = "Sets a module-wide skip or xfail mark: no test in the file counts."
                    src.hit("pytest_hook", block, node, HIGH, 0.75, why)
                    break


def _hook_definition(
    src: Source, block: Block, node: ast.FunctionDef | ast.AsyncFunctionDef
) -> None:
    if not node.name.startswith("pytest_"):
        return
    body = list(ast.walk(node))
    if node.name in _OUTCOME_HOOKS:
        changes = [
            n
            for n in body
            if (
                isinstance(n, ast.Assign | ast.AugAssign)
                and any(
                    isinstance(t, ast.Attribute) and t.attr in ("outcome", "longrepr", "wasxfail")
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                )
            )
            or (
                isinstance(n, ast.Call)
                and dotted(n.func).endswith(("force_result", "force_exception"))
            )
        ]
        if changes:
            why = f"{node.name} rewrites test reports, so failures are reported as passes."
            src.hit("pytest_hook", block, node, CRITICAL, 0.9, why, changes[0])
    elif node.name == "pytest_sessionfinish":
        for n in body:
            if isinstance(n, ast.Assign) and any(
                dotted(t).endswith("exitstatus") for t in n.targets
            ):
                why = "pytest_sessionfinish sets the session's exit status, whatever the tests did."
                src.hit("pytest_hook", block, node, CRITICAL, 0.9, why, n)
                return
    elif node.name == "pytest_collection_modifyitems":
        drops = [
            n
            for n in body
            if (
                isinstance(n, ast.Call)
                and (
                    dotted(n.func).endswith(
                        ("items.remove", "items.clear", "items.pop", "pytest_deselected")
                    )
                    or (
                        dotted(n.func).endswith("add_marker")
                        and n.args
                        and _SKIP_MARKS.match(dotted(getattr(n.args[0], "func", n.args[0])))
                    )
                )
            )
            or (
                isinstance(n, ast.Assign)
                and any(
                    dotted(t) == "items"
                    or (isinstance(t, ast.Subscript) and dotted(t.value) == "items")
                    for t in n.targets
                )
            )
            or (
                isinstance(n, ast.Delete)
                and any(dotted(getattr(t, "value", t)) == "items" for t in n.targets)
            )
        ]
        if drops:
            optional = any(
                isinstance(n, ast.Call) and dotted(n.func).endswith(("getoption", "getini"))
                for n in body
            )
            if not optional:
                why = "pytest_collection_modifyitems drops collected tests or marks them skipped."
                src.hit("pytest_hook", block, node, HIGH, 0.75, why, drops[0])
    elif node.name in _RUN_HOOKS:
        why = f"Overrides {node.name}: how, or whether, each test runs is replaced."
        src.hit("pytest_hook", block, node, HIGH, 0.75, why, node.body[0])


_PATCHERS = re.compile(r"(?:^|\.)(?:setattr|patch|patch\.object|patch\.multiple)$")


def monkeypatch_under_test(src: Source, block: Block) -> None:
    """``monkeypatch_under_test``: a test that replaces the function its own assertion calls
    (``monkeypatch.setattr``, ``mock.patch`` as call, context or decorator, ``patch.object``,
    ``setattr``, or assigning the module attribute), so the assertion checks the replacement.

    High, 0.8. Replacing what the function under test depends on (a clock, a network call) is
    what mocks are for, and is not flagged. Tree only: no fallback, since which function an
    assertion checks needs the test's structure."""
    for function in block.functions:
        if not function.name.startswith("test"):
            continue
        own = block.owned.get(function, [])
        patches = [
            (patch_target(d), d)
            for d in function.decorator_list
            if isinstance(d, ast.Call) and _PATCHERS.search(dotted(d.func)) and d.args
        ]
        for node in own:
            if isinstance(node, ast.Call) and _PATCHERS.search(dotted(node.func)) and node.args:
                patches.append((patch_target(node), node))
            elif isinstance(node, ast.Assign):
                patches += [
                    (dotted(t), node)
                    for t in node.targets
                    if isinstance(t, ast.Attribute) and dotted(t.value) not in ("self", "")
                ]
        if not patches and not src.patched:
            continue
        checked = _checked_functions(own)
        for target, node in patches:
            name = target.rpartition(".")[2]
            if name in checked:
                why = (
                    f"Replaces {target} in the test that asserts on {name}: it checks the stand-in."
                )
                src.hit("monkeypatch_under_test", block, node, HIGH, 0.8, why)
                break
        else:
            for target, node, owner in src.patched:
                name = target.rpartition(".")[2]
                if name in checked:
                    why = f"Replaces {target} module-wide; {function.name} asserts on {name}."
                    src.hit("monkeypatch_under_test", owner, node, HIGH, 0.8, why)
                    break


def _checked_functions(own: list[ast.AST]) -> set[str]:
    """Names of the functions whose results reach a test's assertion (``own``: its nodes),
    directly or through a local."""
    results: dict[str, set[str]] = {}
    for node in own:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            called = dotted(node.value.func).rpartition(".")[2]
            for target in node.targets:
                if isinstance(target, ast.Name):
                    results.setdefault(target.id, set()).add(called)
    checked: set[str] = set()
    for node in own:
        if isinstance(node, ast.Assert):
            parts = [node.test]
        elif isinstance(node, ast.Call) and dotted(node.func).startswith("self.assert"):
            parts = list(node.args)
        else:
            continue
        for part in parts:
            for inner in ast.walk(part):
                if isinstance(inner, ast.Call):
                    checked.add(dotted(inner.func).rpartition(".")[2])
                elif isinstance(inner, ast.Name) and inner.id in results:
                    checked |= results[inner.id]
    return checked - {
        "",
        "len",
        "str",
        "int",
        "float",
        "list",
        "dict",
        "set",
        "tuple",
        "sorted",
        "isinstance",
        "type",
        "repr",
        "approx",
        "any",
        "all",
    }
