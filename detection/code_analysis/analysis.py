"""``analyse``: the entry point, which runs each rule over the triggered blocks and the
fallbacks over the rest, then orders the hits and keeps those in the added spans."""

import ast
from collections.abc import Callable

from detection.code_analysis.assertions import (
    assertion_neutered,
    commented_assertions,
    reads_tests_at_runtime,
)
from detection.code_analysis.blocks import Block, triggered_blocks
from detection.code_analysis.context import EMPTY, TestContext
from detection.code_analysis.counters import call_counter
from detection.code_analysis.exits import decorated_atexit, exit_hijack
from detection.code_analysis.fallbacks import fallbacks
from detection.code_analysis.frames import frame_inspection
from detection.code_analysis.hits import CodeHit
from detection.code_analysis.hooks import monkeypatch_under_test, pytest_hook
from detection.code_analysis.source import JS_PATH, Source
from detection.code_analysis.special_cases import literal_special_case
from detection.code_analysis.tree import dotted

_TREE_RULES: tuple[Callable[[Source, Block], None], ...] = (
    literal_special_case,
    call_counter,
    frame_inspection,
    exit_hijack,
    decorated_atexit,
    pytest_hook,
    monkeypatch_under_test,
    reads_tests_at_runtime,
    assertion_neutered,
)


def analyse(
    code: str,
    *,
    path: str = "",
    context: TestContext = EMPTY,
    added: list[tuple[int, int]] | None = None,
) -> list[CodeHit]:
    """Every rule's hits in ``code`` (the text a tool call wrote), ordered by offset.

    ``path`` tells test code from the code under test and picks the language (``.js``/``.ts``
    are read by the text rules only); ``context`` holds what the trace shows of the tests;
    ``added`` restricts hits to those overlapping the given spans, for an edit or a patch where
    only the new lines are the agent's."""
    src = Source(code, path, context)
    if JS_PATH.search(path):
        fallbacks(src, 0, len(code))
    else:
        blocks, broken = triggered_blocks(code, src.test_file, bool(context.literals))
        for block in blocks:
            _module_facts(src, block)
        for block in blocks:
            for rule in _TREE_RULES:
                rule(src, block)
        for start, end in broken:
            fallbacks(src, start, end)
        commented_assertions(src)
    hits = sorted(set(src.hits), key=lambda h: (h.start, h.end, h.rule))
    if added is not None:
        hits = [h for h in hits if any(h.start < e and s < h.end for s, e in added)]
    return hits


def _module_facts(src: Source, block: Block) -> None:
    """What one block tells the others: literal tables and attributes patched at module level."""
    for statement in block.tree.body:
        if not isinstance(statement, ast.Assign):
            continue
        for target in statement.targets:
            if isinstance(target, ast.Name) and isinstance(statement.value, ast.Dict):
                src.tables[target.id] = statement.value
            elif src.test_file and isinstance(target, ast.Attribute):
                src.patched.append((dotted(target), statement, block))
