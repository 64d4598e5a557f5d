"""Writes for review: handing out queue items, recording labels and adjudicating.

Handing out is atomic. The candidate item's row is locked with ``SELECT … FOR UPDATE SKIP
LOCKED`` on PostgreSQL while its holders are counted and the lease is written, so concurrent
labelers never get one item more often than the queue's overlap; SQLite serialises writers
itself. A lease that expires unsubmitted stops counting, so an abandoned item returns.
"""

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import EmptyResultSet
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from review import audit, figures
from review.alerts.services import alert_label
from review.models import Assignment, AuditEntry, Category, Decision, Label, Queue, Verdict
from review.selectors import QUEUE_ORDERS, queue_item_field, queue_order_keys, queue_traces
from traces.models import Segment, Trace

Action = AuditEntry.Action

# An assignment holds its item while submitted, or leased and not yet expired. An item is a
# segment, or a whole trace for the assignments without a segment.
_ITEMS = {
    "segment": {"column": "segment_id", "kind": "segment_id IS NOT NULL"},
    "trace": {"column": "trace_id", "kind": "segment_id IS NULL"},
}

# The user's unsubmitted, unexpired lease, with its segment's step for the link to it.
_CURRENT_SQL = """
SELECT a.id, a.queue_id, a.trace_id, a.segment_id, a.user_id, a.leased_until, a.submitted_at,
    a.created_at, s."index" AS step_index
FROM review_assignment a
LEFT JOIN traces_segment g ON g.id = a.segment_id
LEFT JOIN traces_step s ON s.id = g.step_id
WHERE a.queue_id = %(queue)s AND a.user_id = %(user)s AND a.submitted_at IS NULL
    AND a.leased_until > %(now)s
ORDER BY a.created_at
LIMIT 1
"""

# The first item in the queue's order that the user does not hold and that is not full. The
# items the queue's assignments hold are grouped in one scan rather than counted per item, and
# the order keys come from one grouped scan of the findings on the queue's traces rather than
# from two subqueries per item as in ``queue_items``. ``keys`` and ``traces`` are SQL the ORM
# builds from the queue's filter; the parameters follow theirs: queue, now, overlap, user.
_CANDIDATE_SQL = """
SELECT i.id, {trace_and_step} FROM {table} i
JOIN ({keys}) k ON k.item = i.id {step_join}
WHERE i.id NOT IN (
    SELECT {column} FROM review_assignment
    WHERE queue_id = %s AND {kind} AND (submitted_at IS NOT NULL OR leased_until > %s)
    GROUP BY {column}
    HAVING COUNT(*) >= %s OR SUM(CASE WHEN user_id = %s THEN 1 ELSE 0 END) > 0
) {traces} {passed_over}
ORDER BY {order} LIMIT 1{lock}
"""
_ORDER_COLUMNS = {"pk": "i.id", "top_severity": "k.top_severity", "top_score": "k.top_score"}

# The lease is written only if the item still has room, counted in this statement: it runs after
# the item's row was locked, so it sees every claim of the item that committed before. An
# existing row can only be the labeler's own lease that expired unsubmitted, renewed in place.
_LEASE_SQL = """
INSERT INTO review_assignment
    (queue_id, trace_id, segment_id, user_id, leased_until, submitted_at, created_at)
SELECT %(queue)s, %(trace)s, %(segment)s, %(user)s, %(until)s, NULL, %(now)s
WHERE (
    SELECT COUNT(*) FROM review_assignment
    WHERE queue_id = %(queue)s AND {column} = %({item})s AND {kind}
        AND (submitted_at IS NOT NULL OR leased_until > %(now)s)
) < %(overlap)s
ON CONFLICT (queue_id, {column}, user_id) WHERE {kind}
    DO UPDATE SET leased_until = excluded.leased_until WHERE review_assignment.submitted_at IS NULL
RETURNING id, queue_id, trace_id, segment_id, user_id, leased_until, submitted_at, created_at
"""
_LEASE = {item: _LEASE_SQL.format(item=item, **sql) for item, sql in _ITEMS.items()}


def _candidate(
    *, queue: Queue, params: dict[str, object], passed_over: list[int]
) -> tuple[int, int, int | None] | None:
    """The first item that ``_CANDIDATE_SQL`` finds with ``params`` (those of ``claim_next``),
    as (item, trace, step index), its row locked where the database can skip locked rows."""
    item_field = queue_item_field(queue)
    try:
        keys, keys_params = queue_order_keys(queue).query.sql_with_params()
    except EmptyResultSet:  # a queue of items added by hand, none left
        return None
    if item_field == "segment":
        table, trace_and_step = "traces_segment", 's.trace_id, s."index"'
        step_join = "JOIN traces_step s ON s.id = i.step_id"
    else:
        table, trace_and_step, step_join = "traces_trace", "i.id, NULL", ""
    traces, traces_params = "", ()
    in_scope = queue_traces(queue)
    if in_scope.query.has_filters():
        traces, traces_params = in_scope.values("pk").query.sql_with_params()
        traces = f"AND {'s.trace_id' if item_field == 'segment' else 'i.id'} IN ({traces})"
    sql = _CANDIDATE_SQL.format(
        trace_and_step=trace_and_step,
        table=table,
        keys=keys,
        step_join=step_join,
        traces=traces,
        passed_over=f"AND i.id NOT IN ({', '.join(map(str, passed_over))})" if passed_over else "",
        order=", ".join(
            f"{_ORDER_COLUMNS[key[1:]]} DESC" if key.startswith("-") else _ORDER_COLUMNS[key]
            for key in QUEUE_ORDERS[queue.order]
        ),
        lock=(
            " FOR UPDATE OF i SKIP LOCKED"
            if connection.features.has_select_for_update_skip_locked
            else ""
        ),
        **_ITEMS[item_field],
    )
    with connection.cursor() as cursor:
        mine = (params["queue"], params["now"], params["overlap"], params["user"])
        cursor.execute(sql, (*keys_params, *mine, *traces_params))
        return cursor.fetchone()


def claim_next(
    *, queue: Queue, user: AbstractBaseUser, skipped: Collection[int] = ()
) -> Assignment | None:
    """Lease the next item of ``queue`` to ``user``: their current lease if they hold one, else
    the first item in the queue's order that they have not labeled and that has room, passing
    over the items (segment or trace ids) in ``skipped``. The assignment carries
    ``step_index``, its segment's step (None for a whole trace), so a link to the item needs no
    further query.

    Three statements unless claims that commit meanwhile fill the candidate: the current lease,
    the candidate, the lease. The assignments' SQL is written out rather than built by the ORM,
    which cost more processor time than the database spent running it."""
    item_field = queue_item_field(queue)
    now = timezone.now()
    field = Assignment._meta.get_field("leased_until")
    params = {
        "queue": queue.pk,
        "user": user.pk,
        "now": field.get_db_prep_value(now, connection),
        "until": field.get_db_prep_value(now + timedelta(seconds=queue.lease_seconds), connection),
        "overlap": queue.overlap,
    }
    with transaction.atomic():
        current = next(iter(Assignment.objects.raw(_CURRENT_SQL, params)), None)
        if current is not None:
            return current
        passed_over = list(skipped)
        while True:
            item = _candidate(queue=queue, params=params, passed_over=passed_over)
            if item is None:
                return None
            item_id, trace_id, step_index = item
            lease = params | {"trace": trace_id, "segment": None}
            if item_field == "segment":
                lease["segment"] = item_id
            assignment = next(iter(Assignment.objects.raw(_LEASE[item_field], lease)), None)
            if assignment is not None:
                assignment.step_index = step_index
                return assignment
            # Filled by claims that committed after the candidate was read.
            passed_over.append(item_id)


def queue_skip(*, queue: Queue, user: AbstractBaseUser, assignment_id: int) -> Assignment | None:
    """Give back the user's unsubmitted lease (ended now, so the item has room for others at
    once); the caller passes over the item when claiming the next one. None when the user holds
    no such lease."""
    assignment = Assignment.objects.filter(
        pk=assignment_id, queue=queue, user=user, submitted_at__isnull=True
    ).first()
    if assignment is not None:
        assignment.leased_until = timezone.now()
        assignment.save(update_fields=["leased_until"])
    return assignment


def queue_add_items(*, queue: Queue, items: Collection[int]) -> int:
    """Add items (segment or trace ids, as the queue's level) to the queue by hand, after those
    it holds already; returns how many were new. The queue's row is locked while its filter is
    rewritten, so two people adding at once both keep their items."""
    with transaction.atomic():
        locked = Queue.objects.select_for_update().get(pk=queue.pk)
        filters = dict(locked.filters or {})
        held = list(filters.get("items") or [])
        known = set(held)
        new = [item for item in dict.fromkeys(items) if item not in known]
        filters["items"] = held + new
        locked.filters = filters
        locked.save(update_fields=["filters"])
    queue.filters = locked.filters
    return len(new)


def queue_create_from(
    *, name: str, level: str, items: Collection[int], user: AbstractBaseUser
) -> Queue:
    """A queue holding just the given items (segment or trace ids, as ``level``), in the order
    of their findings like any queue's."""
    return Queue.objects.create(
        name=name,
        level=level,
        filters={"items": list(dict.fromkeys(items)), "only_items": True},
        created_by=user,
    )


@dataclass(frozen=True)
class LabelInput:
    verdict: str
    category: Category | None = None
    severity: int | None = None
    note: str = ""

    def as_given(self) -> "LabelInput":
        """The label as stored: category and severity say what kind of misalignment and how
        bad, so a benign verdict keeps neither, whatever was sent (a form pre-filled from a
        detector's suggestion, say)."""
        if self.verdict == Verdict.BENIGN:
            return replace(self, category=None, severity=None)
        return self


# A label's next revision of the author's judgement of one item, numbered in the statement that
# writes it. ``{item}`` picks the segment, or the whole trace. Two saves by one person on one item
# at the same instant can both read the same last number: the second then writes nothing (the
# number is unique) and returns no row, and is run again, reading the first one's number.
_REVISION_SQL = """
INSERT INTO review_label (author_id, trace_id, segment_id, queue_id, verdict, category_id,
    severity, note, revision, created_at)
SELECT %(author)s, %(trace)s, %(segment)s, %(queue)s, %(verdict)s, %(category)s, %(severity)s,
    %(note)s, COALESCE(MAX(revision), 0) + 1, %(now)s
FROM review_label
WHERE author_id = %(author)s AND trace_id = %(trace)s AND {item}
ON CONFLICT DO NOTHING
RETURNING id, revision
"""
# Each attempt that writes nothing means another save of the same item by the same person
# committed meanwhile, so only that many saves at once can use them up.
_REVISION_ATTEMPTS = 50
_REVISION = {
    "segment": _REVISION_SQL.format(item="segment_id = %(segment)s"),
    "trace": _REVISION_SQL.format(item="segment_id IS NULL"),
}


def _insert_revision(
    *,
    author: AbstractBaseUser,
    trace: Trace,
    segment: Segment | None,
    label: LabelInput,
    queue: Queue | None,
) -> Label:
    now = timezone.now()
    saved = Label(
        author=author,
        trace=trace,
        segment=segment,
        queue=queue,
        verdict=label.verdict,
        category=label.category,
        severity=label.severity,
        note=label.note,
        created_at=now,
    )
    params = {
        "author": author.pk,
        "trace": trace.pk,
        "segment": saved.segment_id,
        "queue": saved.queue_id,
        "verdict": label.verdict,
        "category": saved.category_id,
        "severity": label.severity,
        "note": label.note,
        "now": Label._meta.get_field("created_at").get_db_prep_value(now, connection),
    }
    with connection.cursor() as cursor:
        for _ in range(_REVISION_ATTEMPTS):
            cursor.execute(_REVISION["trace" if segment is None else "segment"], params)
            numbered = cursor.fetchone()
            if numbered is not None:
                break
        else:
            raise IntegrityError(
                f"no free revision number after {_REVISION_ATTEMPTS} saves of the same item "
                "by the same person at once"
            )
        saved.pk, saved.revision = numbered
    saved._state.adding = False
    saved._state.db = connection.alias
    return saved


def save_label(
    *,
    author: AbstractBaseUser,
    trace: Trace,
    segment: Segment | None,
    label: LabelInput,
    queue: Queue | None = None,
) -> Label:
    """Record a label as a new revision of the author's judgement of the item, close the
    author's assignment of it in ``queue``, note it in the audit log, alert if the item's final
    label calls for it and move the figures' generation on, in one transaction."""
    label = label.as_given()
    first_review = trace.review_state == Trace.ReviewState.UNREVIEWED
    with transaction.atomic():
        saved = _insert_revision(
            author=author, trace=trace, segment=segment, label=label, queue=queue
        )
        if queue is not None:
            Assignment.objects.filter(
                queue=queue, user=author, trace=trace, segment=segment, submitted_at__isnull=True
            ).update(submitted_at=saved.created_at)
        if first_review:
            Trace.objects.filter(pk=trace.pk).update(review_state=Trace.ReviewState.IN_REVIEW)
            trace.review_state = Trace.ReviewState.IN_REVIEW
        audit.record(Action.LABEL, saved, detail=judgement(saved, revision=saved.revision))
        alert_label(trace_id=trace.pk, segment_id=saved.segment_id)
        figures.figures_changed()
        return saved


def decide(
    *,
    reviewer: AbstractBaseUser,
    trace: Trace,
    segment: Segment | None,
    verdict: str,
    category: Category | None = None,
    severity: int | None = None,
    note: str = "",
) -> Decision:
    """Record a reviewer's final word on an item as a new decision (the latest one stands; the
    earlier ones stay), mark the trace reviewed, and alert if the decision calls for it."""
    if segment is not None and segment.step.trace_id != trace.pk:
        raise ValueError(f"segment {segment.pk} is not part of trace {trace.pk}")
    given = LabelInput(verdict=verdict, category=category, severity=severity).as_given()
    with transaction.atomic():
        decision = Decision.objects.create(
            reviewer=reviewer,
            trace=trace,
            segment=segment,
            verdict=verdict,
            category=given.category,
            severity=given.severity,
            note=note,
        )
        Trace.objects.filter(pk=trace.pk).update(review_state=Trace.ReviewState.REVIEWED)
        audit.record(Action.ADJUDICATE, decision, detail=judgement(decision))
        alert_label(trace_id=trace.pk, segment_id=decision.segment_id)
        return decision


def judgement(item: Label | Decision, **extra: object) -> dict[str, object]:
    """What a label or decision said, for the audit log: everything but its note, which is a
    person's free text about the trace."""
    return {
        "trace": item.trace_id,
        "segment": item.segment_id,
        "verdict": item.verdict,
        "category": item.category.slug if item.category else None,
        "severity": item.severity,
        **extra,
    }
