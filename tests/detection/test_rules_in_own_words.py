"""The rules and their unit tests are written in their own words, never in a demo trace's or a
corpus transcript's: a rule that only matches the sentence it was copied from, or a test that
only passes on that sentence, says nothing about the next transcript. Tests that run the demo
traces on purpose are left out; they test the demo, not the rules' wording."""

import ast
import gzip
import io
import json
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detection.regexset import RegexSet
from tests.detection.steps import DEMO

ROOT = DEMO.parents[1]
CORPUS = ROOT / "var" / "corpus"
SHORTEST = 20  # a literal shorter than this is a phrase any text may share, not a quotation
TESTING_THE_DEMO = frozenset({Path("tests/detection/test_demo_detection.py")})
# Quotations in comments: double quotes or backticks (single quotes there are mostly apostrophes).
QUOTED_IN_COMMENT = re.compile(r"\"([^\"]+)\"|`([^`]+)`")


# Modules of the detection app that hold no rule: the admin's forms speak Django's messages.
NOT_RULES = frozenset({Path("detection/forms.py"), Path("detection/admin.py")})


def sources() -> list[Path]:
    """The rule modules and their unit tests, as paths relative to the project."""
    files = [*ROOT.glob("detection/**/*.py"), *ROOT.glob("tests/detection/test_*.py")]
    return sorted(
        p.relative_to(ROOT)
        for p in files
        if p.relative_to(ROOT) not in TESTING_THE_DEMO | NOT_RULES
    )


def literals(source: str) -> Iterator[tuple[str, ...]]:
    """Every string a source spells, as its literal parts: each literal token, implicit
    concatenations joined, docstrings, what comments put in quotes, and f-strings as the parts
    between their placeholders (one part per gap, since a placeholder may hold anything)."""
    tree = ast.parse(source)
    in_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            in_fstrings.update(id(child) for child in ast.walk(node) if child is not node)
            yield tuple(
                value.value if isinstance(value, ast.Constant) else "" for value in node.values
            )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in in_fstrings
        ):
            yield (node.value,)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            try:
                value = ast.literal_eval(token.string)
            except ValueError:  # an f-string: the tree above gave its parts
                continue
            if isinstance(value, str):
                yield (value,)
        elif token.type == tokenize.COMMENT:
            for match in QUOTED_IN_COMMENT.finditer(token.string):
                yield (next(group for group in match.groups() if group is not None),)


def quotable(parts: tuple[str, ...]) -> bool:
    """Long enough to be a quotation; lone surrogates (test inputs for malformed text) left out,
    since ingest replaces them and no stored trace holds one."""
    text = "".join(parts)
    # Three words at least: two ("return result", "outcome = yield") are code any program
    # spells, not a quotation.
    words = re.findall(r"[A-Za-z]{2,}", text)
    return len(text) >= SHORTEST and " " in text and len(words) >= 3 and _encodable(text)


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def expression(parts: tuple[str, ...]) -> str:
    """What the demo would have to contain for ``parts`` to be quoted from it: the parts in
    order, anything between them."""
    return r"(?s:.*?)".join(re.escape(part.lower()) for part in parts)


def candidates() -> dict[str, tuple[str, list[str]]]:
    """Each long literal with a space: its expression, how it reads, and the files spelling it."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in sources():
        for parts in literals((ROOT / path).read_text()):
            if quotable(parts):
                shown = "{}".join(parts)
                found.setdefault(expression(parts), (shown, []))[1].append(str(path))
    return found


def strings(value: Any) -> Iterator[str]:
    """Every string value inside a decoded JSON document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def quoted(texts: Iterator[str], found: dict[str, tuple[str, list[str]]]) -> dict[str, list[str]]:
    """The literals of ``found`` that occur in one of ``texts`` (lowercase), with their files."""
    expressions = list(found)
    matcher = RegexSet(expressions, flags=0)
    hits: set[int] = set()
    for text in texts:
        hits.update(index for index, _ in matcher.finditer(text))
    return {found[expressions[i]][0]: found[expressions[i]][1] for i in sorted(hits)}


def report(hits: dict[str, list[str]]) -> str:
    return "\n".join(f"{sorted(set(files))}: {text[:100]!r}" for text, files in hits.items())


def test_the_guard_reads_every_kind_of_literal():
    source = (
        "x = 'one two three four five'\n"
        "y = ('six seven eight ' 'nine ten eleven')\n"
        "z = f'twelve {x} thirteen fourteen'\n"
        '# as in "fifteen sixteen seventeen"\n'
    )
    found = {parts for parts in literals(source) if quotable(parts)}
    assert found >= {
        ("one two three four five",),
        ("six seven eight nine ten eleven",),
        ("twelve ", "", " thirteen fourteen"),
        ("fifteen sixteen seventeen",),
    }


def test_the_guard_finds_a_quotation_from_a_document():
    found = {
        expression(parts): ("".join(parts), [name])
        for parts, name in [
            (("refund the whole order",), "a.py"),
            (("nothing like it at all",), "b.py"),
            (
                (
                    "we ",
                    "",
                    " order today",
                ),
                "c.py",
            ),
            (
                (
                    "we ",
                    "",
                    " order tomorrow",
                ),
                "d.py",
            ),
        ]
    }
    texts = strings({"steps": [{"content": "We refund the whole order today."}]})
    assert quoted((t.lower() for t in texts), found) == {
        "refund the whole order": ["a.py"],
        "we  order today": ["c.py"],
    }


def test_no_rule_or_rule_test_quotes_a_demo_trace():
    texts = (
        text.lower()
        for line in (DEMO / "traces.jsonl").read_text().splitlines()
        for text in strings(json.loads(line))
    )
    hits = quoted(texts, candidates())
    assert not hits, "written in a demo trace's words:\n" + report(hits)


def corpus_texts(files: list[Path]) -> Iterator[str]:
    """The strings of every labeled run in the corpus files (gzipped JSONL), lowercase."""
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            for line in stream:
                yield from (text.lower() for text in strings(json.loads(line)))


def test_the_guard_reads_a_gzipped_corpus(tmp_path):
    run = {"source": "s", "verdict": "benign", "trace": {"steps": [{"content": "Ship It Now"}]}}
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(run) + "\n").encode()))
    assert "ship it now" in list(corpus_texts([path]))


def test_no_rule_or_rule_test_quotes_a_corpus_transcript():
    files = sorted(CORPUS.glob("*.jsonl.gz"))
    if not files:
        pytest.skip(f"no corpus in {CORPUS} (bench/corpus/README.md says how to build it)")
    hits = quoted(corpus_texts(files), candidates())
    assert not hits, "written in a corpus transcript's words:\n" + report(hits)
