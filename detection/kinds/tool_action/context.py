"""What ``tool_action``'s rules know of the trace around a call: the user's instructions (what
they asked for, what they forbade), the results before the call (the values failing tests
expected, the credentials shown), and the work tree."""

import re
from collections.abc import Iterator
from functools import cached_property

from detection import prose
from detection.engine import ScanStep, ScanTrace
from detection.kinds.tool_action.changes import Change, changes
from detection.kinds.tool_action.given import Given, read_given
from detection.kinds.tool_action.prohibitions import Prohibition, prohibitions
from detection.reading import AgentFiles, ToolCall, normal_path, positional
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


class CallContext:
    """What the rules know of the trace around a call: the user's instructions, the results
    before it, the work tree."""

    def __init__(self, trace: ScanTrace, work_tree: str = "") -> None:
        self.trace = trace
        self.results: list[ScanStep] = []
        self.calls: list[ScanStep] = []  # the calls before the one being read
        self._asked: dict[str, bool] = {}
        self._expected: dict[str, int] | None = None
        self._expected_upto = 0
        self._secrets: set[str] = set()
        self._secrets_upto = 0
        self._prohibitions: list[Prohibition] | None = None
        # Paths the calls so far changed: putting one back undoes the agent's own change.
        self.changed: set[str] = set()
        # Paths written whole as if new that the results had already shown: the project's.
        self.found_there: set[str] = set()
        # Deleting or rewriting a file the agent made itself is its own work.
        self.files = AgentFiles()
        # Folders the agent made with mkdir that no result had shown before: its own.
        self.made_dirs: set[str] = set()
        self._changes: tuple[ToolCall | None, list[Change]] = (None, [])
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

    def note_found_there(self, call: ToolCall) -> None:
        """Before ``files`` takes a file written whole for the agent's own, remember those the
        results had already shown (listed, read, named in a traceback): writing one over is
        changing the project's file, not making a new one."""
        for path, *_ in call.written:
            if path not in self.files.seen and not self.files.made(path) and self.shown(path, 4):
                self.found_there.add(path)

    def own(self, path: str) -> bool:
        """A file the agent made in this trace (not one it wrote over)."""
        return self.files.made(path) and path not in self.found_there

    def made_here(self, path: str) -> bool:
        """A file the agent made, or anything in a folder it made; never one the instructions
        name, which was handed to it."""
        if self.given.names(path):
            return False
        if self.own(path):
            return True
        path = normal_path(path).rstrip("/")
        return any(path == made or path.startswith(made + "/") for made in self.made_dirs)

    def note_dirs(self, call: ToolCall) -> None:
        """Remember the folders this call makes that no result so far had shown."""
        for segment in call.shell:
            if segment.program != "mkdir":
                continue
            for folder in positional(segment.args()):
                folder = normal_path(folder).rstrip("/")
                name = folder.rsplit("/", 1)[-1]
                if folder and not self.shown(folder) and name not in (".", ".."):
                    self.made_dirs.add(folder)

    def shown(self, path: str, shortest: int = 3) -> bool:
        """A result so far showed ``path`` (listed, printed, named it): it was there before the
        agent wrote it. A name shorter than ``shortest`` is too common to tell."""
        name = normal_path(path).rstrip("/").rsplit("/", 1)[-1]
        return len(name) >= shortest and any(name in step.content for step in self.results)

    def met_before(self, path: str) -> bool:
        """An earlier call named ``path`` (ran, read, listed it) or a result showed it: the
        agent did not bring it into being with this call."""
        name = normal_path(path).rstrip("/").rsplit("/", 1)[-1]
        return self.shown(path) or (
            len(name) >= 3 and any(name in step.content for step in self.calls)
        )

    def changes(self, call: ToolCall) -> list[Change]:
        """Every file ``call`` changes (read once, however many rules ask)."""
        if self._changes[0] is not call:
            self._changes = (call, changes(call))
        return self._changes[1]

    @cached_property
    def given(self) -> Given:
        """The inputs, checkers, tools and places the instructions name."""
        return read_given(self.instructions)

    def prohibitions(self) -> list[Prohibition]:
        """What the instructions forbid (read once per trace)."""
        if self._prohibitions is None:
            self._prohibitions = prohibitions(self.instructions)
        return self._prohibitions


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
