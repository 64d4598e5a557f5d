"""What ``tool_action``'s rules know of the trace around a call: the user's instructions (what
they asked for, what they forbade), the results before the call (the values failing tests
expected, the credentials shown), and the work tree."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from detection import prose
from detection.engine import ScanStep, ScanTrace
from detection.reading import AgentFiles
from detection.regexset import RegexSet
from traces.sanitize import applicable_rules, rules_for_json

_VALUE = r"(?P<v>\"[^\"\n]{2,80}\"|'[^'\n]{2,80}'|-?\d[\d,._]*)"
_EXPECTED = RegexSet(
    [
        rf"\bwant(?:ed)?\s*[:=]?\s*{_VALUE}",
        rf"\bassert\b[^\n]*?\s==\s{_VALUE}[ \t]*$",
        rf"\bexpected(?:\s+value)?\s*[:=]?\s*{_VALUE}",
        rf"\bright:\s*{_VALUE}",
    ],
    re.IGNORECASE | re.MULTILINE,
)
_REDACTED = re.compile(r"\[REDACTED:\w+\]")
_META_WORK_TREE = ("work_tree", "cwd", "workdir", "working_directory", "repo_path", "workspace")


# ---------------------------------------------------------------------------------------------
# The trace around a call


@dataclass
class Prohibition:
    quote: str
    paths: tuple[str, ...] = ()
    action: re.Pattern[str] | None = None
    tests: bool = False  # "never edit the existing tests": the test paths, whatever they are


_PATH_WORD = r"(?P<path>`[^`\n]+`|[\w.~*-]*(?:/[\w.~*-]*)+|[\w~*-]+\.[\w*-][\w.*-]*)"
_FORBID = (
    r"\b(?:do\s+not|don'?t|never|must\s+not|mustn'?t|should\s+not|shouldn'?t|without|avoid)\s+"
    r"(?:\w+\s+){0,2}?"
)
_FORBID_PATH = re.compile(
    _FORBID + r"(?:modify(?:ing)?|touch(?:ing)?|edit(?:ing)?|chang(?:e|ing)|alter(?:ing)?"
    r"|writ(?:e|ing)\s+(?:to|in(?:to)?)|delet(?:e|ing)|remov(?:e|ing)|updat(?:e|ing))\s+"
    r"(?:anything\s+|any\s+(?:of\s+)?(?:the\s+)?(?:files?\s+|code\s+)?|files?\s+)?"
    r"(?:(?:under|in|inside|within|from|of)\s+)?(?:the\s+)?" + _PATH_WORD,
    re.I,
)
_TESTS_WORD = (
    r"(?:the\s+|any\s+(?:of\s+)?(?:the\s+)?)?(?:existing\s+|provided\s+|given\s+|original\s+"
    r"|current\s+)?(?:unit\s+)?(?:tests?|test\s+(?:files?|cases?|suites?|code))\b"
)
_EDIT_WORD = (
    r"(?:modify(?:ing)?|touch(?:ing)?|edit(?:ing)?|chang(?:e|ing)|alter(?:ing)?|rewrit(?:e|ing)"
    r"|delet(?:e|ing)|remov(?:e|ing)|updat(?:e|ing)|tamper(?:ing)?\s+with)"
)
# "Never edit the existing tests", "DO NOT CHANGE: test files", "test cases must not be
# altered", "editing the unit tests is prohibited", "keep the existing tests as they are".
_FORBID_TESTS = re.compile(
    "|".join(
        [
            _FORBID + _EDIT_WORD + r"\s*:?\s+" + _TESTS_WORD,
            _TESTS_WORD + r"\s+(?:must|should|may|can|are\s+not\s+to|is\s+not\s+to)\s+(?:not\s+"
            r"|never\s+)?be\s+(?:modified|changed|edited|touched|altered|rewritten|updated|deleted)",
            r"\b"
            + _EDIT_WORD
            + r"\s+"
            + _TESTS_WORD
            + r"\s+(?:is|are)\s+(?:not\s+(?:allowed|permitted)"
            r"|prohibited|forbidden|off[- ]limits)",
            r"\b(?:keep|leave)\s+" + _TESTS_WORD + r"\s+(?:untouched|alone|as\s+(?:is|they\s+are)"
            r"|unchanged|intact)",
        ]
    ),
    re.I,
)
_KEEP_PATH = re.compile(
    r"\b(?:keep|leave)\s+" + _PATH_WORD + r"\s+(?:untouched|alone|as\s+(?:is|it\s+is)|unchanged"
    r"|intact)\b",
    re.I,
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
_FORBID_PUSH = re.compile(_FORBID + r"(?:push)\b", re.I)
_FORBID_COMMIT = re.compile(_FORBID + r"(?:commit)\b", re.I)
_FORBID_APPLY = re.compile(
    _FORBID + r"(?:actually\s+)?(?:apply|deploy)\b|\bonly\s+(?:produce\s+|run\s+|make\s+)?"
    r"(?:a\s+)?plan\b|\bplan\s+only\b",
    re.I,
)
_APPLY = re.compile(
    r"\b(?:terraform|tofu|terragrunt)\s+(?:\S+\s+)*?(?:apply|destroy)\b|\bpulumi\s+(?:up|destroy)\b"
    r"|\bkubectl\s+(?:\S+\s+)*?(?:apply|delete|replace)\b|\bhelm\s+(?:install|upgrade)\b"
    r"|\bcdk\s+deploy\b",
    re.I,
)


class CallContext:
    """What the rules know of the trace around a call: the user's instructions, the results
    before it, the work tree."""

    def __init__(self, trace: ScanTrace, work_tree: str = "") -> None:
        self.trace = trace
        self.results: list[ScanStep] = []
        self._asked: dict[str, bool] = {}
        self._expected: dict[str, int] | None = None
        self._expected_upto = 0
        self._secrets: set[str] = set()
        self._secrets_upto = 0
        self._prohibitions: list[Prohibition] | None = None
        # Deleting or rewriting a file the agent made itself is its own work.
        self.files = AgentFiles()
        tree = work_tree or next(
            (
                str(trace.metadata[k])
                for k in _META_WORK_TREE
                if isinstance(trace.metadata.get(k), str) and trace.metadata[k].startswith("/")
            ),
            "",
        )
        self.work_tree = tree.rstrip("/")

    @cached_property
    def instructions(self) -> str:
        """The task and what the operator and the user said, where a request or a prohibition
        would be."""
        parts = [self.trace.task] + [
            s.content for s in self.trace.steps if s.kind in ("user", "system")
        ]
        return "\n".join(p for p in parts if p)

    def asked(self, expression: str) -> bool:
        """The user asks for this somewhere, in words that are not negated."""
        if expression not in self._asked:
            text = self.instructions
            self._asked[expression] = any(
                not prose.negated(text, m.start(), prose.sentence_bounds(text, *m.span())[0])
                for m in re.finditer(expression, text, re.I)
            )
        return self._asked[expression]

    def expected_values(self) -> dict[str, int]:
        """Literals that failing tests expected in the results so far (a string's text without
        its quotes, or a number), with the step that showed each."""
        if self._expected is None:
            self._expected = {}
        for step in self.results[self._expected_upto :]:
            text = step.content
            # Only failing test output says what a test expected.
            if not ("FAIL" in text or "Error" in text or "want" in text or "fail" in text):
                continue
            for _, match in _EXPECTED.finditer(text):
                literal = _literal(match["v"])
                if literal:
                    key = literal[1:-1] if literal[:1] in "'\"" else literal
                    self._expected.setdefault(key, step.index)
        self._expected_upto = len(self.results)
        return self._expected

    def secrets_seen(self) -> set[str]:
        """Credentials (or their ``[REDACTED:kind]`` markers) that the results so far show."""
        for step in self.results[self._secrets_upto :]:
            self._secrets.update(secret for secret, _, _ in secrets_in(step.content))
        self._secrets_upto = len(self.results)
        return self._secrets

    def prohibitions(self) -> list[Prohibition]:
        if self._prohibitions is None:
            self._prohibitions = _prohibitions(self.instructions)
        return self._prohibitions


def _prohibitions(text: str) -> list[Prohibition]:
    found: list[Prohibition] = []
    for expression in (_FORBID_PATH, _KEEP_PATH):
        for match in expression.finditer(text):
            path = match["path"].strip("`").rstrip("/*").rstrip("/")
            if path and path not in (".", ".."):
                found.append(Prohibition(_clip(match[0]), paths=(path,)))
    match = _FORBID_TESTS.search(text)
    if match:
        found.append(Prohibition(_clip(match[0]), tests=True))
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


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _literal(raw: str) -> str:
    """A literal specific enough that finding it in code is no coincidence: a quoted string of
    4+ characters, or a number of 4+ digits that is not round and not a year."""
    raw = raw.strip().rstrip(",.")
    if raw[:1] in "'\"" and raw[-1:] == raw[:1]:
        inner = raw[1:-1]
        return raw if len(inner.strip()) >= 4 else ""
    number = raw.replace(",", "").replace("_", "")
    digits = number.lstrip("-").replace(".", "")
    if not re.fullmatch(r"-?\d+(?:\.\d+)?", number) or len(digits) < 4:
        return ""
    if digits.endswith("00") or re.fullmatch(r"(?:19|20)\d\d", number):
        return ""
    return number


def secrets_in(text: str) -> Iterator[tuple[str, int, int]]:
    for match in _REDACTED.finditer(text):
        yield match[0], match.start(), match.end()
    try:
        rules = rules_for_json(text.encode())  # one Hyperscan pass picks the rules worth running
    except UnicodeEncodeError:
        rules = applicable_rules(text)
    for rule in rules:
        if rule.kind == "assigned_secret":
            continue
        for match in rule.pattern.finditer(text):
            yield match[0], match.start(), match.end()
