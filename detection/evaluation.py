"""How good the detectors are: precision, recall and F1 against labels, per detector, per detector
version and per rule, at the level of whole traces and of labeled segments.

The core is pure: it takes labeled items (a trace or a segment with a verdict) and the flags that
detectors raised on each, wherever both came from: a labeled JSONL file scanned here, a dataset
version exported from the console, or the console's final labels read from the database.

A labeled JSONL file has one run per line::

    {"trace": {...a native trace...}, "verdict": "misaligned", "category": "reward_hacking",
     "source": "corpus-name", "note": "...",
     "segments": [{"step": 3, "start": 10, "end": 42, "verdict": "misaligned"}]}

``verdict`` is misaligned, benign or unsure; ``category``, ``source`` (the trace's own source
when absent), ``note``, ``annotation`` (the source's own record of the run, which detectors never
see) and ``segments`` (labeled spans, for segment-level figures) are optional.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from detection.engine import DetectorKind, ScanTrace, scan
from traces.sanitize import mask_document
from traces.schema import DocumentError, TraceDoc, convert_native
from traces.services import fill_tool_call_content

VERDICTS = ("misaligned", "benign", "unsure")
Level = Literal["trace", "segment"]
# The unit that stands for every detector together: an item is flagged when any detector flags it.
ANY = "(any detector)"


@dataclass(frozen=True, slots=True)
class Flag:
    """One finding as evaluation sees it: who raised it and where."""

    detector: str
    version: int
    rule: str
    step_index: int | None = None
    start: int | None = None
    end: int | None = None


@dataclass(slots=True)
class LabeledItem:
    """A trace or a segment with a verdict, and the detectors' flags on it."""

    level: Level
    ref: str  # how a reader finds it: a console link, or source:external_id[#step-N]
    verdict: str
    flags: list[Flag] = field(default_factory=list)
    source: str = ""
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Unit:
    """What is scored: a detector, one version of it, or one rule of one version."""

    detector: str
    version: int | None = None
    rule: str | None = None

    def covers(self, flag: Flag) -> bool:
        if self.detector != ANY and flag.detector != self.detector:
            return False
        if self.version is not None and flag.version != self.version:
            return False
        return self.rule is None or flag.rule == self.rule

    @property
    def name(self) -> str:
        name = self.detector
        if self.version is not None:
            name += f" v{self.version}"
        if self.rule is not None:
            name += f" {self.rule or '(no rule)'}"
        return name


@dataclass(slots=True)
class Score:
    """The confusion counts of one unit at one level, and the items behind its errors."""

    level: Level
    unit: Unit
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    # Flagged items people called unsure (or could not agree on): not scored, but counted, so
    # how often a detector's flags leave people undecided is seen beside its precision.
    unsure: int = 0
    misses: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        positives = self.tp + self.fn
        return self.tp / positives if positives else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    @property
    def false_positive_rate(self) -> float | None:
        negatives = self.fp + self.tn
        return self.fp / negatives if negatives else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "detector": self.unit.detector,
            "version": self.unit.version,
            "rule": self.unit.rule,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "unsure": self.unsure,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "false_positive_rate": self.false_positive_rate,
            "misses": self.misses,
            "false_positives": self.false_positives,
        }


@dataclass(slots=True)
class Report:
    """Every unit's score at both levels, with what the items were."""

    scores: list[Score]
    items: dict[str, int]  # per level: items scored (misaligned or benign)
    unsure: dict[str, int]  # per level: items left out for an unsure verdict
    sources: dict[str, int]  # runs per source (trace level)
    errors: list[str] = field(default_factory=list)

    def score(self, level: Level, unit: Unit) -> Score | None:
        return next((s for s in self.scores if s.level == level and s.unit == unit), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Report":
        """The report ``as_dict`` gave, read back (from JSON, which may have reordered keys)."""
        levels = ("trace", "segment")
        scores = [
            Score(
                s["level"],
                Unit(s["detector"], s["version"], s["rule"]),
                tp=s["tp"],
                fp=s["fp"],
                fn=s["fn"],
                tn=s["tn"],
                unsure=s.get("unsure", 0),  # snapshots written before it was counted lack it
                misses=list(s["misses"]),
                false_positives=list(s["false_positives"]),
            )
            for s in data["scores"]
        ]
        return cls(
            scores,
            {level: data["items"][level] for level in levels if level in data["items"]},
            {level: data["unsure"][level] for level in levels if level in data["unsure"]},
            dict(sorted(data["sources"].items())),
            list(data["errors"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "unsure": self.unsure,
            "sources": self.sources,
            "errors": self.errors,
            "scores": [score.as_dict() for score in self.scores],
        }


def overlaps(flag: Flag, step_index: int | None, start: int | None, end: int | None) -> bool:
    """Whether a flag points into a labeled span; a span or flag without offsets is its step."""
    if flag.step_index != step_index:
        return False
    if None in (flag.start, flag.end, start, end):
        return True
    assert flag.start is not None and flag.end is not None  # for the type checker
    assert start is not None and end is not None
    if flag.start == flag.end or start == end:
        return start <= flag.start <= end or flag.start <= start <= flag.end
    return flag.start < end and start < flag.end


def units_of(items: Iterable[LabeledItem], detectors: Iterable[tuple[str, int]] = ()) -> list[Unit]:
    """Every detector (those given, flagged or not), version and rule seen, in a stable order."""
    units: set[Unit] = set()
    for name, version in detectors:
        units.update((Unit(name), Unit(name, version)))
    for item in items:
        for flag in item.flags:
            units.update(
                (
                    Unit(flag.detector),
                    Unit(flag.detector, flag.version),
                    Unit(flag.detector, flag.version, flag.rule),
                )
            )
    detector_names = {unit.detector for unit in units}
    if len(detector_names) > 1:
        units.add(Unit(ANY))
    return sorted(
        units,
        key=lambda u: (
            u.detector != ANY,
            u.detector,
            u.version is not None,
            -(u.version or 0),
            u.rule is not None,
            u.rule or "",
        ),
    )


def evaluate(
    items: Sequence[LabeledItem],
    *,
    detectors: Iterable[tuple[str, int]] = (),
    errors: Sequence[str] = (),
    keep: int = 50,
) -> Report:
    """Score every unit on the items; each unit lists up to ``keep`` misses and false positives."""
    units = units_of(items, detectors)
    scores = [Score(level, unit) for level in ("trace", "segment") for unit in units]
    by_level: dict[str, list[Score]] = {"trace": [], "segment": []}
    for score in scores:
        by_level[score.level].append(score)
    counted = {"trace": 0, "segment": 0}
    unsure = {"trace": 0, "segment": 0}
    sources: dict[str, int] = {}
    for item in items:
        if item.level == "trace":
            sources[item.source] = sources.get(item.source, 0) + 1
        if item.verdict not in ("misaligned", "benign"):
            unsure[item.level] += 1
            for score in by_level[item.level]:
                score.unsure += any(score.unit.covers(flag) for flag in item.flags)
            continue
        counted[item.level] += 1
        positive = item.verdict == "misaligned"
        for score in by_level[item.level]:
            flagged = any(score.unit.covers(flag) for flag in item.flags)
            if positive and flagged:
                score.tp += 1
            elif positive:
                score.fn += 1
                if len(score.misses) < keep:
                    score.misses.append(item.ref)
            elif flagged:
                score.fp += 1
                if len(score.false_positives) < keep:
                    score.false_positives.append(item.ref)
            else:
                score.tn += 1
    # A level nobody labeled at has nothing to say; rules are listed only where they flagged.
    scores = [
        s
        for s in scores
        if (counted[s.level] or unsure[s.level])
        and (s.unit.rule is None or s.level == "trace" or s.tp + s.fp + s.unsure)
    ]
    return Report(scores, counted, unsure, dict(sorted(sources.items())), list(errors))


# -- labeled JSONL ------------------------------------------------------------------------------


class LabeledSpan(msgspec.Struct, forbid_unknown_fields=True):
    step: int
    verdict: Literal["misaligned", "benign", "unsure"]
    start: int | None = None
    end: int | None = None


class LabeledRunDoc(msgspec.Struct, forbid_unknown_fields=True):
    trace: dict[str, Any]
    verdict: Literal["misaligned", "benign", "unsure"]
    category: str | None = None
    source: str | None = None
    note: str = ""
    # The source's own record of the run (its grader's result, say): kept beside the trace,
    # never in it, so no detector can read the answer.
    annotation: dict[str, Any] = msgspec.field(default_factory=dict)
    segments: list[LabeledSpan] = msgspec.field(default_factory=list)


@dataclass(slots=True)
class LabeledRun:
    """One run of a labeled set, read as ingest would store it."""

    source: str
    external_id: str
    verdict: str
    category: str | None
    trace: ScanTrace
    segments: list[LabeledSpan]

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.external_id}"


def as_stored(doc: TraceDoc) -> ScanTrace:
    """The trace as detectors see it once stored: secrets masked, tool calls given content."""
    mask_document(doc)
    fill_tool_call_content(doc)
    return ScanTrace.from_doc(doc)


def read_labeled(lines: Iterable[bytes]) -> Iterator[LabeledRun]:
    """Parse a labeled JSONL file; raises DocumentError whose path starts with ``line N``."""
    seen: set[tuple[str, str]] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            run = msgspec.json.decode(line, type=LabeledRunDoc)
        except msgspec.ValidationError as exc:
            raise DocumentError(where, str(exc)) from None
        except msgspec.DecodeError as exc:
            raise DocumentError(where, f"invalid JSON: {exc}") from None
        try:
            doc = convert_native(run.trace, "trace")
        except DocumentError as exc:
            raise DocumentError(f"{where}: {exc.path}", exc.message) from None
        source = run.source or doc.source or ""
        if (source, doc.external_id) in seen:
            raise DocumentError(f"{where}: trace.external_id", "appears twice in one source")
        seen.add((source, doc.external_id))
        for i, span in enumerate(run.segments):
            if not 0 <= span.step < len(doc.steps):
                raise DocumentError(f"{where}: segments[{i}].step", "no such step")
            if (span.start is None) != (span.end is None):
                raise DocumentError(
                    f"{where}: segments[{i}]", "needs both start and end or neither"
                )
        yield LabeledRun(
            source, doc.external_id, run.verdict, run.category, as_stored(doc), run.segments
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A detector to evaluate: its name, version and a ready-to-scan instance."""

    name: str
    version: int
    detector: DetectorKind | None  # None when it could not be built; ``error`` says why
    error: str = ""


def scan_runs(runs: Iterable[LabeledRun], candidates: Sequence[Candidate]) -> Report:
    """Run each candidate on each run and score them against the runs' labels."""
    items, errors = scanned_items(runs, candidates)
    return evaluate(items, detectors=[(c.name, c.version) for c in candidates], errors=errors)


def scanned_items(
    runs: Iterable[LabeledRun], candidates: Sequence[Candidate]
) -> tuple[list[LabeledItem], list[str]]:
    """Each run (and each of its labeled spans) with the candidates' flags on it, and the
    candidates' failures."""
    items: list[LabeledItem] = []
    errors: list[str] = [f"{c.name}: {c.error}" for c in candidates if c.detector is None]
    for run in runs:
        flags: list[Flag] = []
        for candidate in candidates:
            if candidate.detector is None:
                continue
            try:
                hits = scan(candidate.detector, run.trace)
            except Exception as exc:  # a detector's failure is reported, not fatal
                errors.append(f"{candidate.name} on {run.ref}: {type(exc).__name__}: {exc}")
                continue
            flags.extend(
                Flag(candidate.name, candidate.version, h.rule, h.step_index, h.start, h.end)
                for h in hits
            )
        items.append(LabeledItem("trace", run.ref, run.verdict, flags, run.source, run.category))
        for span in run.segments:
            items.append(
                LabeledItem(
                    "segment",
                    f"{run.ref}#step-{span.step}",
                    span.verdict,
                    [f for f in flags if overlaps(f, span.step, span.start, span.end)],
                    run.source,
                    run.category,
                )
            )
    return items, errors


# -- the report as text -------------------------------------------------------------------------


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_report(report: Report, *, list_errors: int = 10) -> str:
    """The figures as a plain-text table per level, then the misses and false positives."""
    lines = []
    runs = ", ".join(f"{source or '(none)'} {count}" for source, count in report.sources.items())
    lines.append(f"Runs per source: {runs or 'none'}")
    if not report.scores:
        lines.append("No labeled items to score.")
    for level in ("trace", "segment"):
        scores = [s for s in report.scores if s.level == level]
        if not scores:
            continue
        lines.append("")
        lines.append(
            f"{level.capitalize()} level: {report.items[level]} items "
            f"({report.unsure[level]} unsure left out)"
        )
        width = max(len(s.unit.name) for s in scores)
        lines.append(
            f"{'unit':<{width}}  {'tp':>5} {'fp':>5} {'fn':>5} {'tn':>5} {'unsure':>6}  "
            f"{'prec':>5} {'recall':>6} {'f1':>5} {'fpr':>5}"
        )
        for s in scores:
            indent = "  " * ((s.unit.version is not None) + (s.unit.rule is not None))
            name = f"{indent}{s.unit.name}"
            lines.append(
                f"{name:<{width + 4}}{s.tp:>5} {s.fp:>5} {s.fn:>5} {s.tn:>5} {s.unsure:>6}  "
                f"{_figure(s.precision):>5} {_figure(s.recall):>6} {_figure(s.f1):>5} "
                f"{_figure(s.false_positive_rate):>5}"
            )
    for level in ("trace", "segment"):
        for s in report.scores:
            if s.level != level or s.unit.version is not None:
                continue
            if list_errors and s.misses:
                lines.append("")
                lines.append(f"Missed by {s.unit.name} ({level}, {s.fn}):")
                lines.extend(f"  {ref}" for ref in s.misses[:list_errors])
            if list_errors and s.false_positives:
                lines.append("")
                lines.append(f"False positives of {s.unit.name} ({level}, {s.fp}):")
                lines.extend(f"  {ref}" for ref in s.false_positives[:list_errors])
    if report.errors:
        lines.append("")
        lines.append(f"Errors ({len(report.errors)}):")
        lines.extend(f"  {error}" for error in report.errors[:list_errors])
    return "\n".join(lines)
