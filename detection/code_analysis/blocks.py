"""Cutting the code into blocks and parsing only those a trigger matches: most of a long module
never reaches ``ast``, which is what keeps the analysis fast enough to run on every write."""

import ast
import bisect
import itertools
import re
from dataclasses import dataclass, field


def parse(text: str) -> ast.Module | None:
    """``ast.parse`` that answers None, not an exception: agents write broken code."""
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


@dataclass
class Block:
    """A piece of the code parsed on its own: ``tree``'s line 1 is code line ``first + 1``.

    One traversal indexes it for every rule: its nodes, each node's parent and the function
    it belongs to (a lambda belongs to the function around it), and each function's nodes."""

    start: int  # character offsets into the code
    end: int
    first: int  # code line (0-based) of the tree's line 1; -1 for a wrapped fragment
    tree: ast.Module
    nodes: list[ast.AST] = field(default_factory=list)
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    owner: dict[ast.AST, ast.AST | None] = field(default_factory=dict)
    owned: dict[ast.AST | None, list[ast.AST]] = field(default_factory=dict)
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=list)
    testy: dict[ast.AST | None, bool] = field(default_factory=dict)
    fragment: bool = False  # the text of an edit from inside a function: no enclosing def

    def __post_init__(self) -> None:
        stack: list[tuple[ast.AST, ast.AST | None]] = [(self.tree, None)]
        while stack:
            node, function = stack.pop()
            self.nodes.append(node)
            self.owner[node] = function
            self.owned.setdefault(function, []).append(node)
            inner = function
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.functions.append(node)
                inner = node
            children = list(ast.iter_child_nodes(node))
            for child in children:
                self.parents[child] = node
            # Pushed last first, so nodes come off the stack in source order.
            stack.extend((child, inner) for child in reversed(children))


_BOUNDARY = re.compile(r"^(?:@|def\s|async\s+def\s|class\s)", re.MULTILINE)
_INDENTED_START = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\n)*[ \t]+\S")
_BLOCK_LINES = 8  # blocks shorter than this are merged with the next: fewer parses
_SPLIT_LINES = 60  # a class longer than this is parsed a method at a time
_MERGE_LIMIT = 4  # blocks a failing block is joined with before its text is read by fallbacks

# Where a rule can fire; a block none of these match is never parsed. Each expression starts
# with its needle, a literal: it is not run at all when the code lacks the needle, and ``re``
# skips ahead to the needle's places otherwise. Paired with a line expression, a match counts
# only where that matches its whole line.
_SPECIAL_IF = (
    r"[^\n]*?(?:==\s*(?:[-+]?(?:[2-9]|\d\d)|[\"'][^\"'\n]|[\[({])|\bin\s+[\[({]|[\d\"'\])}]\s*==)"
)
_ASSIGNED = r"\s*(?:[A-Z]\w*|type\(self\)|cls|self\.__class__|[a-z_]\w*(?=\.\w*(?:call|count|num"
_ASSIGNED += r"|times|hits|runs|invocation|attempt|state|seen)))\.\w+\s*[+=-].*"
# A line that reads a file, or names a path for one to read, with the path in a string.
_READ_LINE = (
    r"(?=.*(?:open|read_\w+|glob|listdir|scandir|walk|load\w*|import_module|run_path|Path)\s*\("
    r"|\s*[A-Z_][A-Z0-9_]*\s*=|\s*[a-z_]\w*\s*=\s*(?:Path\(|os\.path\.join\(|[\"']))"
    r".*[\"'][^\"'\n]*"
)
_READ_END = r"[^\"'\n]*[\"'].*"
_TRIGGERS: list[tuple[str, str, str]] = [
    # literal special cases: an if on a literal whose body starts with a literal, a ternary
    # on a literal, a case on a literal
    (
        r"if\b" + _SPECIAL_IF + r"[^\n]*:[ \t]*(?:#[^\n]*)?(?:\n[ \t]*)?"
        r"(?:return\s+|[\w.]+\s*=\s*)[-+(\[{]*(?:\d|[\"'\[({]|True\b|False\b)",
        "",
        "if",
    ),
    (r"if\s" + _SPECIAL_IF + r"[^\n]*\belse\b", r".*[\d\"'\])}e]\s+if\s.*", "if"),
    (r"case\s+[-\d\"'\[(]", "", "case"),
    # call counters: global or nonlocal names, mutable defaults, attribute counters
    (r"global\s+\w", "", "global"),
    (r"nonlocal\s+\w", "", "nonlocal"),
    (r"=\s*\[\]\s*[,)]", r"\s*(?:async\s+)?def\b.*", "="),
    (r"=\s*\{\}\s*[,)]", r"\s*(?:async\s+)?def\b.*", "="),
    (r"=\s*(?:list|dict|set)\(\)\s*[,)]", r"\s*(?:async\s+)?def\b.*", "="),
    (r"\+=\s*1\b", _ASSIGNED, "+="),
    (r"-=\s*1\b", _ASSIGNED, "-="),
    (r"getattr\(", _ASSIGNED, "getattr("),
    # frames, exits, hooks, markers
    (r"_getframe", "", "_getframe"),
    (
        r"inspect\.(?:stack|currentframe|getouterframes|getframeinfo|trace|getsource)",
        "",
        "inspect.",
    ),
    (r"traceback\.(?:extract_stack|walk_stack)", "", "traceback."),
    (r"f_back\b", "", "f_back"),
    (r"f_locals\b", "", "f_locals"),
    (r"exit\s*\(\s*0?\s*\)", "", "exit"),
    (r"quit\s*\(\s*0?\s*\)", "", "quit"),
    (r"SystemExit[ \t]*(?:\(\s*0?\s*\)|$)", "", "SystemExit"),
    (r"excepthook", "", "excepthook"),
    (r"atexit\b", "", "atexit"),
    (r"signal\.signal\b", "", "signal.signal"),
    (r"TestCase\b", "", "TestCase"),
    (r"pytest\.fail\b", "", "pytest.fail"),
    (r"failureException", "", "failureException"),
    (r"pytest_(?:runtest|collection|report|sessionfinish|pyfunc)", "", "pytest_"),
    (r"mark\.(?:skip|xfail)", "", "mark."),
    (r"pytest\.(?:skip|xfail)", "", "pytest."),
    (r"unittest\.skip", "", "unittest.skip"),
    (r"skipTest", "", "skipTest"),
    (r"expectedFailure", "", "expectedFailure"),
    (r"pytestmark", "", "pytestmark"),
    # test files read at run time: a path in a read call, or in a name a read call may use
    (
        r"test(?:s?[/\\]|s?[\"']|_[\w*.]*[\"'])",
        _READ_LINE + r"(?:tests?(?:[/\\]|(?=[\"']))|test_)" + _READ_END,
        "test",
    ),
    (r"_test\.\w+[\"']", _READ_LINE + r"_test\." + _READ_END, "_test."),
    (r"expected", _READ_LINE + "expected" + _READ_END, "expected"),
    (r"golden", _READ_LINE + "golden" + _READ_END, "golden"),
    (r"fixture", _READ_LINE + r"\bfixtures?\b" + _READ_END, "fixture"),
    # neutered assertions
    (
        r"assert\s+(?:True|1|not\s+(?:False|0|None)|[\"'][^\"'\n]+[\"'])[ \t]*(?:$|[#,])",
        "",
        "assert",
    ),
    (r"AssertionError", r"\s*except\b.*|.*\bsuppress\(.*", "AssertionError"),
    (r"suppress\s*\(", "", "suppress"),
    (r"assertTrue\(\s*True", "", "assertTrue"),
    (r"assert_\(\s*True", "", "assert_"),
    (r"assert(?:Equal|Is)\(\s*([\w.]+)\s*,\s*\1\s*\)", "", "assert"),
    (r"assert\b[^\n]*(?:\bor\s+(?:True|1)\b|>=\s*0\b)", r"\s*assert\b.*", "assert"),
    (r"assert\s+([\w.()\[\]]+)\s*(?:==|\bis\b|<=|>=)\s*\1\s*$", "", "assert"),
    (
        r"def\s+test\w*\([^)]*\)[^\n]*:[ \t]*(?:#[^\n]*)?\n[ \t]*"
        r"(?:[rRbBuU]?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|\"[^\"\n]*\"|'[^'\n]*')\s*)?"
        r"(?:pass|\.\.\.|return)[ \t]*$",
        "",
        "def",
    ),
    (r"return\b[^\n]*\n[ \t]+(?:assert|self\.assert)", "", "return"),
]
# Only where the code can hold tests: replacing what a test checks.
_TEST_TRIGGERS: list[tuple[str, str, str]] = [
    (r"setattr\s*\(", "", "setattr"),
    (r"patch(?:\.object|\.multiple)?\s*\(", "", "patch"),
    (r"\n[A-Za-z_][\w.]*\.\w+[ \t]*=(?!=)", "", "\n"),
]
# Only with the test's literals known: a table of literal cases.
_TABLE_TRIGGERS: list[tuple[str, str, str]] = [
    (r"\{\s*[-(\"'\d][^\n]*?:\s*[-(\[\"'\d]", "", "{"),
]


@dataclass(frozen=True, slots=True)
class _Trigger:
    """Where a rule may fire: ``expression``, counted where ``line`` matches its line."""

    expression: re.Pattern[str]
    line: re.Pattern[str] | None
    needle: str


def _compiled(triggers: list[tuple[str, str, str]]) -> tuple[_Trigger, ...]:
    return tuple(
        _Trigger(re.compile(t, re.MULTILINE), re.compile(line) if line else None, needle)
        for t, line, needle in triggers
    )


_TRIGGER = _compiled(_TRIGGERS)
_TEST_TRIGGER = _compiled(_TEST_TRIGGERS)
_TABLE_TRIGGER = _compiled(_TABLE_TRIGGERS)


def triggered_blocks(
    code: str, test_file: bool = False, tables: bool = False
) -> tuple[list[Block], list[tuple[int, int]]]:
    """The parsed blocks where a trigger matched, and the triggered spans that did not parse."""
    if _INDENTED_START.match(code):  # a fragment from inside a function or class
        wrapped = parse("if 1:\n" + code)
        if wrapped is None:
            return [], [(0, len(code))]
        return [Block(0, len(code), -1, wrapped, fragment=True)], []
    positions = _triggered(code, test_file, tables)
    pieces = _pieces(code, 0, len(code), _BOUNDARY)
    blocks: list[Block] = []
    broken: list[tuple[int, int]] = []
    i = 0
    while i < len(pieces):
        start, end = pieces[i]
        if not _holds(positions, start, end):
            i += 1
            continue
        if code.count("\n", start, end) > _SPLIT_LINES:
            methods = _methods(code, start, end, positions)
            if methods is not None:
                blocks += methods
                i += 1
                continue
        for j in range(i, min(i + _MERGE_LIMIT, len(pieces))):
            tree = parse(code[start : pieces[j][1]])
            if tree is not None:
                block = Block(start, pieces[j][1], code.count("\n", 0, start), tree)
                # A ``return`` outside any function: a function's body, unindented.
                block.fragment = any(isinstance(n, ast.Return) for n in block.owned.get(None, ()))
                blocks.append(block)
                i = j + 1
                break
        else:
            broken.append(pieces[i])
            i += 1
    return blocks, broken


def _triggered(code: str, test_file: bool, tables: bool) -> list[int]:
    """Sorted offsets where some rule may fire."""
    triggers = [*_TRIGGER]
    if test_file or "def test" in code:
        triggers += _TEST_TRIGGER
    if tables:
        triggers += _TABLE_TRIGGER
    positions: list[int] = []
    for trigger in triggers:
        if trigger.needle not in code:
            continue
        for match in trigger.expression.finditer(code):
            if trigger.line is not None:
                start = code.rfind("\n", 0, match.start()) + 1
                end = code.find("\n", match.start())
                if not trigger.line.fullmatch(code, start, end if end >= 0 else len(code)):
                    continue
            positions.append(match.start())
    return sorted(positions)


def _holds(positions: list[int], start: int, end: int) -> bool:
    index = bisect.bisect_left(positions, start)
    return index < len(positions) and positions[index] < end


def _pieces(code: str, start: int, end: int, boundary: re.Pattern[str]) -> list[tuple[int, int]]:
    """``code[start:end]`` cut before each definition, keeping a definition's decorators with it
    (no cut just after a decorator line, or after the ``)`` closing a decorator's arguments), and
    short pieces joined with what follows: fewer, larger parses cost less than many small ones."""
    cuts = [start]
    for match in boundary.finditer(code, start, end):
        line = code.rfind("\n", 0, max(match.start() - 1, 0)) + 1
        before = code[line : match.start()].strip()
        if match.start() > start and not before.startswith(("@", ")")):
            cuts.append(match.start())
    cuts.append(end)
    pieces: list[tuple[int, int]] = []
    for first, last in itertools.pairwise(cuts):
        if pieces and code.count("\n", pieces[-1][0], pieces[-1][1]) < _BLOCK_LINES:
            pieces[-1] = (pieces[-1][0], last)
        else:
            pieces.append((first, last))
    return pieces


_CLASS_HEADER = re.compile(r"(?:@[^\n]*\n)*(class\s+\w+(?:\([^()\n]*\))?\s*:)[ \t]*(?:#[^\n]*)?\n")
_METHOD = re.compile(r"^    (?:@|def\s|async\s+def\s)", re.MULTILINE)


def _methods(code: str, start: int, end: int, positions: list[int]) -> list[Block] | None:
    """A long class read a method at a time: each triggered method parsed under a copy of the
    class's header line, so it still knows its class. None when the piece is not such a class
    or a method does not parse on its own."""
    header = _CLASS_HEADER.match(code, start)
    if header is None:
        return None
    blocks = []
    for first, last in _pieces(code, header.end(), end, _METHOD):
        if not _holds(positions, first, last):
            continue
        prefix = header[1] + "\n"
        if first == header.end():  # the class body before its first method
            first, prefix = header.start(1), ""
        tree = parse(prefix + code[first:last])
        if tree is None:
            return None
        shift = code.count("\n", 0, first) - (1 if prefix else 0)
        blocks.append(Block(first, last, shift, tree))
    return blocks
