"""The detector engine's pure core: the in-memory trace detectors read, their hits, and the
registry of detector kinds.

A kind is a class with a ``Params`` msgspec struct (its parameters, validated when an admin saves
a detector) and ``scan(trace) -> list[Hit]``, a pure function of the trace: no database, no
Django, so each kind is tested on literal traces.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec

from traces.sanitize import MAX_JSON_DEPTH, UNSTORABLE, UNSTORABLE_TEXT, find_unstorable
from traces.schema import DocumentError, TraceDoc, document_error


@dataclass(frozen=True, slots=True)
class ScanStep:
    index: int
    kind: str
    content: str
    tool: str = ""
    call_id: str = ""
    arguments: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScanTrace:
    """What a detector sees of a trace: its task, metadata and steps in order."""

    steps: tuple[ScanStep, ...]
    task: str = ""
    agent: str = ""
    model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: TraceDoc) -> "ScanTrace":
        """A native trace as detectors see it, e.g. one pasted into the admin's "try it"."""
        return cls(
            steps=tuple(
                ScanStep(i, s.kind, s.content, s.tool, s.call_id, s.arguments, s.metadata)
                for i, s in enumerate(doc.steps)
            ),
            task=doc.task,
            agent=doc.agent,
            model=doc.model,
            metadata=doc.metadata,
        )


# Severities a hit may carry: traces.models.Severity's low (1) to critical (4), kept here as
# numbers because the engine is pure.
LOW, MEDIUM, HIGH, CRITICAL = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class Hit:
    """Evidence in one step: ``content[start:end]`` (the whole step when both are None).

    ``severity`` says how bad the act would be if it is what it looks like (a rule's own, so a
    queue ordered by severity puts a deleted test before a lint suppression); None leaves it to
    the detector's configured severity. ``score`` says how sure the kind is that it is, on one
    scale for every kind, so "severity, then score" orders a queue across detectors:

    - 0.9 and above: the evidence alone shows the act (a forced zero exit, a recursive delete of
      the home directory); a reviewer rarely disagrees.
    - 0.7 to 0.9: usually what it looks like (a claim of green after a red run, a deleted test);
      a reviewer confirms it with the context.
    - 0.5 to 0.7: as often innocent as not (a conditional skip, an environment dump); worth a
      look when the severity is high.
    - below 0.5: a weak signal that only context can settle (test configuration edited).
    """

    step_index: int
    start: int | None
    end: int | None
    score: float
    category: str
    rationale: str
    # The rule of the kind that matched, so quality can be measured per rule, not only per
    # detector; empty for a kind without named rules.
    rule: str = ""
    severity: int | None = None

    def check(self, trace: ScanTrace) -> None:
        """Offsets must point inside the step's content, so the console can highlight them."""
        if not 0 <= self.step_index < len(trace.steps):
            raise ValueError(f"hit on step {self.step_index}, trace has {len(trace.steps)}")
        if (self.start is None) != (self.end is None):
            raise ValueError("a hit has both offsets or neither")
        if self.start is not None:
            length = len(trace.steps[self.step_index].content)
            if not 0 <= self.start <= self.end <= length:
                raise ValueError(f"offsets {self.start}:{self.end} outside 0:{length}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score} outside 0..1")
        if self.severity is not None and not LOW <= self.severity <= CRITICAL:
            raise ValueError(f"severity {self.severity} outside {LOW}..{CRITICAL}")


class DetectorKind:
    """Base of detector kinds. Subclasses set ``name``, ``label``, ``Params`` and ``scan``."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str] = ""
    Params: ClassVar[type[msgspec.Struct]]

    def __init__(self, params: msgspec.Struct, *, category: str, step_kinds: Iterable[str]):
        self.params = params
        self.category = category
        self.step_kinds = frozenset(step_kinds)

    @classmethod
    def validate(cls, params: msgspec.Struct) -> None:
        """Checks beyond the types (a regular expression compiles...); raise DocumentError."""

    def steps(self, trace: ScanTrace) -> Iterable[ScanStep]:
        """The steps this detector is configured to read (all when no kinds are chosen)."""
        if not self.step_kinds:
            return trace.steps
        return (s for s in trace.steps if s.kind in self.step_kinds)

    def scan(self, trace: ScanTrace) -> list[Hit]:
        raise NotImplementedError


KINDS: dict[str, type[DetectorKind]] = {}


def register(kind: type[DetectorKind]) -> type[DetectorKind]:
    KINDS[kind.name] = kind
    return kind


def parse_params(kind: str, params: dict[str, Any]) -> msgspec.Struct:
    """Validate a detector's parameters; raises DocumentError naming the offending field."""
    if kind not in KINDS:
        raise DocumentError("kind", f"must be one of {', '.join(sorted(KINDS))} (got {kind!r})")
    cls = KINDS[kind]
    # PostgreSQL stores neither a NUL nor a lone surrogate, and no expression or path means one.
    found = find_unstorable(params)
    if found is not None:
        path, deep = found
        problem = f"nested more than {MAX_JSON_DEPTH} levels deep" if deep else UNSTORABLE_TEXT
        raise DocumentError(UNSTORABLE.sub("\ufffd", path) or "params", problem)
    try:
        parsed = msgspec.convert(params, type=cls.Params)
    except msgspec.ValidationError as exc:
        raise document_error(exc) from None
    cls.validate(parsed)
    return parsed


def build(
    kind: str, params: dict[str, Any], *, category: str, step_kinds: Iterable[str] = ()
) -> DetectorKind:
    """A ready-to-scan detector of ``kind`` with validated parameters."""
    return KINDS[kind](parse_params(kind, params), category=category, step_kinds=step_kinds)


def scan(detector: DetectorKind, trace: ScanTrace) -> list[Hit]:
    """Run one detector, checking that every hit points inside the trace."""
    hits = detector.scan(trace)
    for hit in hits:
        hit.check(trace)
    return hits
