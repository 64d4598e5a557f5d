"""The code being analysed (``Source``): its path's kind (test, script, JavaScript), line offsets
for turning tree positions into character offsets, and the facts one block tells the others."""

import ast
import re

from detection.code_analysis.blocks import Block
from detection.code_analysis.context import TestContext
from detection.code_analysis.hits import CodeHit

TEST_PATH = re.compile(
    r"(?:^|/)(?:tests?|__tests__|spec)/|(?:^|/)test_[^/]*$|_test\.\w+$|(?:^|/)conftest\.py$"
    r"|\.(?:test|spec)\.[jt]sx?$"
)
JS_PATH = re.compile(r"\.(?:[cm]?js|jsx|ts|tsx)$")
SCRIPT_PATH = re.compile(
    r"(?:^|/)(?:__main__|manage|setup|noxfile|cli|main)\.py$|(?:^|/)(?:bin|scripts)/"
)


class Source:
    """The code being analysed: line offsets, its blocks, and facts gathered across blocks."""

    def __init__(self, code: str, path: str, context: TestContext) -> None:
        self.code = code
        self.path = path
        self.context = context
        self.test_file = bool(TEST_PATH.search(path))
        self.script = bool(SCRIPT_PATH.search(path)) or "__main__" in code
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", code)]
        self.hits: list[CodeHit] = []
        # Across blocks: names bound at module level to literal dicts, and to patched attributes.
        self.tables: dict[str, ast.Dict] = {}
        self.patched: list[tuple[str, ast.AST, Block]] = []

    def offset(self, block: Block, line: int, col: int) -> int:
        """Characters into the code for an ``ast`` position (``col`` counts UTF-8 bytes)."""
        index = min(max(block.first + line - 1, 0), len(self.line_starts) - 1)
        start = self.line_starts[index]
        text = self.code[start : start + col]
        if not text.isascii():
            end = self.code.find("\n", start)
            line_text = self.code[start : end if end >= 0 else len(self.code)]
            col = len(line_text.encode()[:col].decode("utf-8", "ignore"))
        return min(start + col, len(self.code))

    def span(self, block: Block, first: ast.AST, last: ast.AST | None = None) -> tuple[int, int]:
        last = last or first
        start = self.offset(block, first.lineno, first.col_offset)
        end = self.offset(block, last.end_lineno or last.lineno, last.end_col_offset or 0)
        return start, max(end, start + 1)

    def hit(
        self,
        rule: str,
        block: Block,
        node: ast.AST,
        severity: int,
        score: float,
        why: str,
        last: ast.AST | None = None,
    ) -> None:
        start, end = self.span(block, node, last)
        self.hits.append(CodeHit(rule, start, min(end, len(self.code)), severity, score, why))

    def text_hit(
        self, rule: str, start: int, end: int, severity: int, score: float, why: str
    ) -> None:
        self.hits.append(CodeHit(rule, start, max(end, start + 1), severity, score, why))
