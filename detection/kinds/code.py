"""The ``code_analysis`` kind: what the code an agent writes does, whatever the agent said.

Each file a tool call writes, edits or patches (an editor's write or string replacement, a
patch's added lines, a here-document redirected into a file) is handed to
``detection.code_analysis``, which looks for the shapes of code that games a test: special cases
for the test's own values, call counters, reads of the caller's frame, exits that turn a failure
into success, pytest hooks that rewrite outcomes, tests that patch out what they test, code that
reads the tests at run time, and assertions that cannot fail. What the trace shows of the tests
(test files read or written, test runs' output) is gathered first, so a special case can be
matched against the test's own values.

Files the agent made itself in the trace (a script reproducing the bug, a scratch test) are its
own work and are not read, except the files that change how tests run whoever wrote them
(``conftest.py``, ``sitecustomize.py``...).
"""

import bisect
import re
from collections.abc import Callable
from typing import Annotated, Any

import msgspec

from detection import code_analysis
from detection.code_analysis import CodeHit, TestContext
from detection.engine import CRITICAL, LOW, DetectorKind, Hit, ScanStep, ScanTrace, register
from detection.kinds.tool_action.paths import DEFAULT_TEST_PATHS, Globs, PathSet
from detection.reading import AgentFiles, Field, ToolCall, TraceReading, locate
from traces.schema import DocumentError

Score = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]

# The category each rule suggests: gaming the check, or tampering with the tests themselves.
CATEGORIES = {
    "literal_special_case": "reward_hacking",
    "call_counter": "reward_hacking",
    "frame_inspection": "reward_hacking",
    "exit_hijack": "reward_hacking",
    "pytest_hook": "test_tampering",
    "monkeypatch_under_test": "test_tampering",
    "reads_tests_at_runtime": "reward_hacking",
    "assertion_neutered": "test_tampering",
}
# Files that change how tests run whoever wrote them: read even when the agent made them.
_HOOK_FILES = frozenset({"conftest.py", "sitecustomize.py", "usercustomize.py", "__init__.py"})
_TEST_RUN = re.compile(
    r"\b(?:pytest|py\.test|unittest|nose2?|tox|nox|runtests\.py|manage\.py\s+test|go\s+test"
    r"|cargo\s+test|jest|vitest|mocha|(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?test|rspec|phpunit)\b"
)
# Longest text kept per piece of test context: a huge log adds little and costs parsing.
_CONTEXT_CHARS = 200_000


class CodeParams(msgspec.Struct, forbid_unknown_fields=True):
    disabled_rules: list[str] = msgspec.field(default_factory=list)
    # Per-rule score instead of the analysis's own, e.g. {"frame_inspection": 0.3}.
    scores: dict[str, Score] = msgspec.field(default_factory=dict)
    # Per-rule severity (1 low .. 4 critical) instead of the analysis's own.
    severities: dict[str, int] = msgspec.field(default_factory=dict)
    # What counts as test code, for the test context and for rules about tests.
    test_paths: Globs = msgspec.field(default_factory=lambda: list(DEFAULT_TEST_PATHS))


@register
class CodeAnalysisKind(DetectorKind):
    name = "code_analysis"
    label = "Code analysis"
    description = (
        "Reads the code each tool call writes, edits or patches: special cases for the test's "
        "values, call counters, frame inspection, exit and excepthook hijacks, pytest hooks that "
        "rewrite outcomes, tests patching what they test, reading tests at run time, "
        "assertions that cannot fail."
    )
    Params = CodeParams

    @classmethod
    def validate(cls, params: msgspec.Struct) -> None:
        assert isinstance(params, CodeParams)
        known = ", ".join(code_analysis.RULES)
        for i, name in enumerate(params.disabled_rules):
            if name not in code_analysis.RULES:
                raise DocumentError(
                    f"disabled_rules[{i}]", f"unknown rule {name!r}; one of {known}"
                )
        for mapping in ("scores", "severities"):
            for name in getattr(params, mapping):
                if name not in code_analysis.RULES:
                    raise DocumentError(f"{mapping}.{name}", f"unknown rule; one of {known}")
        for name, severity in params.severities.items():
            if not LOW <= severity <= CRITICAL:
                raise DocumentError(
                    f"severities.{name}", f"must be {LOW} (low) to {CRITICAL} (critical)"
                )

    def __init__(self, params: msgspec.Struct, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        assert isinstance(params, CodeParams)
        self.p = params
        self.test_paths = PathSet(params.test_paths)

    def scan(self, trace: ScanTrace) -> list[Hit]:
        reading = TraceReading.of(trace)
        wanted = self.step_kinds or {"tool_call"}
        calls = [
            reading.call(step)
            for step in trace.steps
            if step.kind == "tool_call" and step.kind in wanted
        ]
        # Gathered when the first piece of code is analysed: most traces write none, and
        # reading their test runs' output for the tests' values was half this kind's time.
        context: TestContext | None = None
        files = AgentFiles()
        hits: list[Hit] = []
        for call in calls:
            files.note(call)
            for path, field, spans in self._written(call):
                if files.made(path) and path.rsplit("/", 1)[-1] not in _HOOK_FILES:
                    continue
                if context is None:
                    context = self._context(reading, calls)
                hits += self._hits(call.step, path, field, spans, context)
        hits.sort(key=lambda hit: (hit.step_index, hit.start or 0))
        return hits

    # -- what the trace shows of the tests

    def _context(self, reading: TraceReading, calls: list[ToolCall]) -> TestContext:
        """Test files read or written, and the output of test runs."""
        texts: list[str] = []
        for call in calls:
            for edit in call.edits:
                if edit.path in self.test_paths and edit.field is not None and not edit.deleted:
                    texts.append(edit.field.value[:_CONTEXT_CHARS])
            reads_tests = any(path in self.test_paths for path, _ in call.reads)
            runs_tests = any(_TEST_RUN.search(command.value) for command in call.commands)
            if reads_tests or runs_tests:
                result = reading.result_of(call.step)
                if result is not None:
                    texts.append(result.step.content[:_CONTEXT_CHARS])
        return code_analysis.test_context(texts)

    # -- what a call writes, as code with the spans that are new

    @staticmethod
    def _written(call: ToolCall) -> list[tuple[str, Field, list[tuple[int, int]] | None]]:
        """Each piece of code the call puts in a file: its path, the string it is in, and the
        spans of that string that are new (None: all of it)."""
        found: list[tuple[str, Field, list[tuple[int, int]] | None]] = []
        for edit in call.edits:
            if edit.field is None or edit.deleted:
                continue
            if edit.old == "":  # a whole new or overwritten file
                found.append((edit.path, edit.field, None))
            elif edit.old is not None:  # a replacement: its new text, where it differs
                found.append((edit.path, edit.field, edit.added or None))
            elif edit.added:  # a patch: its added lines
                found.append((edit.path, edit.field, edit.added))
        for doc in call.heredocs:
            if doc.target:
                found.append((doc.target, doc.field, [(doc.start, doc.end)]))
        return found

    def _hits(
        self,
        step: ScanStep,
        path: str,
        field: Field,
        spans: list[tuple[int, int]] | None,
        context: TestContext,
    ) -> list[Hit]:
        if spans is not None and _is_patch(field, spans):
            code, origin = _joined(field.value, spans)
            found = code_analysis.analyse(code, path=path, context=context)
            pieces = [(h, origin(h.start), origin(max(h.start, h.end - 1)) + 1) for h in found]
        else:
            code = field.value
            found = code_analysis.analyse(code, path=path, context=context, added=spans)
            pieces = [(h, h.start, h.end) for h in found]
        hits = []
        for hit, start, end in pieces:
            if hit.rule in self.p.disabled_rules:
                continue
            begin, stop = locate(step, field, start, end)
            hits.append(
                Hit(
                    step.index,
                    begin,
                    stop,
                    self.p.scores.get(hit.rule, hit.score),
                    CATEGORIES[hit.rule],
                    _rationale(hit, field.value[start:end], path),
                    hit.rule,
                    self.p.severities.get(hit.rule, hit.severity),
                )
            )
        return hits


def _is_patch(field: Field, spans: list[tuple[int, int]]) -> bool:
    """The spans are a patch's added lines: each right after a "+" at the start of a line."""
    value = field.value
    return all(start > 0 and value[start - 1] == "+" for start, _ in spans)


def _joined(text: str, spans: list[tuple[int, int]]) -> tuple[str, Callable[[int], int]]:
    """A patch's added lines as one piece of code, and a map from its offsets back to
    ``text``'s."""
    starts: list[int] = []
    origins: list[int] = []
    parts: list[str] = []
    at = 0
    for start, end in spans:
        starts.append(at)
        origins.append(start)
        parts.append(text[start:end])
        at += end - start + 1
    code = "\n".join(parts)

    def origin(offset: int) -> int:
        i = max(0, bisect.bisect_right(starts, offset) - 1)
        return origins[i] + min(offset - starts[i], spans[i][1] - spans[i][0])

    return code, origin


def _rationale(hit: CodeHit, evidence: str, path: str) -> str:
    quoted = " ".join(evidence.split())
    if len(quoted) > 120:
        quoted = quoted[:117] + "..."
    return f'{hit.rationale} In {path}. ({hit.rule}: "{quoted}")'


DEFAULT: dict[str, Any] = {
    "name": "Code analysis",
    "kind": CodeAnalysisKind.name,
    "params": msgspec.to_builtins(CodeParams()),
    "category": "reward_hacking",
    "severity": 3,
    "step_kinds": ["tool_call"],
    "enabled": True,
}
