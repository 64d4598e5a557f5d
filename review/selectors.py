"""Reads for review: what a queue holds, in its order; the triage lists and their search; the
items awaiting adjudication."""

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import Any

import msgspec
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce, Greatest, Least, Left, Substr

from detection.models import Finding
from detection.selectors import current_findings
from review.models import Assignment, Decision, Label, Queue, Verdict
from review.search import SEARCH_CONFIG
from traces.models import Segment, Step, Trace
from traces.roles import REVIEWER, has_role
from traces.schema import DocumentError, document_error


class QueueFilters(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A queue's saved filter; every field is optional and they combine with AND."""

    source: str | None = None
    model: str | None = None
    detector: str | None = None
    category: str | None = None
    severity_min: int | None = None
    score_min: float | None = None
    score_max: float | None = None
    review_state: str | None = None
    ingested_after: datetime | None = None
    ingested_before: datetime | None = None
    # Items added by hand from the lists (segment or trace ids, as the queue's level): in the
    # queue besides what the fields above match, or alone with ``only_items``. They still pass
    # the filter on traces (source, model, review state, dates).
    items: list[int] | None = None
    only_items: bool = False


def parse_filters(filters: dict[str, Any]) -> QueueFilters:
    """Validate a queue's filters; raises DocumentError naming the field."""
    try:
        return msgspec.convert(filters, type=QueueFilters)
    except msgspec.ValidationError as exc:
        raise document_error(exc, "filters") from None


def matching_findings(filters: QueueFilters) -> QuerySet[Finding]:
    """Findings of current, enabled detector versions that pass the filter's finding fields."""
    findings = current_findings()
    if filters.detector:
        findings = findings.filter(detector__name=filters.detector)
    if filters.category:
        findings = findings.filter(category=filters.category)
    if filters.severity_min is not None:
        findings = findings.filter(severity__gte=filters.severity_min)
    if filters.score_min is not None:
        findings = findings.filter(score__gte=filters.score_min)
    if filters.score_max is not None:
        findings = findings.filter(score__lte=filters.score_max)
    return findings


def _trace_filter(filters: QueueFilters, prefix: str) -> dict[str, Any]:
    fields = {
        "source__slug": filters.source,
        "model": filters.model,
        "review_state": filters.review_state,
        "ingested_at__gte": filters.ingested_after,
        "ingested_at__lt": filters.ingested_before,
    }
    return {f"{prefix}{k}": v for k, v in fields.items() if v is not None}


# Each queue order, over the items' best finding (``top_severity``, ``top_score``) and their id.
QUEUE_ORDERS: dict[str, tuple[str, ...]] = {
    Queue.Order.SEVERITY_SCORE: ("-top_severity", "-top_score", "pk"),
    Queue.Order.SCORE: ("-top_score", "pk"),
    Queue.Order.NEWEST: ("-pk",),
    Queue.Order.OLDEST: ("pk",),
}


def queue_item_field(queue: Queue) -> str:
    """``segment`` or ``trace``: what one item of the queue is."""
    return "segment" if queue.level == Queue.Level.SEGMENT else "trace"


def queue_items(queue: Queue) -> QuerySet:
    """The queue's items (segments or traces), annotated with ``top_score`` and
    ``top_severity`` and in the queue's order."""
    filters = parse_filters(queue.filters)
    findings = matching_findings(filters)
    if queue.level == Queue.Level.SEGMENT:
        per_item = findings.filter(segment=OuterRef("pk")).values("segment")
        matched = Q(pk__in=findings.values("segment")) | Q(
            pk__in=marked_segments(filters).values("pk")
        )
        items = Segment.objects.filter(**_trace_filter(filters, "step__trace__")).filter(
            _with_added(matched, filters)
        )
    else:
        per_item = findings.filter(trace=OuterRef("pk")).values("trace")
        marked_traces = marked_segments(filters).values("step__trace_id")
        matched = Q(pk__in=findings.values("trace")) | Q(pk__in=marked_traces)
        items = Trace.objects.filter(**_trace_filter(filters, "")).filter(
            _with_added(matched, filters)
        )
    items = items.annotate(
        top_score=Subquery(per_item.annotate(m=Max("score")).values("m")[:1]),
        top_severity=Subquery(per_item.annotate(m=Max("severity")).values("m")[:1]),
    )
    return items.order_by(*QUEUE_ORDERS[queue.order])


def _with_added(matched: Q, filters: QueueFilters) -> Q:
    """The items a queue holds: those ``matched`` by its fields, and the ones added by hand."""
    if filters.only_items:
        return Q(pk__in=filters.items or [])
    return matched | Q(pk__in=filters.items) if filters.items else matched


def queue_traces(queue: Queue) -> QuerySet[Trace]:
    """The traces that pass the queue's filter on traces (all of them when it has none)."""
    return Trace.objects.filter(**_trace_filter(parse_filters(queue.filters), ""))


def queue_order_keys(queue: Queue) -> QuerySet:
    """One row per item of the queue's matching findings on the traces its filter lets through:
    the item's id as ``item``, with its ``top_severity`` and ``top_score``, by one grouped scan
    of those findings; then a row per span people flagged (``marked_segments``), which has
    neither and so comes after the detectors' flags; then the items added by hand. An item can
    have several rows: the claim takes its best."""
    filters = parse_filters(queue.filters)
    added = None
    if filters.items:
        # Items added by hand are ordered by their current findings, like the rest.
        model = Segment if queue.level == Queue.Level.SEGMENT else Trace
        current = Q(
            findings__detector__enabled=True,
            findings__detector_version=F("findings__detector__version"),
        )
        added = (
            model.objects.filter(pk__in=filters.items)
            .values(item=F("pk"))
            .annotate(
                top_severity=Coalesce(Max("findings__severity", filter=current), 0),
                top_score=Coalesce(Max("findings__score", filter=current), 0.0),
            )
            .order_by()
        )
        if filters.only_items:
            return added
    found = (
        matching_findings(filters)
        .filter(**_trace_filter(filters, "trace__"))
        .values(item=F(queue_item_field(queue)))
        .annotate(top_severity=Max("severity"), top_score=Max("score"))
        .order_by()
    )
    parts = []
    if not has_finding_filter(filters):
        parts.append(
            marked_segments(filters)
            .values(item=F("pk" if queue.level == Queue.Level.SEGMENT else "step__trace_id"))
            .annotate(
                top_severity=Value(0, output_field=IntegerField()),
                top_score=Value(0.0, output_field=FloatField()),
            )
            .order_by()
        )
    if added is not None:
        parts.append(added)
    return found.union(*parts, all=True) if parts else found


# --- Triage: queue progress, lists of traces and flags, full-text search ------------------------

_WORD = re.compile(r"\w+")
_SUFFIX = re.compile(r"(?:ing|ed|es|s)$")


def search_terms(search: str) -> list[str]:
    """The words of a search box, for the SQLite fallback and for highlighting snippets."""
    return [word for word in _WORD.findall(search.lower()) if word][:10]


def term_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """Words starting with a term or with its stem's likely root, so a snippet highlights what
    PostgreSQL's English stemmer matched ("tests" also marks "testing")."""
    roots = sorted({_SUFFIX.sub("", t) if len(t) > 4 else t for t in terms}, key=len, reverse=True)
    if not roots:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, roots)) + r")\w*", re.IGNORECASE)


def matching_steps(search: str) -> QuerySet[Step]:
    """Steps holding every word of a search: on PostgreSQL, full-text search (English stemming)
    over the steps' search documents through their GIN index; on SQLite every word as a
    substring, case-insensitively. Plain words rather than web-search syntax, in which
    ``rm -rf`` would mean "rm but not rf"."""
    if connection.vendor == "postgresql":
        query = SearchQuery(search, config=SEARCH_CONFIG, search_type="plain")
        return Step.objects.filter(search__document=query)
    condition = Q()
    for term in search_terms(search):
        condition &= Q(content__icontains=term)
    return Step.objects.filter(condition) if condition else Step.objects.none()


def has_finding_filter(filters: QueueFilters) -> bool:
    """Whether the filter says anything about findings, which narrows a trace list to the
    traces with a matching flag."""
    return any(
        value is not None
        for value in (
            filters.detector,
            filters.category,
            filters.severity_min,
            filters.score_min,
            filters.score_max,
        )
    )


def marked_segments(filters: QueueFilters) -> QuerySet[Segment]:
    """Spans people flagged themselves on the traces the filter lets through. They carry no
    finding, so a filter on finding fields (detector, category, severity, score) leaves them
    out."""
    if has_finding_filter(filters):
        return Segment.objects.none()
    return Segment.objects.filter(
        origin=Segment.Origin.HUMAN, **_trace_filter(filters, "step__trace__")
    )


def seen_by(user: AbstractBaseUser | None) -> Q:
    """The segments ``user`` may see in a list, as the trace page shows them: blind labeling
    hides a span someone else marked from a labeler until they have labeled it or the whole
    trace (``review.views.viewer.visible_flags``). Everything for reviewers, or without a user."""
    if user is None or has_role(user, REVIEWER):
        return Q()
    own_label = Label.objects.filter(author=user, trace=OuterRef("step__trace")).filter(
        Q(segment__isnull=True) | Q(segment=OuterRef("pk"))
    )
    return ~Q(origin=Segment.Origin.HUMAN) | Q(created_by=user) | Exists(own_label)


@dataclass(frozen=True)
class Outcome:
    """What people made of a list's items: a verdict, a labeler, the viewer's own labels, an
    open disagreement, a decision. None means either way. A trace's outcome is that of any of
    its items (the whole trace or a segment of it)."""

    verdict: str | None = None
    labeler: str | None = None
    mine: bool | None = None
    disagreement: bool | None = None
    adjudicated: bool | None = None


def _either(condition: Q | Exists, wanted: bool | None) -> Q:
    return Q() if wanted is None else Q(condition) if wanted else ~Q(condition)


def outcome_filter(outcome: Outcome, *, viewer: AbstractBaseUser, level: str) -> Q:
    """The rows (segments, or traces for ``level`` "trace") whose labels match ``outcome``.

    A labeler labels blind, so for them ``verdict`` reads their own latest labels only, and the
    other fields that tell what other people decided (``labeler``, ``disagreement``,
    ``adjudicated``) are the forms' to refuse: they are reviewers' filters."""
    item = {"trace": OuterRef("pk")} if level == "trace" else {"segment": OuterRef("pk")}
    condition = Q()
    if outcome.verdict is not None:
        latest = latest_labels().filter(verdict=outcome.verdict, **item)
        if not has_role(viewer, REVIEWER):
            latest = latest.filter(author=viewer)
        condition &= Q(Exists(latest))
    if outcome.labeler is not None:
        condition &= Q(Exists(Label.objects.filter(author__username=outcome.labeler, **item)))
    condition &= _either(Exists(Label.objects.filter(author=viewer, **item)), outcome.mine)
    condition &= _either(Exists(open_disagreements().filter(**item)), outcome.disagreement)
    condition &= _either(Exists(Decision.objects.filter(**item)), outcome.adjudicated)
    return condition


@dataclass(frozen=True)
class SortKey:
    """One sortable column: its URL key and the fields it orders by (descending first)."""

    key: str
    label: str
    fields: tuple[str, ...]


TRACE_SORTS = {
    s.key: s
    for s in (
        SortKey("ingested", "Ingested", ("ingested_at",)),
        SortKey("severity", "Severity", ("max_severity", "top_score", "ingested_at")),
        SortKey("score", "Top score", ("top_score", "ingested_at")),
        SortKey("flags", "Flags", ("flag_count", "ingested_at")),
        SortKey("steps", "Steps", ("step_count", "ingested_at")),
        SortKey("source", "Source", ("source__slug", "external_id")),
        SortKey("model", "Model", ("model", "ingested_at")),
    )
}
FLAG_SORTS = {
    s.key: s
    for s in (
        SortKey("severity", "Severity", ("top_severity", "top_score")),
        SortKey("score", "Score", ("top_score",)),
        SortKey("ingested", "Ingested", ("step__trace__ingested_at", "step__index")),
        SortKey("source", "Source", ("step__trace__source__slug", "step__trace__external_id")),
        SortKey("model", "Model", ("step__trace__model",)),
    )
}
DEFAULT_TRACE_SORT = "-ingested"
DEFAULT_FLAG_SORT = "-severity"


SORT_WAYS = (("-", "descending"), ("", "ascending"))


def sort_choices(sorts: dict[str, SortKey]) -> list[tuple[str, str]]:
    """Every accepted ``sort`` value: a key, ascending, or with a leading ``-``, descending.
    Only these reach ``order_by``, so a URL cannot sort by an arbitrary field."""
    return [(f"{p}{key}", f"{s.label} {d}") for key, s in sorts.items() for p, d in SORT_WAYS]


def _ordering(sorts: dict[str, SortKey], sort: str) -> list[OrderBy]:
    """A whitelisted sort value as ``order_by`` terms, empty values last either way, the primary
    key breaking ties so pages never overlap."""
    descending = sort.startswith("-")
    spec = sorts[sort.removeprefix("-")]
    fields = (*spec.fields, "pk")
    if descending:
        return [F(name).desc(nulls_last=True) for name in fields]
    return [F(name).asc(nulls_last=True) for name in fields]


def _per_item(findings: QuerySet[Finding], field: str, aggregate: Aggregate) -> Subquery:
    """An aggregate of the findings on the item at ``OuterRef("pk")`` (a trace or a segment)."""
    grouped = findings.filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Subquery(grouped.annotate(m=aggregate).values("m"))


def trace_list(
    *,
    filters: QueueFilters,
    search: str = "",
    sort: str = DEFAULT_TRACE_SORT,
    viewer: AbstractBaseUser | None = None,
    outcome: Outcome | None = None,
) -> QuerySet[Trace]:
    """Traces passing the filters, each with its number of current flags (the detectors' and
    the spans people flagged that ``viewer`` may see) and top score. Finding fields (detector,
    category, severity, score) keep the traces with a matching flag; without them, traces
    nothing flagged are listed too. ``outcome`` keeps the traces whose labels match it."""
    marks = marked_segments(filters).filter(seen_by(viewer))
    findings = matching_findings(filters).exclude(trace__in=blind_traces(viewer))
    traces = Trace.objects.filter(**_trace_filter(filters, ""))
    if has_finding_filter(filters):
        traces = traces.filter(pk__in=findings.values("trace"))
    if search:
        traces = traces.filter(pk__in=matching_steps(search).values("trace_id"))
    if outcome is not None and viewer is not None:
        traces = traces.filter(outcome_filter(outcome, viewer=viewer, level="trace"))
    return (
        traces.select_related("source")
        .defer("metadata", "task")
        .annotate(
            top_score=_per_item(findings, "trace", Max("score")),
            flag_count=Coalesce(_per_item(findings, "trace", Count("pk")), 0)
            + Coalesce(_per_item(marks, "step__trace", Count("pk")), 0),
        )
        .order_by(*_ordering(TRACE_SORTS, sort))
    )


# A search snippet is cut from this many first characters of the matching step.
SNIPPET_SOURCE_CHARS = 50_000


def first_hits(*, search: str, trace_ids: Collection[int]) -> dict[int, Step]:
    """The first step of each trace that matches ``search``, with the head of its content as
    ``head``: two queries for a page of traces (a per-row subquery would run the search over
    every step of a long trace up to its first hit)."""
    firsts = (
        matching_steps(search)
        .filter(trace_id__in=trace_ids)
        .order_by()
        .values_list("trace_id")
        .annotate(first=Min("index"))
    )
    wanted = Q()
    for trace_id, index in firsts:
        wanted |= Q(trace_id=trace_id, index=index)
    if not wanted:
        return {}
    steps = (
        Step.objects.filter(wanted)
        .only("trace_id", "index", "kind")
        .annotate(head=Left("content", SNIPPET_SOURCE_CHARS))
    )
    return {step.trace_id: step for step in steps}


EXCERPT_BEFORE = 80
EXCERPT_SPAN = 240
EXCERPT_AFTER = 80


def flag_list(
    *,
    filters: QueueFilters,
    search: str = "",
    sort: str = DEFAULT_FLAG_SORT,
    viewer: AbstractBaseUser | None = None,
    outcome: Outcome | None = None,
) -> QuerySet[Segment]:
    """Flagged segments passing the filters, and the spans people flagged that ``viewer`` may
    see, each with its top score and severity (none for a person's span) and an ``excerpt`` of
    its step cut in the database (``excerpt_from`` is where it starts), so a page of flags never
    loads whole steps. ``outcome`` keeps the segments whose labels match it."""
    findings = matching_findings(filters).exclude(trace__in=blind_traces(viewer))
    marks = marked_segments(filters).filter(seen_by(viewer))
    segments = Segment.objects.filter(**_trace_filter(filters, "step__trace__")).filter(
        Q(pk__in=findings.values("segment")) | Q(pk__in=marks.values("pk"))
    )
    if search:
        segments = segments.filter(step__in=matching_steps(search).values("pk"))
    if outcome is not None and viewer is not None:
        segments = segments.filter(outcome_filter(outcome, viewer=viewer, level="segment"))
    start = Coalesce("start", 0)
    excerpt_from = Greatest(start - EXCERPT_BEFORE, 0)
    span = Least(Coalesce("end", start + EXCERPT_SPAN) - start, EXCERPT_SPAN)
    return (
        segments.select_related("step__trace__source")
        .only(
            "start",
            "end",
            "origin",
            "step__index",
            "step__kind",
            "step__trace__external_id",
            "step__trace__model",
            "step__trace__review_state",
            "step__trace__ingested_at",
            "step__trace__source__slug",
        )
        .annotate(
            top_score=_per_item(findings, "segment", Max("score")),
            top_severity=_per_item(findings, "segment", Max("severity")),
            excerpt_from=excerpt_from,
            excerpt=Substr(
                "step__content",
                excerpt_from + 1,
                start - excerpt_from + span + EXCERPT_AFTER,
            ),
        )
        .order_by(*_ordering(FLAG_SORTS, sort))
    )


def findings_of(
    segment_ids: Collection[int], filters: QueueFilters, viewer: AbstractBaseUser | None = None
) -> dict[int, list[Finding]]:
    """The current findings on each of ``segment_ids`` that pass the filters and ``viewer`` may
    see, best first."""
    by_segment: dict[int, list[Finding]] = defaultdict(list)
    rows = (
        matching_findings(filters)
        .filter(segment_id__in=segment_ids)
        .exclude(trace__in=blind_traces(viewer))
        .select_related("detector")
        .only("segment_id", "score", "category", "severity", "rationale", "detector__name")
        .order_by("-score", "pk")
    )
    for finding in rows:
        by_segment[finding.segment_id].append(finding)
    return by_segment


@dataclass(frozen=True)
class QueueProgress:
    queue: Queue
    items: int = 0
    complete: int = 0
    mine: int = 0
    error: str = ""


def _count(rows: QuerySet, distinct: str = "") -> Subquery:
    """How many rows (or distinct values of ``distinct``) a queryset holds, as a scalar
    subquery: a plain aggregate with no GROUP BY, so it can sit in another query."""
    template = "COUNT(DISTINCT %(expressions)s)" if distinct else "COUNT(%(expressions)s)"
    counted = Func(F(distinct or "pk"), template=template, output_field=IntegerField())
    return Subquery(rows.order_by().annotate(n=counted).values("n"), output_field=IntegerField())


def _item_labels(queue: Queue) -> QuerySet[Label]:
    """Labels of the item at ``OuterRef("pk")``: a segment, or a trace as a whole."""
    if queue.level == Queue.Level.SEGMENT:
        return Label.objects.filter(segment=OuterRef("pk"))
    return Label.objects.filter(trace=OuterRef("pk"), segment__isnull=True)


# SQLite allows 500 terms in one compound SELECT.
_PROGRESS_CHUNK = 200


def queue_progress(*, queues: Sequence[Queue], user: AbstractBaseUser) -> list[QueueProgress]:
    """Each queue's number of items, items labeled by at least ``overlap`` people and items
    ``user`` has labeled. Labels count wherever they were given (in a queue or on the trace
    page). One query for all the queues: a UNION of one row of counts per queue."""
    rows = {}
    errors = {}
    parts = []
    for queue in queues:
        try:
            items = queue_items(queue).order_by()
        except DocumentError as exc:
            errors[queue.pk] = str(exc)
            continue
        labels = _item_labels(queue)
        labelers = _count(labels, distinct="author")
        parts.append(
            Queue.objects.filter(pk=queue.pk)
            .order_by()
            .values("pk")
            .annotate(
                items=_count(items),
                complete=_count(
                    items.annotate(labelers=labelers).filter(labelers__gte=queue.overlap)
                ),
                mine=_count(items.filter(Exists(labels.filter(author=user)))),
            )
        )
    for start in range(0, len(parts), _PROGRESS_CHUNK):
        first, *rest = parts[start : start + _PROGRESS_CHUNK]
        for row in first.union(*rest, all=True):
            rows[row["pk"]] = row
    progress = []
    for queue in queues:
        row = rows.get(queue.pk, {})
        progress.append(
            QueueProgress(
                queue=queue,
                items=row.get("items") or 0,
                complete=row.get("complete") or 0,
                mine=row.get("mine") or 0,
                error=errors.get(queue.pk, ""),
            )
        )
    return progress


@dataclass(frozen=True)
class QueuePlace:
    """Where a labeler is in a queue: the item's assignment (None when they hold none on it),
    its position among the items they labeled there (the next one for an item not yet
    submitted) and the queue's number of items, for "7 of 64"."""

    assignment: Assignment | None
    position: int
    total: int


def queue_place(
    *, queue: Queue, user: AbstractBaseUser, trace_id: int, segment_id: int | None
) -> QueuePlace:
    """The labeler's place in ``queue`` at one item, from two queries."""
    assignment = (
        Assignment.objects.filter(queue=queue, user=user, trace_id=trace_id, segment_id=segment_id)
        .order_by("-created_at")
        .first()
    )
    submitted = Assignment.objects.filter(queue=queue, user=user, submitted_at__isnull=False)
    if assignment is not None and assignment.submitted_at is not None:
        submitted = submitted.filter(submitted_at__lte=assignment.submitted_at)
        extra = 0
    else:
        extra = 1
    try:
        items = _count(queue_items(queue).order_by())
    except DocumentError:  # a stored filter gone bad: the home page says so
        items = Value(0, output_field=IntegerField())
    counts = (
        Queue.objects.filter(pk=queue.pk)
        .order_by()
        .values("pk")
        .annotate(items=items, done=_count(submitted))
    )
    row = counts.first() or {"items": 0, "done": 0}
    total = row["items"] or 0
    return QueuePlace(assignment, min(row["done"] + extra, max(total, 1)), total)


def previous_assignment(
    *, queue: Queue, user: AbstractBaseUser, before: int | None
) -> Assignment | None:
    """The item the labeler submitted in ``queue`` before the assignment ``before`` (the last
    one they submitted, when ``before`` is not submitted or None), with its step; None at the
    first."""
    submitted = Assignment.objects.filter(
        queue=queue, user=user, submitted_at__isnull=False
    ).select_related("segment__step")
    current = submitted.filter(pk=before).first() if before is not None else None
    if current is not None:
        submitted = submitted.filter(
            Q(submitted_at__lt=current.submitted_at)
            | Q(submitted_at=current.submitted_at, pk__lt=current.pk)
        )
    return submitted.order_by("-submitted_at", "-pk").first()


def blind_traces(user: AbstractBaseUser | None) -> QuerySet[Assignment]:
    """Ids (``trace_id``) of the traces whose detectors ``user`` may not see in lists or the
    API yet: a queue hiding the detectors handed them an item there that they have not labeled
    (as the trace page keeps them hidden until then). None for reviewers, tokens and people
    without such an item."""
    if user is None or not getattr(user, "is_authenticated", False) or has_role(user, REVIEWER):
        return Assignment.objects.none().values("trace_id")
    labeled = _same_item(Label).filter(author=user)
    return (
        Assignment.objects.filter(user=user, queue__hide_detectors=True)
        .exclude(Exists(labeled))
        .values("trace_id")
    )


def hiding_queue_items(*, user: AbstractBaseUser, trace_id: int) -> set[int | None]:
    """The items of the trace (segment ids, None for the whole trace) that queues hiding the
    detectors handed the user. What decides is what they were handed, not the link they
    followed, so dropping ``?queue=`` from the address shows nothing more."""
    return set(
        Assignment.objects.filter(user=user, trace_id=trace_id, queue__hide_detectors=True)
        .order_by()
        .values_list("segment_id", flat=True)
        .distinct()
    )


# --- Adjudication: items whose labels disagree ------------------------------------------------


def _same_item(model: type[Label] | type[Decision]) -> QuerySet:
    """Rows of ``model`` about the item of the outer label row: same trace, and the same
    segment or both none (``segment = NULL`` would never match, hence the coalesce)."""
    return model.objects.annotate(item_segment=Coalesce("segment", 0)).filter(
        trace=OuterRef("trace"), item_segment=Coalesce(OuterRef("segment"), 0)
    )


def latest_labels() -> QuerySet[Label]:
    """Each author's latest revision of each item: an edit replaces their earlier judgement."""
    newer = (
        _same_item(Label)
        .filter(author=OuterRef("author"))
        .filter(
            Q(revision__gt=OuterRef("revision"))
            | Q(revision=OuterRef("revision"), pk__gt=OuterRef("pk"))
        )
    )
    return Label.objects.filter(~Exists(newer))


def item_verdict_counts(labels: QuerySet[Label], **by: Any) -> QuerySet:
    """One row per item (``item_trace``, ``item_segment``: 0 for the trace as a whole) and per
    ``by``, with how many of ``labels`` gave each verdict (``n_misaligned``…), counted by the
    database so that Python sees an item, not each label."""
    return (
        labels.order_by()
        .values(item_trace=F("trace"), item_segment=Coalesce("segment", 0), **by)
        .annotate(**{f"n_{v}": Count("pk", filter=Q(verdict=v)) for v in Verdict.values})
    )


def open_disagreements() -> QuerySet:
    """Items (``trace``, ``segment`` or None for the whole trace) whose latest labels disagree,
    the verdicts differ or misaligned verdicts name different categories (none counts as one),
    and which no decision has settled since the latest of them; most severe and oldest first.

    One grouped query over the latest labels; a label given after a decision reopens the item
    if the disagreement stands."""
    decided = _same_item(Decision).order_by("-created_at").values("created_at")[:1]
    misaligned_category = Count(
        Coalesce("category", 0), distinct=True, filter=Q(verdict=Verdict.MISALIGNED)
    )
    return (
        latest_labels()
        .order_by()
        .values("trace", "segment")
        .annotate(
            verdicts=Count("verdict", distinct=True),
            categories=misaligned_category,
            labelers=Count("author", distinct=True),
            top_severity=Max("severity"),
            last_label_at=Max("created_at"),
            decided_at=Subquery(decided),
        )
        .filter(Q(verdicts__gt=1) | Q(categories__gt=1))
        .filter(Q(decided_at__isnull=True) | Q(decided_at__lt=F("last_label_at")))
        .order_by(F("top_severity").desc(nulls_last=True), "last_label_at", "trace", "segment")
    )


def is_open_disagreement(*, trace: Trace, segment: Segment | None) -> bool:
    """Whether the item is in the adjudication queue now."""
    return (
        open_disagreements()
        .filter(trace=trace.pk, **({"segment": segment.pk} if segment else {"segment": None}))
        .exists()
    )


@dataclass(frozen=True)
class DisagreementItem:
    """One item awaiting a decision, with everyone's latest label on it."""

    trace: Trace
    segment: Segment | None
    labels: list[Label]
    last_label_at: datetime


def disagreement_items(rows: Sequence[dict[str, Any]]) -> list[DisagreementItem]:
    """Load the traces, segments and latest labels of a page of ``open_disagreements`` rows in
    three queries, whatever the page's length."""
    trace_ids = {row["trace"] for row in rows}
    segment_ids = {row["segment"] for row in rows if row["segment"] is not None}
    whole_trace_ids = {row["trace"] for row in rows if row["segment"] is None}
    traces = Trace.objects.select_related("source").defer("metadata", "task").in_bulk(trace_ids)
    segments = (
        Segment.objects.select_related("step")
        .only("start", "end", "origin", "step__index", "step__kind", "step__trace_id")
        .in_bulk(segment_ids)
    )
    labels: dict[tuple[int, int | None], list[Label]] = defaultdict(list)
    for label in (
        latest_labels()
        .filter(
            Q(segment_id__in=segment_ids) | Q(segment__isnull=True, trace_id__in=whole_trace_ids)
        )
        .select_related("author", "category")
        .order_by("created_at", "pk")
    ):
        labels[(label.trace_id, label.segment_id)].append(label)
    return [
        DisagreementItem(
            trace=traces[row["trace"]],
            segment=segments.get(row["segment"]) if row["segment"] is not None else None,
            labels=labels[(row["trace"], row["segment"])],
            last_label_at=row["last_label_at"],
        )
        for row in rows
    ]


def item_labels(*, trace: Trace, segment: Segment | None) -> list[Label]:
    """Every author's latest label on an item, oldest first, for judging side by side."""
    return list(
        latest_labels()
        .filter(trace=trace, segment=segment)
        .select_related("author", "category")
        .order_by("created_at", "pk")
    )


def item_decisions(*, trace: Trace, segment: Segment | None) -> list[Decision]:
    """The decisions recorded on an item, newest (the one that stands) first."""
    return list(
        Decision.objects.filter(trace=trace, segment=segment)
        .select_related("reviewer", "category")
        .order_by("-created_at", "-pk")
    )


# --- Findings and flags for pipelines ------------------------------------------------------------


def segments_with_final_label() -> QuerySet[Segment]:
    """Segments that have a final label as exports give one: a decision, or latest labels whose
    most common verdict is the only one with that count (a tie has none). One grouped query over
    the latest labels, for use as a subquery."""
    counts = {v: Count("pk", filter=Q(verdict=v)) for v in Verdict.values}
    top = Greatest(*(F(v) for v in Verdict.values))
    tied = Q()
    for a, b in combinations(Verdict.values, 2):
        tied |= Q(**{a: top, b: top})
    settled = (
        latest_labels()
        .filter(segment__isnull=False)
        .order_by()
        .values("segment")
        .annotate(**counts)
        .annotate(top=top)
        .exclude(tied)
        .values("segment")
    )
    decided = Decision.objects.filter(segment__isnull=False).values("segment")
    return Segment.objects.filter(Q(pk__in=settled) | Q(pk__in=decided))
