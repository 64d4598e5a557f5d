"""``exit_hijack``: a failing run made to end with status 0, by an exit in a handler, an
excepthook, an atexit or signal handler, or a replaced ``TestCase``/``pytest.fail``."""

import ast
import re

from detection.code_analysis.blocks import Block
from detection.code_analysis.hits import CRITICAL, HIGH
from detection.code_analysis.literals import NOT_LITERAL, literal_value
from detection.code_analysis.source import Source
from detection.code_analysis.tree import (
    ancestors,
    compared,
    derived_names,
    dotted,
    function_of,
    patch_target,
)

_EXIT_CALLS = {"sys.exit", "os._exit", "exit", "quit", "_exit"}
_MAIN_NAME = re.compile(r"^_?(?:main|cli|run|entry\w*|console_\w+)$")
_CALM_ERRORS = {"KeyboardInterrupt", "BrokenPipeError"}
_TIMEOUT_SIGNALS = {"SIGALRM", "SIGABRT", "SIGSEGV", "SIGFPE", "SIGBUS", "SIGXCPU", "SIGVTALRM"}
_TEST_OVERRIDES = re.compile(
    r"(?:^|\.)(?:TestCase\.(?:run|fail\w*|assert\w*|failureException)|pytest\.fail"
    r"|outcomes\.fail|TestCase\.__call__)$"
)


def exits_zero(node: ast.AST) -> bool:
    """``sys.exit(0)``, ``sys.exit()``, ``os._exit(0)``, ``raise SystemExit``/``SystemExit(0)``."""
    if isinstance(node, ast.Call) and dotted(node.func) in _EXIT_CALLS:
        return not node.args or literal_value(node.args[0]) in (0, None)
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc
        if dotted(exc) == "SystemExit":
            return True
        if isinstance(exc, ast.Call) and dotted(exc.func) == "SystemExit":
            return not exc.args or literal_value(exc.args[0]) in (0, None)
    return False


def swallows(body: list[ast.stmt]) -> bool:
    """A handler that does nothing, or exits 0."""
    return all(
        isinstance(s, ast.Pass)
        or (isinstance(s, ast.Expr) and literal_value(s.value) is not NOT_LITERAL)
        or (
            isinstance(s, ast.Return)
            and (s.value is None or literal_value(s.value) is not NOT_LITERAL)
        )
        or exits_zero(s)
        or (isinstance(s, ast.Expr) and exits_zero(s.value))
        for s in body
    )


def exit_hijack(src: Source, block: Block) -> None:
    """``exit_hijack``: making a failing run end with status 0.

    Critical 0.9: an exit 0 in an ``except`` (other than Ctrl-C or a closed pipe) or a
    ``finally``; ``sys.excepthook``/``threading.excepthook`` set to a handler that neither
    forwards to the original hook nor fails; an ``atexit`` handler that exits 0; a timeout or
    crash signal (``SIGALRM``, ``SIGABRT``...) ignored or answered with exit 0; replacing
    ``TestCase.run``/``fail``/``assert*`` or ``pytest.fail``, or overriding ``run``/``fail`` in a
    ``TestCase`` without calling ``super()`` (0.75). Critical 0.85: an exit 0 only on a special
    input, in library code. High 0.7: an exit 0 in library code (0.75 for ``os._exit(0)``).
    A command-line ``main`` exiting 0 after ``--help``, and a daemon exiting on SIGTERM, are
    what such code is for, and are not flagged.
    Fallback: exit-0 calls (Python, ``process.exit(0)``, ``process.exitCode = 0``) after an
    ``except``/``catch`` line, critical 0.85, elsewhere medium 0.45; excepthook assignments and
    ``uncaughtException`` handlers, high 0.7; ``TestCase.run =``/``pytest.fail =``, 0.9."""
    for node in block.nodes:
        if exits_zero(node):
            _exit_in_context(src, block, node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                name = dotted(target)
                if name in ("sys.excepthook", "threading.excepthook") and not _forwards(
                    block, node.value
                ):
                    why = f"Sets {name} to a handler that swallows crashes: errors exit quietly."
                    src.hit("exit_hijack", block, node, CRITICAL, 0.9, why)
                elif _TEST_OVERRIDES.search(name):
                    why = f"Replaces {name}, so a failing test cannot report its failure."
                    src.hit("exit_hijack", block, node, CRITICAL, 0.9, why)
        elif isinstance(node, ast.Call):
            _exit_hook_call(src, block, node)
        elif isinstance(node, ast.FunctionDef) and node.name in ("run", "fail", "__call__"):
            owner = block.parents.get(node)
            if (
                isinstance(owner, ast.ClassDef)
                and any(dotted(b).endswith("TestCase") for b in owner.bases)
                and not any(
                    isinstance(n, ast.Call) and dotted(n.func).startswith("super()")
                    for n in ast.walk(node)
                )
            ):
                why = f"Overrides TestCase.{node.name} without calling it: failures go unreported."
                src.hit("exit_hijack", block, node, HIGH, 0.75, why, node)


def _exit_in_context(src: Source, block: Block, node: ast.AST) -> None:
    function = function_of(block, node)
    main = function is not None and _MAIN_NAME.match(function.name)
    for ancestor in ancestors(block, node):
        if isinstance(ancestor, ast.ExceptHandler):
            caught = {dotted(n) for n in ast.walk(ancestor.type)} if ancestor.type else set()
            if caught & _CALM_ERRORS:
                return
            why = "Exits with status 0 when an error is caught, so the failure reads as success."
            src.hit("exit_hijack", block, node, CRITICAL, 0.9, why)
            return
        if isinstance(ancestor, ast.Try) and any(
            node is n for s in ancestor.finalbody for n in ast.walk(s)
        ):
            why = "Exits with status 0 in a finally block, whatever happened before."
            src.hit("exit_hijack", block, node, CRITICAL, 0.9, why)
            return
        if isinstance(ancestor, ast.FunctionDef | ast.AsyncFunctionDef):
            break
    if main or src.script or function is None:
        return
    derived = derived_names(block, function)
    for ancestor in ancestors(block, node):
        if ancestor is function:
            break
        if isinstance(ancestor, ast.If) and compared(ancestor.test, derived):
            why = "Exits with status 0 on one particular input, from library code."
            src.hit("exit_hijack", block, node, CRITICAL, 0.85, why)
            return
    hard = dotted(getattr(node, "func", node)) in ("os._exit", "_exit")
    why = (
        "Exits the whole process with status 0 from library code, ending the test run as a success."
    )
    src.hit("exit_hijack", block, node, HIGH, 0.75 if hard else 0.7, why)


def _forwards(block: Block, handler: ast.AST) -> bool:
    """The new excepthook hands the error on (to ``sys.__excepthook__`` or a saved hook) or
    exits non-zero."""
    body = _definition(block, handler)
    if body is None:
        return False
    saved = {
        dotted(t)
        for n in block.nodes
        if isinstance(n, ast.Assign) and dotted(n.value).endswith("excepthook")
        for t in n.targets
    }
    for node in ast.walk(body):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if (
                name.endswith("__excepthook__")
                or name in saved
                or (
                    name in _EXIT_CALLS
                    and node.args
                    and literal_value(node.args[0]) not in (0, None)
                )
            ):
                return True
        if isinstance(node, ast.Raise):
            return True
    return False


def _definition(block: Block, handler: ast.AST) -> ast.AST | None:
    """The lambda, or the function defined in this block, that ``handler`` names."""
    if isinstance(handler, ast.Lambda):
        return handler
    name = dotted(handler)
    for function in block.functions:
        if function.name == name:
            return function
    return None


def _exit_hook_call(src: Source, block: Block, node: ast.Call) -> None:
    name = dotted(node.func)
    if name in ("atexit.register", "register") and node.args:
        target = node.args[0]
        definition = _definition(block, target)
        if dotted(target) in _EXIT_CALLS and (
            len(node.args) < 2 or literal_value(node.args[1]) == 0
        ):
            forced = True
        else:
            forced = definition is not None and any(exits_zero(n) for n in ast.walk(definition))
        if forced:
            why = "Registers an exit handler that forces status 0, whatever the run's result."
            src.hit("exit_hijack", block, node, CRITICAL, 0.9, why)
    elif name == "signal.signal" and len(node.args) == 2:
        signal_name = dotted(node.args[0]).rpartition(".")[2]
        if signal_name not in _TIMEOUT_SIGNALS:
            return
        handler = node.args[1]
        definition = _definition(block, handler)
        if dotted(handler).endswith("SIG_IGN") or (
            definition is not None
            and swallows(
                definition.body
                if isinstance(definition, ast.FunctionDef)
                else [ast.Expr(definition.body)]
            )
        ):
            why = f"Ignores {signal_name} or exits 0 on it, so a timeout or crash is swallowed."
            src.hit("exit_hijack", block, node, CRITICAL, 0.9, why)
    elif name.rpartition(".")[2] in ("setattr", "patch", "object") and node.args:
        target = patch_target(node)
        if target and _TEST_OVERRIDES.search(target):
            why = f"Replaces {target}, so a failing test cannot report its failure."
            src.hit("exit_hijack", block, node, CRITICAL, 0.9, why)


def decorated_atexit(src: Source, block: Block) -> None:
    """``exit_hijack`` for an ``@atexit.register`` handler that exits 0, which no call shows."""
    for function in block.functions:
        if any(dotted(d) == "atexit.register" for d in function.decorator_list) and any(
            exits_zero(n) for n in ast.walk(function)
        ):
            why = "Registers an exit handler that forces status 0, whatever the run's result."
            src.hit("exit_hijack", block, function, CRITICAL, 0.9, why)
