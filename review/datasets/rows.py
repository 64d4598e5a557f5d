"""Labeled items as dataset rows, read in batches so memory stays flat whatever the label count.

An item is a segment, or a whole trace, that someone labeled. Its row carries the flagged text,
the steps before it, the detectors' current findings on it, every labeler's latest label
(pseudonymised) and the final label: the latest adjudicated decision, else the majority of the
labelers' latest verdicts, else the single label. Rows come out ordered by trace, then the
trace's own label, then segments, so the same data always gives the same rows in the same order.
"""

import hashlib
import hmac
import json
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import NamedTuple

import msgspec
from django.db import connection
from django.db.models import F

from detection.selectors import current_findings
from review.datasets.spec import SPLITS, Filters
from review.models import Decision, Label
from traces.models import Severity, Trace

SEVERITY_NAMES = {int(value): label for value, label in Severity.choices}
# Items per batch: each batch costs a handful of queries and holds its rows' text in memory.
BATCH_ITEMS = 2000


class ContextStep(msgspec.Struct):
    index: int
    kind: str
    tool: str | None
    content: str


class FindingFeature(msgspec.Struct):
    detector: str
    detector_version: int
    rule: str
    step_index: int
    score: float
    category: str


class LabelEntry(msgspec.Struct):
    labeler: str
    verdict: str
    category: str | None
    severity: str | None
    note: str
    labeled_at: datetime


class Row(msgspec.Struct):
    """One labeled item. Field order is the column order of every format."""

    id: str
    level: str
    split: str
    source: str
    trace_id: int
    external_id: str
    agent: str
    model: str
    task: str
    step_index: int | None
    step_kind: str | None
    segment_id: int | None
    origin: str | None
    start: int | None
    end: int | None
    text: str | None
    context: list[ContextStep]
    findings: list[FindingFeature]
    verdict: str | None
    label_source: str
    agreement: float
    labelers: int
    category: str | None
    severity: str | None
    decision_note: str | None
    labels: list[LabelEntry]
    labeled_at: datetime


COLUMNS: tuple[str, ...] = Row.__struct_fields__


class LatestLabel(NamedTuple):
    """A labeler's latest revision of an item."""

    author_id: int
    verdict: str
    category: str | None
    severity: int | None
    note: str
    created_at: datetime
    queue_id: int | None


@dataclass(frozen=True)
class FinalLabel:
    verdict: str | None
    category: str | None
    severity: int | None
    source: str  # decision, majority, single or tied
    agreement: float
    note: str | None = None


@dataclass
class Item:
    trace_id: int
    segment_id: int | None
    segment: tuple | None  # start, end, origin and step index of a segment
    labels: list[LatestLabel]
    final: FinalLabel | None = None


def split_of(source: str, external_id: str, split: dict[str, float]) -> str:
    """The split of a trace, from a hash of its identity: the same trace lands in the same split
    in every export with the same shares, and a trace never straddles two splits."""
    digest = hashlib.blake2b(f"{source}\x00{external_id}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") / 2**64
    bound = 0.0
    named = [name for name in SPLITS if split.get(name, 0) > 0]
    for name in named:
        bound += split[name]
        if point < bound:
            return name
    return named[-1]


class Pseudonyms:
    """Stable per dataset (keyed by its salt), not reversible without the salt, which stays in
    the database."""

    def __init__(self, salt: str) -> None:
        self._key = salt.encode()
        self._names: dict[int, str] = {}

    def __call__(self, user_id: int) -> str:
        name = self._names.get(user_id)
        if name is None:
            digest = hmac.new(self._key, str(user_id).encode(), hashlib.sha256).hexdigest()
            name = self._names[user_id] = f"labeler-{digest[:12]}"
        return name


def _top(counter: Counter) -> tuple[object, int, bool]:
    """The most common value, its count, and whether it is the only one with that count."""
    ranked = counter.most_common(2)
    value, count = ranked[0]
    return value, count, len(ranked) == 1 or ranked[1][1] < count


def final_label(labels: list[LatestLabel], decision: tuple | None) -> FinalLabel:
    """The decision when there is one, else the majority verdict (with the most common category
    and the median severity among those who gave it), else the single label; a tie has none."""
    if decision is not None:
        verdict, category, severity, note = decision
        agreeing = sum(label.verdict == verdict for label in labels)
        return FinalLabel(verdict, category, severity, "decision", agreeing / len(labels), note)
    if len(labels) == 1:
        only = labels[0]
        return FinalLabel(only.verdict, only.category, only.severity, "single", 1.0)
    verdict, count, unique = _top(Counter(label.verdict for label in labels))
    agreement = count / len(labels)
    if not unique:
        return FinalLabel(None, None, None, "tied", agreement)
    backing = [label for label in labels if label.verdict == verdict]
    category, _, unique_category = _top(Counter(label.category for label in backing))
    severities = sorted(label.severity for label in backing if label.severity is not None)
    return FinalLabel(
        verdict,
        category if unique_category else None,
        statistics.median_high(severities) if severities else None,
        "single" if len(labels) == 1 else "majority",
        agreement,
    )


def _latest_labels(filters: Filters) -> Iterator[tuple]:
    labels = Label.objects.all()
    if filters.source:
        labels = labels.filter(trace__source__slug=filters.source)
    if filters.model:
        labels = labels.filter(trace__model=filters.model)
    if filters.level != "both":
        labels = labels.filter(segment__isnull=filters.level == "trace")
    return (
        labels.order_by(
            "trace_id", F("segment_id").asc(nulls_first=True), "author_id", "-revision", "-pk"
        )
        .values_list(
            "trace_id",
            "segment_id",
            "segment__start",
            "segment__end",
            "segment__origin",
            "segment__step__index",
            "author_id",
            "verdict",
            "category__slug",
            "severity",
            "note",
            "created_at",
            "queue_id",
        )
        .iterator(chunk_size=5000)
    )


def labeled_items(filters: Filters) -> Iterator[list[Item]]:
    """Every labeled item with each author's latest label, in batches of ``BATCH_ITEMS``."""
    batch: list[Item] = []
    item: Item | None = None
    authors: set[int] = set()
    for trace_id, segment_id, start, end, origin, index, author_id, *rest in _latest_labels(
        filters
    ):
        if item is None or (item.trace_id, item.segment_id) != (trace_id, segment_id):
            if len(batch) >= BATCH_ITEMS:
                yield batch
                batch = []
            segment = (start, end, origin, index) if segment_id is not None else None
            item = Item(trace_id, segment_id, segment, [])
            batch.append(item)
            authors = set()
        if author_id not in authors:  # rows come newest revision first per author
            authors.add(author_id)
            item.labels.append(LatestLabel(author_id, *rest))
    if batch:
        yield batch


def latest_decisions(trace_ids: Iterable[int] | None) -> dict[tuple[int, int | None], tuple]:
    """Each item's latest adjudicated decision (verdict, category, severity, note), on the given
    traces or (None) on all."""
    latest: dict[tuple[int, int | None], tuple] = {}
    decisions = Decision.objects.all()
    if trace_ids is not None:
        decisions = decisions.filter(trace_id__in=list(trace_ids))
    rows = decisions.order_by("trace_id", "segment_id", "-created_at", "-pk").values_list(
        "trace_id", "segment_id", "verdict", "category__slug", "severity", "note"
    )
    for trace_id, segment_id, *decision in rows:
        latest.setdefault((trace_id, segment_id), tuple(decision))
    return latest


def item_final_label(*, trace_id: int, segment_id: int | None) -> tuple[FinalLabel, int] | None:
    """One item's final label as an export would give it, and how many people labeled it;
    None when nobody has."""
    latest: dict[int, LatestLabel] = {}
    rows = (
        Label.objects.filter(trace_id=trace_id, segment_id=segment_id)
        .order_by("author_id", "-revision", "-pk")
        .values_list(
            "author_id", "verdict", "category__slug", "severity", "note", "created_at", "queue_id"
        )
    )
    for author_id, *rest in rows:
        latest.setdefault(author_id, LatestLabel(author_id, *rest))
    if not latest:
        return None
    decision = latest_decisions([trace_id]).get((trace_id, segment_id))
    labels = list(latest.values())
    return final_label(labels, decision), len(labels)


def _keep(item: Item, filters: Filters) -> bool:
    final = item.final
    assert final is not None
    if filters.queue is not None and all(lb.queue_id != filters.queue for lb in item.labels):
        return False
    if filters.labeled_after is not None:
        since = datetime.combine(filters.labeled_after, time.min, tzinfo=UTC)
        if max(label.created_at for label in item.labels) < since:
            return False
    if filters.adjudicated_only and final.source != "decision":
        return False
    if filters.min_agreement is not None and final.agreement < filters.min_agreement:
        return False
    if filters.verdict is not None and final.verdict != filters.verdict:
        return False
    return filters.category is None or final.category == filters.category


def _kept(items: list[Item], filters: Filters) -> list[Item]:
    """The items whose final label passes the filters, each given its final label."""
    decisions = latest_decisions({item.trace_id for item in items})
    kept = []
    for item in items:
        item.final = final_label(item.labels, decisions.get((item.trace_id, item.segment_id)))
        if _keep(item, filters):
            kept.append(item)
    return kept


def matches_any(filters: Filters) -> bool:
    """Whether any labeled item passes the filters: the labels and decisions of the first
    batches only, without the steps and findings a row needs, so a request is checked cheaply
    before it is recorded."""
    return any(_kept(items, filters) for items in labeled_items(filters))


def _merged_ranges(wanted: dict[int, list[tuple[int, int]]]) -> list[tuple[int, int, int]]:
    merged = []
    for trace_id, ranges in wanted.items():
        ranges.sort()
        low, high = ranges[0]
        for start, end in ranges[1:]:
            if start <= high + 1:
                high = max(high, end)
            else:
                merged.append((trace_id, low, high))
                low, high = start, end
        merged.append((trace_id, low, high))
    return merged


_STEPS_SQL = {
    # One join against the ranges, sent as arrays: building a Q per range cost more than the query.
    "postgresql": (
        "SELECT s.trace_id, s.index, s.kind, s.tool, s.content FROM traces_step s "
        "JOIN unnest(%s::bigint[], %s::integer[], %s::integer[]) AS r(trace_id, low, high) "
        "ON s.trace_id = r.trace_id AND s.index BETWEEN r.low AND r.high"
    ),
    "sqlite": (
        'SELECT s.trace_id, s."index", s.kind, s.tool, s.content FROM json_each(%s) AS r '
        "JOIN traces_step s ON s.trace_id = json_extract(r.value, '$[0]') "
        "AND s.\"index\" BETWEEN json_extract(r.value, '$[1]') AND json_extract(r.value, '$[2]')"
    ),
}


def _steps(wanted: dict[int, list[tuple[int, int]]]) -> dict[tuple[int, int], tuple]:
    """The steps in the wanted index ranges of each trace, merged so each is read once."""
    ranges = _merged_ranges(wanted)
    if connection.vendor == "postgresql":
        params = [list(column) for column in zip(*ranges, strict=True)]
    else:
        params = [json.dumps(ranges)]
    with connection.cursor() as cursor:
        cursor.execute(_STEPS_SQL[connection.vendor], params)
        return {(row[0], row[1]): row[2:] for row in cursor.fetchall()}


def rows_of(
    items: list[Item],
    *,
    filters: Filters,
    split: dict[str, float],
    context_steps: int,
    pseudonym: Pseudonyms,
) -> list[Row]:
    """The rows of one batch of items that pass the filters, in the batch's order."""
    kept = _kept(items, filters)
    if not kept:
        return []
    trace_ids = {item.trace_id for item in kept}
    traces = {}
    for pk, source, external_id, *rest in Trace.objects.filter(pk__in=trace_ids).values_list(
        "pk", "source__slug", "external_id", "agent", "model", "task", "step_count"
    ):
        traces[pk] = (split_of(source, external_id, split), source, external_id, *rest)
    # The step of each segment and the steps before it; for a whole trace, its last steps.
    wanted: dict[int, list[tuple[int, int]]] = {}
    for item in kept:
        if item.segment is not None:
            index = item.segment[3]
            wanted.setdefault(item.trace_id, []).append((max(0, index - context_steps), index))
        elif context_steps and traces[item.trace_id][6]:
            last = traces[item.trace_id][6] - 1
            wanted.setdefault(item.trace_id, []).append((max(0, last - context_steps + 1), last))
    steps = _steps(wanted) if wanted else {}
    by_segment: dict[int, list[FindingFeature]] = {}
    by_trace: dict[int, list[FindingFeature]] = {}
    findings = (
        current_findings(trace_ids)
        .order_by("trace_id", "segment__step__index", "detector__name", "segment_id", "pk")
        .values_list(
            "trace_id",
            "segment_id",
            "detector__name",
            "detector_version",
            "rule",
            "segment__step__index",
            "score",
            "category",
        )
    )
    for trace_id, segment_id, *finding in findings:
        feature = FindingFeature(*finding)
        by_trace.setdefault(trace_id, []).append(feature)
        by_segment.setdefault(segment_id, []).append(feature)

    rows = []
    for item in kept:
        split_name, source, external_id, agent, model, task, step_count = traces[item.trace_id]
        final = item.final
        assert final is not None
        if item.segment is not None:
            start, end, origin, index = item.segment
            kind, _, content = steps[(item.trace_id, index)]
            text = content if start is None else content[start:end]
            first = max(0, index - context_steps)
            context_range = range(first, index)
            findings_of = by_segment.get(item.segment_id, [])
            level, row_id = "segment", f"segment-{item.segment_id}"
        else:
            start = end = origin = index = kind = text = None
            context_range = range(max(0, step_count - context_steps), step_count)
            findings_of = by_trace.get(item.trace_id, [])
            level, row_id = "trace", f"trace-{item.trace_id}"
        context = []
        for at in context_range:
            step_kind, tool, step_content = steps[(item.trace_id, at)]
            context.append(ContextStep(at, step_kind, tool or None, step_content))
        rows.append(
            Row(
                id=row_id,
                level=level,
                split=split_name,
                source=source,
                trace_id=item.trace_id,
                external_id=external_id,
                agent=agent,
                model=model,
                task=task,
                step_index=index,
                step_kind=kind,
                segment_id=item.segment_id,
                origin=origin,
                start=start,
                end=end,
                text=text,
                context=context,
                findings=findings_of,
                verdict=final.verdict,
                label_source=final.source,
                agreement=round(final.agreement, 4),
                labelers=len(item.labels),
                category=final.category,
                severity=SEVERITY_NAMES.get(final.severity) if final.severity else None,
                decision_note=final.note,
                labels=[
                    LabelEntry(
                        labeler=pseudonym(label.author_id),
                        verdict=label.verdict,
                        category=label.category,
                        severity=SEVERITY_NAMES.get(label.severity) if label.severity else None,
                        note=label.note,
                        labeled_at=label.created_at,
                    )
                    for label in (
                        sorted(item.labels, key=lambda lb: (lb.created_at, lb.author_id))
                        if len(item.labels) > 1
                        else item.labels
                    )
                ],
                labeled_at=max(label.created_at for label in item.labels),
            )
        )
    return rows


def dataset_rows(
    *, filters: Filters, split: dict[str, float], context_steps: int, pseudonym: Pseudonyms
) -> Iterator[list[Row]]:
    """Every row of an export, a batch at a time."""
    for items in labeled_items(filters):
        rows = rows_of(
            items, filters=filters, split=split, context_steps=context_steps, pseudonym=pseudonym
        )
        if rows:
            yield rows
