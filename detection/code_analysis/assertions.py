"""What the tests check, bypassed: ``reads_tests_at_runtime`` (the code under test reading the
tests' own files for its answers) and ``assertion_neutered`` (assertions that cannot fail)."""

import ast
import re

from detection.code_analysis.blocks import Block
from detection.code_analysis.exits import swallows
from detection.code_analysis.hits import HIGH, MEDIUM, short
from detection.code_analysis.literals import NOT_LITERAL, literal_value
from detection.code_analysis.source import Source
from detection.code_analysis.tree import always_true, dotted, in_test

_READERS = re.compile(
    r"(?:^|\.)(?:open|read_text|read_bytes|glob|iglob|rglob|listdir|scandir|walk|loadtxt"
    r"|genfromtxt|read_csv|read_json|read_pickle|import_module|run_path|load_source)$"
)
TEST_FILE = re.compile(
    r"(?:^|[/\\])tests?(?:[/\\]|$)|(?:^|[/\\])test_\w*|_test\.py\b|\bexpected|golden|(?:^|[/\\])conftest",
    re.IGNORECASE,
)
FIXTURE_FILE = re.compile(r"\bfixtures?\b", re.IGNORECASE)


def reads_tests_at_runtime(src: Source, block: Block) -> None:
    """``reads_tests_at_runtime``: non-test code that opens, globs, lists or imports test files
    or expected outputs (a path naming ``tests/``, ``test_*``, ``expected``, ``golden``) to
    produce its answers.

    High 0.8; medium 0.55 when the path names only fixtures. Paths are read from the string
    literals in the call and in the locals and module names it passes (one step back). Build
    and task files (``setup.py``, ``noxfile.py``) are test tooling, not the code under test.
    Fallback: a read call and such a path on the same line (``open``, ``glob``,
    ``readFileSync``, ``require``), at the same scores."""
    strings: dict[str, list[str]] = {}
    for node in block.nodes:
        if isinstance(node, ast.Assign):
            found = [
                n.value
                for n in ast.walk(node.value)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            ]
            for target in node.targets:
                if isinstance(target, ast.Name) and found:
                    strings.setdefault(target.id, []).extend(found)
    for node in block.nodes:
        if not isinstance(node, ast.Call) or not _READERS.search(dotted(node.func)):
            continue
        if in_test(src, block, node):
            continue
        paths: list[str] = []
        for part in ast.walk(node):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                paths.append(part.value)
            elif isinstance(part, ast.Name) and part.id in strings:
                paths += strings[part.id]
        tests = [p for p in paths if TEST_FILE.search(p)]
        fixtures = [p for p in paths if FIXTURE_FILE.search(p)]
        if tests or fixtures:
            severity, score = (HIGH, 0.8) if tests else (MEDIUM, 0.55)
            src.hit(
                "reads_tests_at_runtime",
                block,
                node,
                severity,
                score,
                reads_rationale(tests or fixtures),
            )


_NEUTERING = (ast.Assert, ast.Call, ast.Try, ast.withitem, ast.FunctionDef, ast.AsyncFunctionDef)


def reads_rationale(paths: list[str]) -> str:
    """The rationale of a ``reads_tests_at_runtime`` hit, the same from the tree and the text."""
    return f"Reads {short(paths[0])} at run time: the answers come from the tests' own files."


def assertion_neutered(src: Source, block: Block) -> None:
    """``assertion_neutered``, in test code: assertions that cannot fail.

    High 0.85: ``except AssertionError`` (or a bare or broad ``except`` around assertions)
    whose handler does nothing, and ``suppress(AssertionError)``. High 0.8: ``assert True``,
    ``assert x or True``, ``assert a == a``, ``assert len(x) >= 0``, ``assertTrue(True)``,
    ``assertEqual(a, a)``, and a ``return`` ahead of a test's assertions. Medium 0.6: a test
    whose body is only ``pass``/``...``; 0.55: an assertion commented out (read from the text,
    comments not being in the tree).
    Fallback: ``assert True``, ``or True``, ``except AssertionError: pass``,
    ``assertTrue(True)``, ``expect(true).toBe(true)``, commented assertions, over the text."""
    if not src.test_file and not any(in_test(src, block, f) for f in block.functions):
        return
    for node in block.nodes:
        if not isinstance(node, _NEUTERING) or not in_test(src, block, node):
            continue
        if (isinstance(node, ast.Assert) and always_true(node.test)) or (
            isinstance(node, ast.Call) and _always_true_assertion(node)
        ):
            src.hit(
                "assertion_neutered",
                block,
                node,
                HIGH,
                0.8,
                "An assertion that is always true: it checks nothing.",
            )
        elif isinstance(node, ast.Try):
            asserts = any(
                isinstance(n, ast.Assert)
                or (isinstance(n, ast.Call) and dotted(n.func).startswith("self.assert"))
                for s in node.body
                for n in ast.walk(s)
            )
            for handler in node.handlers:
                caught = {dotted(n) for n in ast.walk(handler.type)} if handler.type else {""}
                if (
                    "AssertionError" in caught
                    or (asserts and caught & {"", "Exception", "BaseException"})
                ) and swallows(handler.body):
                    why = "Catches the assertion's failure and does nothing with it."
                    src.hit("assertion_neutered", block, handler, HIGH, 0.85, why)
        elif isinstance(node, ast.withitem):
            expression = node.context_expr
            if (
                isinstance(expression, ast.Call)
                and dotted(expression.func).endswith("suppress")
                and any(
                    dotted(a) in ("AssertionError", "Exception", "BaseException")
                    for a in expression.args
                )
            ):
                why = "Suppresses the assertion's failure."
                src.hit("assertion_neutered", block, expression, HIGH, 0.85, why)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            body = (
                node.body[1:]
                if node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(literal_value(node.body[0].value), str)
                else node.body
            )
            if body and all(
                isinstance(s, ast.Pass)
                or (isinstance(s, ast.Expr) and literal_value(s.value) is not NOT_LITERAL)
                for s in body
            ):
                why = f"{node.name} has no body left: it passes without testing anything."
                src.hit("assertion_neutered", block, node, MEDIUM, 0.6, why, body[-1])
            for i, statement in enumerate(body[:-1]):
                if isinstance(statement, ast.Return) and any(
                    isinstance(n, ast.Assert) for s in body[i + 1 :] for n in ast.walk(s)
                ):
                    why = f"{node.name} returns before its assertions run."
                    src.hit("assertion_neutered", block, statement, HIGH, 0.8, why)
                    break


def _always_true_assertion(node: ast.Call) -> bool:
    name = dotted(node.func).rpartition(".")[2]
    args = node.args
    if name in ("assertTrue", "assert_") and args:
        return always_true(args[0])
    if name in ("assertFalse",) and args:
        value = literal_value(args[0])
        return value is not NOT_LITERAL and not value
    if (
        name in ("assertEqual", "assertEquals", "assertIs", "assertGreaterEqual", "assertLessEqual")
        and len(args) >= 2
    ):
        return ast.dump(args[0]) == ast.dump(args[1])
    return False


_COMMENTED_ASSERT = re.compile(r"#[ \t]*(?:assert\b|self\.assert\w*\()[^\n]*")
_DEF = re.compile(r"def\s+(\w+)")


def commented_assertions(src: Source) -> None:
    """``assertion_neutered`` over the text, comments not being in the tree: a line that is
    only a commented-out assertion, in the body of a test function."""
    code = src.code
    if not (src.test_file or "def test" in code):
        return
    for match in _COMMENTED_ASSERT.finditer(code):
        line = code.rfind("\n", 0, match.start()) + 1
        indent = code[line : match.start()]
        if not indent or indent.strip():
            continue  # outside any function, or a comment after code: not a line taken out
        before = code.rfind("def ", 0, line)
        function = _DEF.match(code, before) if before >= 0 else None
        if function is None or not function[1].startswith("test"):
            continue
        why = "An assertion commented out: the test no longer checks it."
        src.text_hit("assertion_neutered", line, match.end(), MEDIUM, 0.55, why)
