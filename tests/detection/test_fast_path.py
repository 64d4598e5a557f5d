"""The rule pack finds the same hits on its fast path (Hyperscan's literal prefilter, calls read
lazily) as with the pure-Python prefilter and as on the plain path (every expression on every
step), over a varied corpus: the demo traces, and benign ones with the misaligned ones' steps
spliced in."""

import dataclasses
import itertools
import re

import pytest

from detection import regexset
from detection.engine import Hit, ScanTrace, scan
from detection.kinds import claim_vs_result, pattern, tool_action
from tests.detection.steps import demo_traces, demo_truth, detector

KINDS = (pattern, tool_action, claim_vs_result)


def spliced(benign: ScanTrace, misaligned: ScanTrace, every: int) -> ScanTrace:
    """``benign`` with a step of ``misaligned`` after every ``every`` of its own, final message
    last, as one trace."""
    own = list(benign.steps)
    final = own.pop() if own and own[-1].kind == "assistant" else None
    foreign = iter(s for s in misaligned.steps if s.kind not in ("user", "system"))
    steps = []
    for position, step in enumerate(own, 1):
        steps.append(step)
        if position % every == 0:
            steps.extend(itertools.islice(foreign, 1))
    steps.extend(foreign)
    if final is not None:
        steps.append(final)
    return ScanTrace(
        steps=tuple(dataclasses.replace(s, index=i) for i, s in enumerate(steps)),
        task=benign.task,
        metadata=misaligned.metadata,
    )


@pytest.fixture(scope="module")
def corpus() -> list[ScanTrace]:
    truth = demo_truth()
    demo = demo_traces()
    benign = [t for tid, t in demo if not truth[tid]["misaligned"]]
    misaligned = [t for tid, t in demo if truth[tid]["misaligned"]]
    mixed = [
        spliced(b, m, every)
        for (b, m), every in zip(
            itertools.product(benign[:6], misaligned), itertools.cycle((1, 2, 3, 5)), strict=False
        )
    ]
    return [t for _, t in demo] + mixed


def pack_hits(traces: list[ScanTrace]) -> list[list[Hit]]:
    detectors = [detector(kind) for kind in KINDS]
    return [[hit for d in detectors for hit in scan(d, t)] for t in traces]


def every_expression(self: regexset.RegexSet, text: str) -> list[tuple[int, None]]:
    return [(index, None) for index in range(len(self.compiled))] if text else []


def test_fast_and_plain_paths_find_the_same_hits(corpus, monkeypatch):
    if regexset.hyperscan is None:
        pytest.skip("hyperscan is not installed")
    fast = pack_hits(corpus)
    monkeypatch.setattr(regexset, "hyperscan", None)
    python = pack_hits(corpus)
    monkeypatch.setattr(regexset.RegexSet, "_plan", every_expression)
    plain = pack_hits(corpus)
    assert sum(map(len, plain)) > len(corpus)  # the corpus gives the rules plenty to find
    assert fast == plain
    assert python == plain


@pytest.mark.parametrize(
    ("expression", "flags", "text"),
    [
        (r"x{,2}y", 0, "xxy and x{,2}y"),  # Python's {,2} is {0,2}; PCRE reads a literal
        ("(?i:caf\u00e9)", 0, "CAF\u00c9 or caf\u00e9"),
        (r"(?<=\bci )(?:would|will)\s+stay\s+green", re.I, "the CI would stay green"),
        (r"(?<![\w.])\d+(?![\d])", 0, "v1.2 and 42"),
        (r"\(\s*(\d+)\s*/\s*\1\s*\)", 0, "(12/12) but (3/4)"),
        (r"^\s*done\b|passed\Z", 0, "done\nall passed\n"),
        (r"a.b", re.S, "a\nb"),
        (r"(?s:a.b)|c.d", 0, "a\nb c\nd"),
        (r"(?>ab|a)c", 0, "abc ac"),
        (r"x++y", 0, "xxy"),
        (r"[^\W\d]+\b", 0, "\u00e9t\u00e9 abc1 _x"),
        # Hyperscan's own regex matching misses this one: only its literal matcher is used.
        (r"Q.+Q\s+pass", 0, "Q" + "a" * 32 + "Q" + "b" * 21 + "Q pass"),
    ],
)
def test_unusual_expressions_match_exactly_what_re_finds(expression, flags, text, engine):
    want = [m.span() for m in re.compile(expression, flags | re.ASCII).finditer(text)]
    assert want
    assert [m.span() for _, m in regexset.RegexSet([expression], flags).finditer(text)] == want
