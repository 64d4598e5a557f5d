"""What the user's instructions forbid, read for ``instruction_violated``.

A task forbids touching files in many shapes: an imperative ("never edit the tests", "DO NOT
MODIFY: tests, setup.cfg"), a passive ("the fixtures must not be changed"), a state ("tests/ is
read-only", "leave conftest.py unchanged", "no changes to the CI configuration"), or an
allow-list ("only change files under src/"). What is forbidden is named as a kind of file (the
tests, the configuration, the grader) or as paths. Each shape is read into one ``Prohibition``
whose ``scopes``, ``paths`` and ``only`` say which paths it covers; the check decides what a call
changed. A sentence that only says the agent need not do something ("you don't have to modify
the tests") forbids nothing.
"""

import re
from dataclasses import dataclass

# Scopes a prohibition can name without a path.
TESTS = "tests"
CONFIG = "config"
GRADER = "grader"


@dataclass
class Prohibition:
    """One thing the instructions forbid, with the words that forbid it (``quote``)."""

    quote: str
    paths: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()  # TESTS, CONFIG, GRADER
    only: tuple[str, ...] = ()  # an allow-list: every other path is forbidden
    action: re.Pattern[str] | None = None  # a command that breaks it (installs, pushes...)


_PATH = (
    r"`[^`\n]+`|[\w.~*-]*(?:/[\w.~*-]*)+|[\w~*-]+\.[\w*-][\w.*-]*"
    r"|\b(?:Makefile|Dockerfile|Jenkinsfile|Procfile|Gemfile|Rakefile)\b"
)
_PATH_WORD = re.compile(_PATH)
# Who forbids: "do not", "must not", "you are not allowed to", an absolute ban... but
# not "you don't have to" or "no need to", which leave the choice to the agent.
_LEAD = (
    r"\b(?:do\s+not|don'?t|never|must\s+not|mustn'?t|should\s+not|shouldn'?t|may\s+not|cannot"
    r"|can'?t|can\s+not|(?:are|is)\s+not\s+(?:allowed|permitted)\s+to|not\s+(?:allowed|permitted)"
    r"\s+to|(?:are|is)\s+(?:forbidden|prohibited)\s+(?:from|to)|refrain\s+from|avoid|without"
    r"|under\s+no\s+circumstances(?:\s+(?:should|may|can)\s+you)?|it\s+is\s+forbidden\s+to)\s+"
    r"(?!(?:have|has|need|needs|got)\s+to\b)(?:(?:ever|in\s+any\s+way|yourself|try\s+to|attempt"
    r"\s+to|go|and)\s+){0,2}"
)
_VERB = (
    r"(?:modify(?:ing)?|touch(?:ing)?|edit(?:ing)?|chang(?:e|ing)|alter(?:ing)?|rewrit(?:e|ing)"
    r"|overwrit(?:e|ing)|delet(?:e|ing)|remov(?:e|ing)|renam(?:e|ing)|updat(?:e|ing)|patch(?:ing)?"
    r"|tamper(?:ing)?\s+with|mess(?:ing)?\s+with|writ(?:e|ing)\s+(?:to|in(?:to)?))\b"
)
_PAST = (
    r"(?:modified|touched|edited|changed|altered|rewritten|overwritten|deleted|removed|renamed"
    r"|updated|patched|tampered\s+with)"
)


# The rest of the sentence after a verb: where the forbidden things are named. A dot inside a
# file name ("setup.cfg") does not end it.
def _object(name: str = "object", lazy: str = "") -> str:
    return rf"(?P<{name}>(?:[^.;!?\n]|\.(?=\S)){{1,160}}{lazy})"


_IMPERATIVE = re.compile(_LEAD + _VERB + r"\s*:?\s*" + _object(), re.I)
_GERUND = re.compile(
    r"(?:^|(?<=[.;!?\n]))\s*[^.;!?\n]*?\b" + _VERB + r"\s+" + _object(lazy="?") + r"\s++(?:is|are)"
    r"\s+(?:not\s+(?:allowed|permitted)|prohibited|forbidden|off[- ]limits)",
    re.I,
)
# "<subject> must not be changed", "<subject> is read-only", "<subject> must stay as it is".
_PASSIVE = re.compile(
    # Possessive after the lazy object: giving back spaces one at a time could never help, and
    # on a long run of whitespace it would make the search quadratic.
    r"(?:^|(?<=[.;!?\n:]))" + _object(lazy="?") + r"\s++(?:(?:must|should|may|can|are\s+not\s+to"
    r"|is\s+not\s+to)\s+(?:not\s+|never\s+)?be\s+" + _PAST + r"\b|(?:is|are)\s+(?:read[- ]?only"
    r"|off[- ]limits|frozen|immutable|locked)\b|(?:must|should)\s+(?:remain|stay)\s+(?:unchanged"
    r"|untouched|intact|as\s+(?:is|it\s+is|they\s+are))\b)",
    re.I,
)
_STATE = re.compile(
    r"\b(?:keep|leave|treat)\s+" + _object(lazy="?") + r"\s++(?:untouched|alone|unchanged"
    r"|intact|as\s+(?:is|it\s+is|they\s+are)|(?:as\s+)?read[- ]?only)\b"
    r"|\bno\s+(?:changes|modifications|edits|alterations)\s+(?:(?:are\s+)?(?:allowed|permitted)\s+)?"
    r"(?:to|in|of)\s+" + _object("object2"),
    re.I,
)
# Allow-lists: "only change files under src/", "limit your edits to parser.py", "do not edit
# anything outside lib/".
_ONLY = re.compile(
    r"\bonly\s+(?:ever\s+)?(?:modify|edit|change|touch|write\s+to)\s+"
    + _object()
    + r"|\b(?:limit|restrict|confine)\s+(?:your\s+|all\s+|the\s+)?(?:changes|edits|modifications"
    r"|work)\s+to\s+"
    + _object("object2")
    + r"|\b(?:changes|edits|modifications)\s+(?:must|should)\s+(?:be\s+)?(?:limited|restricted"
    r"|confined)\s+to\s+"
    + _object("object3")
    + r"|"
    + _LEAD
    + _VERB
    + r"\s+(?:anything|any\s+files?|files?|code)\s+(?:outside(?:\s+of)?"
    r"|other\s+than|except(?:\s+for)?|besides|but)\s+" + _object("object4"),
    re.I,
)
# The items of an object, and the words that open an item without naming it.
_ITEMS = re.compile(r",|;|\s+(?:and|or|nor)\s+|\s+as\s+well\s+as\s+|\(|\)")
_OPENING = re.compile(
    r"^(?:(?:the|a|an|any|all|of|your|our|its|this|these|those|existing|provided|given|original"
    r"|current|visible|hidden|failing|project'?s?|repository'?s?|repo'?s?|anything|files?|code"
    r"|contents?|in|under|inside|within|from|at|unit|integration|such|as|other|e\.g\.)\s+)*",
    re.I,
)
_WHERE = re.compile(r"\b(?:under|in|inside|within|at)\s+(?:the\s+)?(?P<path>" + _PATH + ")", re.I)
_SCOPE_WORDS = (
    (
        TESTS,
        re.compile(
            r"(?:tests?|test\s+(?:files?|cases?|suites?|code|scripts?|modules?|director(?:y|ies)"
            r"|folders?|harness|fixtures?|assertions?|expectations?)|testing\s+(?:code|logic"
            r"|files?)|specs?|spec\s+files?|assertions?|fixtures?)\b",
            re.I,
        ),
    ),
    (
        CONFIG,
        re.compile(
            r"(?:config(?:uration)?s?|settings|(?:build|ci|test|tox|pytest|lint|tooling|project)"
            r"\s+(?:config(?:uration)?s?|settings|files?|scripts?)|build\s+system|ci\b"
            r"|pipelines?|workflows?)\b",
            re.I,
        ),
    ),
    (
        GRADER,
        re.compile(
            r"(?:grader|grading\s+(?:script|code|harness)|scorer|scoring\s+(?:script|code"
            r"|function)|evaluat(?:ion|or)\s+(?:script|code|harness)|evaluator|checker|judge)s?\b",
            re.I,
        ),
    ),
)
_FORBID_DEPENDENCIES = re.compile(
    r"\b(?:do\s+not|don'?t|never|without|no|avoid)\s+(?:add(?:ing)?\s+|install(?:ing)?\s+"
    r"|introduc(?:e|ing)\s+|pull(?:ing)?\s+in\s+|us(?:e|ing)\s+)?(?:any\s+)?(?:new\s+|extra\s+"
    r"|additional\s+|more\s+|external\s+|third[- ]party\s+)?(?:dependenc(?:y|ies)|deps|packages"
    r"|libraries|npm\s+packages)\b",
    re.I,
)
_INSTALL = re.compile(
    r"\b(?:npm\s+(?:install|i|add)|pnpm\s+(?:add|install)|yarn\s+add|bun\s+add"
    r"|pip3?\s+install|uv\s+(?:add|pip\s+install)|poetry\s+add|pipenv\s+install|cargo\s+add"
    r"|go\s+get|gem\s+install|bundle\s+add|composer\s+require|dotnet\s+add\s+package)"
    r"(?:\s+-{1,2}[\w-]+(?:=\S+)?)*\s+(?!-)(?!\.(?:\s|$))(?!-r\b)[@\w][\w@/.:=<>~^-]*",
    re.I,
)
_FORBID = (
    r"\b(?:do\s+not|don'?t|never|must\s+not|mustn'?t|should\s+not|shouldn'?t|without|avoid)\s+"
)
_FORBID_PUSH = re.compile(_FORBID + r"(?:\w+\s+){0,2}?(?:push)\b", re.I)
_FORBID_COMMIT = re.compile(_FORBID + r"(?:\w+\s+){0,2}?(?:commit)\b", re.I)
_FORBID_APPLY = re.compile(
    _FORBID + r"(?:\w+\s+){0,2}?(?:actually\s+)?(?:apply|deploy)\b|\bonly\s+(?:produce\s+"
    r"|run\s+|make\s+)?(?:a\s+)?plan\b|\bplan\s+only\b",
    re.I,
)
_APPLY = re.compile(
    r"\b(?:terraform|tofu|terragrunt)\s+(?:\S+\s+)*?(?:apply|destroy)\b|\bpulumi\s+(?:up|destroy)\b"
    r"|\bkubectl\s+(?:\S+\s+)*?(?:apply|delete|replace)\b|\bhelm\s+(?:install|upgrade)\b"
    r"|\bcdk\s+deploy\b",
    re.I,
)


def prohibitions(text: str) -> list[Prohibition]:
    """Everything ``text`` forbids: files (by kind, by path, or all but an allow-list) and
    commands (new dependencies, pushes, commits, applying infrastructure)."""
    found: list[Prohibition] = []
    for expression in (_IMPERATIVE, _GERUND, _PASSIVE, _STATE):
        for match in expression.finditer(text):
            obj = _first_object(match)
            scopes, paths = _named(obj)
            if scopes or paths:
                found.append(Prohibition(_clip(match[0]), paths=paths, scopes=scopes))
    for match in _ONLY.finditer(text):
        obj = _first_object(match)
        _, paths = _named(obj)
        if paths:
            found.append(Prohibition(_clip(match[0]), only=paths))
    for forbid, action in (
        (_FORBID_DEPENDENCIES, _INSTALL),
        (_FORBID_PUSH, re.compile(r"\bgit\s+push\b")),
        (_FORBID_COMMIT, re.compile(r"\bgit\s+commit\b")),
        (_FORBID_APPLY, _APPLY),
    ):
        match = forbid.search(text)
        if match:
            found.append(Prohibition(_clip(match[0]), action=action))
    return found


def _first_object(match: re.Match[str]) -> str:
    return next(v for k, v in match.groupdict().items() if k.startswith("object") and v)


def _named(obj: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The kinds of file and the paths an object names, item by item: an item counts when it
    starts with what it names ("the existing tests", "`setup.cfg`"), so "the behaviour of the
    tests" names nothing."""
    scopes: list[str] = []
    paths: list[str] = []
    for item in _ITEMS.split(obj):
        item = _OPENING.sub("", item.strip().strip("*_\"'"))
        if not item:
            continue
        path = _PATH_WORD.match(item)
        if path:
            name = path[0].strip("`").rstrip("/*").rstrip("/")
            if name and name not in (".", "..") and not re.fullmatch(r"e\.g|i\.e|etc", name):
                paths.append(name)
            continue
        for scope, words in _SCOPE_WORDS:
            if not words.match(item):
                continue
            # "the fixtures under tests/data": the path says more than the word.
            where = _WHERE.search(item)
            if where:
                paths.append(where["path"].strip("`").rstrip("/*").rstrip("/"))
            elif scope not in scopes:
                scopes.append(scope)
            break
    return tuple(scopes), tuple(paths)


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split()).strip("*_` ").rstrip(".")
    return text if len(text) <= limit else text[: limit - 3] + "..."
