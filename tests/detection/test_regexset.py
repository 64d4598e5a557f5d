"""The multi-expression matcher: whatever prefilter runs (Hyperscan, the pure-Python one, none),
the matches are exactly ``re``'s."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection import regexset
from detection.kinds import claim_vs_result, pattern, tool_action
from detection.regexset import RegexSet, literals_of, required_literals
from tests.detection.steps import DEMO

PATTERN_EXPRESSIONS = [e for rule in pattern.PatternParams().rules for e in rule.regexes]
COMMAND_EXPRESSIONS = [e for rule in tool_action.RULES for e in rule.command]
ADDED_EXPRESSIONS = [e for rule in tool_action.RULES for e in rule.added]
SETS = {
    "pattern": (PATTERN_EXPRESSIONS, re.IGNORECASE),
    "commands": (COMMAND_EXPRESSIONS, re.IGNORECASE),
    "added lines": (ADDED_EXPRESSIONS, re.IGNORECASE | re.MULTILINE),
    "claims": (claim_vs_result.DEFAULT_CLAIMS, re.IGNORECASE | re.MULTILINE),
    "failures": (claim_vs_result.DEFAULT_FAILURES, re.MULTILINE),
}


def naive(expressions: list[str], flags: int, text: str) -> list[tuple[int, tuple[int, int]]]:
    compiled = [re.compile(e, flags | re.ASCII) for e in expressions]
    return [(i, m.span()) for i, c in enumerate(compiled) for m in c.finditer(text)]


def matched(expressions: list[str], flags: int, text: str, engine: str, monkeypatch) -> list:
    if engine == "python":
        monkeypatch.setattr(regexset, "hyperscan", None)
    elif regexset.hyperscan is None:
        pytest.skip("hyperscan is not installed")
    found = [(i, m.span()) for i, m in RegexSet(expressions, flags).finditer(text)]
    monkeypatch.undo()
    return found


def demo_texts() -> list[str]:
    import json

    texts = []
    for line in (DEMO / "traces.jsonl").read_text().splitlines():
        for step in json.loads(line)["steps"]:
            texts.append(step.get("content", ""))
            if step.get("arguments") is not None:
                texts.append(json.dumps(step["arguments"], indent=2, ensure_ascii=False))
    return texts


@pytest.mark.parametrize("engine", ["hyperscan", "python"])
@pytest.mark.parametrize("name", SETS)
def test_both_prefilters_find_exactly_what_re_finds_in_the_demo_traces(name, engine, monkeypatch):
    expressions, flags = SETS[name]
    for text in demo_texts():
        assert matched(expressions, flags, text, engine, monkeypatch) == sorted(
            naive(expressions, flags, text)
        ), text[:200]


WORDS = [
    "skip",
    "the",
    "failing",
    "tests",
    "hard-code",
    "expected",
    "outputs",
    "they",
    "won't",
    "notice",
    "exit",
    "code",
    "to",
    "0",
    "||",
    "true",
    "don't",
    "mention",
    "it",
    "user",
    "will",
    "would",
    "stay",
    "green",
    "git",
    "push",
    "--force",
    "origin",
    "main",
    "rm",
    "-rf",
    "~/",
    "cat",
    ".env",
    "Ém",
    "naïve",
    "\u2019",
    "résumé",
    "ß",
    "\u212a",
    "\n",
    "",
    "grader",
    "only",
    "checks",
    "all",
    "pass",
    "FAILED",
    "1 failed",
    "reviewers",
    "lookup",
    "for",
    "reference",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(WORDS) | st.text(max_size=3), max_size=25), st.sampled_from(list(SETS))
)
def test_random_texts_match_the_same_on_every_path(words, name):
    expressions, flags = SETS[name]
    text = " ".join(w.upper() if i % 5 == 3 else w for i, w in enumerate(words))
    want = sorted(naive(expressions, flags, text))
    original = regexset.hyperscan
    try:
        for accelerated in (True, False):
            regexset.hyperscan = original if accelerated else None
            got = [(i, m.span()) for i, m in RegexSet(expressions, flags).finditer(text)]
            assert got == want
    finally:
        regexset.hyperscan = original


@pytest.mark.parametrize("engine", ["hyperscan", "python"])
def test_offsets_are_characters_in_non_ascii_text(engine, monkeypatch):
    text = "Ærøskøbing → résumé: they won't notice. ß"
    found = matched(PATTERN_EXPRESSIONS, re.IGNORECASE, text, engine, monkeypatch)
    assert [text[s:e] for _, (s, e) in found] == ["they won't notice"]


@pytest.mark.parametrize("engine", ["hyperscan", "python"])
def test_a_lone_surrogate_falls_back_to_running_every_expression(engine, monkeypatch):
    text = "skip the tests \udc00 now"
    found = matched([r"skip\s+the\s+tests"], re.IGNORECASE, text, engine, monkeypatch)
    assert found == [(0, (0, 14))]


@pytest.mark.parametrize("engine", ["hyperscan", "python"])
def test_expressions_without_literals_always_run(engine, monkeypatch):
    expressions = [r"\d{3}-\d{4}", r"x{,2}y", "(?i:caf\u00e9)"]
    text = "call 555-1234 or xxy, CAF\u00c9 or caf\u00e9"
    assert matched(expressions, 0, text, engine, monkeypatch) == sorted(naive(expressions, 0, text))


@pytest.mark.parametrize(
    ("expression", "required", "leading"),
    [
        (
            r"\bhard[- ]?code\s+the\s+tests",
            {frozenset({"hard-code", "hard code", "hardcode"})},
            None,
        ),
        (r"\b(?:nothing|none\s+of)\s+\w+", {frozenset({"nothing", "none"})}, {"nothing", "none"}),
        (r"\bgit\s+push\b", {frozenset({"push"})}, {"git"}),
        (
            r"(?<=\bci )(?:would|will)\s+stay\s+green",
            {frozenset({"green"}), frozenset({"stay"})},
            {"would", "will"},
        ),
        (r"\w+@\w+", set(), None),
    ],
)
def test_required_literals(expression, required, leading):
    found = literals_of(expression, re.IGNORECASE)
    assert set(found.required) >= required if required else found.required == ()
    if leading is not None:
        assert found.leading == frozenset(leading)
    assert required_literals(expression, re.IGNORECASE) == found.required


def test_every_default_reasoning_rule_is_tried_only_where_its_first_words_occur():
    """A rule without such an anchor runs over every reasoning step it may match: the pack's
    throughput depends on there being none."""
    unanchored = [
        e
        for e in PATTERN_EXPRESSIONS
        if literals_of(e, re.IGNORECASE | re.ASCII).leading is None
        or not all(
            regexset._anchor(lit) for lit in literals_of(e, re.IGNORECASE | re.ASCII).leading
        )
    ]
    assert unanchored == []
