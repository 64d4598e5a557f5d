"""Writes for review: handing out queue items, recording labels and adjudicating.

Handing out is atomic. The candidate item's row is locked with ``SELECT … FOR UPDATE SKIP
LOCKED`` on PostgreSQL while its holders are counted and the lease is written, so concurrent
labelers never get one item more often than the queue's overlap; SQLite serialises writers
itself. A lease that expires unsubmitted stops counting, so an abandoned item returns.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from review.models import Assignment, Category, Decision, Label, Queue
from review.selectors import QUEUE_ORDERS, queue_item_field, queue_order_keys, queue_scope
from traces.models import Segment, Trace


def _held(queue: Queue, item_field: str, **lookup: object) -> QuerySet[Assignment]:
    """Assignments that hold an item of ``queue``: submitted, or leased and not yet expired
    (whole-trace items are those without a segment)."""
    held = Assignment.objects.filter(queue=queue, **lookup).filter(
        Q(submitted_at__isnull=False) | Q(leased_until__gt=timezone.now())
    )
    return held.filter(segment__isnull=True) if item_field == "trace" else held


def _items_held(held: QuerySet[Assignment], item_field: str) -> QuerySet[Assignment]:
    """The items ``held`` holds, as a subquery for ``pk__in`` (never NULL, which would make
    ``NOT IN`` exclude everything)."""
    return held.filter(**{f"{item_field}__isnull": False}).values(item_field)


# The lease is written only if the item still has room, counted in this statement: it runs after
# the item's row was locked, so it sees every claim of the item that committed before. An
# existing row can only be the labeler's own lease that expired unsubmitted, renewed in place.
_LEASE_SQL = """
INSERT INTO review_assignment
    (queue_id, trace_id, segment_id, user_id, leased_until, submitted_at, created_at)
SELECT %(queue)s, %(trace)s, %(segment)s, %(user)s, %(until)s, NULL, %(now)s
WHERE (
    SELECT COUNT(*) FROM review_assignment
    WHERE queue_id = %(queue)s AND {item} AND (submitted_at IS NOT NULL OR leased_until > %(now)s)
) < %(overlap)s
ON CONFLICT {target} DO UPDATE SET leased_until = excluded.leased_until
    WHERE review_assignment.submitted_at IS NULL
RETURNING id, queue_id, trace_id, segment_id, user_id, leased_until, submitted_at, created_at
"""
_LEASE = {
    "segment": _LEASE_SQL.format(
        item="segment_id = %(segment)s",
        target="(queue_id, segment_id, user_id) WHERE segment_id IS NOT NULL",
    ),
    "trace": _LEASE_SQL.format(
        item="trace_id = %(trace)s AND segment_id IS NULL",
        target="(queue_id, trace_id, user_id) WHERE segment_id IS NULL",
    ),
}


def _lease(
    *, queue: Queue, user: AbstractBaseUser, trace_id: int, segment_id: int | None, now: datetime
) -> Assignment | None:
    """Lease one item to ``user`` in one statement, or None when it is full."""
    field = Assignment._meta.get_field("leased_until")
    params = {
        "queue": queue.pk,
        "trace": trace_id,
        "segment": segment_id,
        "user": user.pk,
        "until": field.get_db_prep_value(now + timedelta(seconds=queue.lease_seconds), connection),
        "now": field.get_db_prep_value(now, connection),
        "overlap": queue.overlap,
    }
    sql = _LEASE["trace" if segment_id is None else "segment"]
    return next(iter(Assignment.objects.raw(sql, params)), None)


def _candidate(
    *, queue: Queue, user: AbstractBaseUser, passed_over: list[int]
) -> tuple[int, int, int | None] | None:
    """The first item in the queue's order that ``user`` does not hold and that is not full, as
    (item, trace, step index), its row locked where the database can skip locked rows.

    The order keys come from one grouped scan of the queue's findings joined to the items,
    rather than from two subqueries per item as in ``queue_items``."""
    item_field = queue_item_field(queue)
    full = (
        _items_held(_held(queue, item_field), item_field)
        .annotate(holders=Count("pk"))
        .filter(holders__gte=queue.overlap)
        .values(item_field)
    )
    items = (
        queue_scope(queue)
        .exclude(pk__in=_items_held(_held(queue, item_field, user=user), item_field))
        .exclude(pk__in=full)
        .exclude(pk__in=passed_over)
        .values("pk")
    )
    items_sql, items_params = items.query.sql_with_params()
    keys_sql, keys_params = queue_order_keys(queue).query.sql_with_params()
    columns = {
        "pk": "i.id",
        "top_severity": "k.top_severity",
        "top_score": "k.top_score",
    }
    order = ", ".join(
        f"{columns[key.lstrip('-')]} DESC" if key.startswith("-") else columns[key]
        for key in QUEUE_ORDERS[queue.order]
    )
    if item_field == "segment":
        table, trace_and_step = "traces_segment", 's.trace_id, s."index"'
        step_join = "JOIN traces_step s ON s.id = i.step_id"
    else:
        table, trace_and_step, step_join = "traces_trace", "i.id, NULL", ""
    lock = (
        " FOR UPDATE OF i SKIP LOCKED"
        if connection.features.has_select_for_update_skip_locked
        else ""
    )
    sql = (
        f"SELECT i.id, {trace_and_step} FROM {table} i "  # noqa: S608 (SQL built by the ORM)
        f"JOIN ({keys_sql}) k ON k.item = i.id {step_join} "
        f"WHERE i.id IN ({items_sql}) ORDER BY {order} LIMIT 1{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*keys_params, *items_params))
        return cursor.fetchone()


def claim_next(*, queue: Queue, user: AbstractBaseUser) -> Assignment | None:
    """Lease the next item of ``queue`` to ``user``: their current lease if they hold one, else
    the first item in the queue's order that they have not labeled and that has room. The
    assignment carries ``step_index``, its segment's step (None for a whole trace), so a link
    to the item needs no further query.

    The items that are full are found by one grouped scan of the queue's assignments rather than
    by counting each candidate's, so a claim's cost does not grow with the queue's assignments
    times its items."""
    item_field = queue_item_field(queue)
    now = timezone.now()
    with transaction.atomic():
        current = (
            Assignment.objects.filter(
                queue=queue, user=user, submitted_at__isnull=True, leased_until__gt=now
            )
            .annotate(step_index=F("segment__step__index"))
            .order_by("created_at")
            .first()
        )
        if current is not None:
            return current
        passed_over: list[int] = []
        while True:
            item = _candidate(queue=queue, user=user, passed_over=passed_over)
            if item is None:
                return None
            item_id, trace_id, step_index = item
            assignment = _lease(
                queue=queue,
                user=user,
                trace_id=trace_id,
                segment_id=item_id if item_field == "segment" else None,
                now=now,
            )
            if assignment is not None:
                assignment.step_index = step_index
                return assignment
            # Filled by claims that committed after the candidates were read.
            passed_over.append(item_id)


@dataclass(frozen=True)
class LabelInput:
    verdict: str
    category: Category | None = None
    severity: int | None = None
    note: str = ""


def save_label(
    *,
    author: AbstractBaseUser,
    trace: Trace,
    segment: Segment | None,
    label: LabelInput,
    queue: Queue | None = None,
) -> Label:
    """Record a label as a new revision of the author's judgement of the item, and close the
    author's assignment of it in ``queue``."""
    with transaction.atomic():
        previous = Label.objects.filter(author=author, trace=trace, segment=segment).order_by(
            "-revision"
        )
        last = previous.values_list("revision", flat=True).first() or 0
        saved = Label.objects.create(
            author=author,
            trace=trace,
            segment=segment,
            queue=queue,
            verdict=label.verdict,
            category=label.category,
            severity=label.severity,
            note=label.note,
            revision=last + 1,
        )
        if queue is not None:
            Assignment.objects.filter(
                queue=queue, user=author, trace=trace, segment=segment, submitted_at__isnull=True
            ).update(submitted_at=timezone.now())
        if trace.review_state == Trace.ReviewState.UNREVIEWED:
            Trace.objects.filter(pk=trace.pk).update(review_state=Trace.ReviewState.IN_REVIEW)
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
    earlier ones stay) and mark the trace reviewed."""
    if segment is not None and segment.step.trace_id != trace.pk:
        raise ValueError(f"segment {segment.pk} is not part of trace {trace.pk}")
    with transaction.atomic():
        decision = Decision.objects.create(
            reviewer=reviewer,
            trace=trace,
            segment=segment,
            verdict=verdict,
            category=category,
            severity=severity,
            note=note,
        )
        Trace.objects.filter(pk=trace.pk).update(review_state=Trace.ReviewState.REVIEWED)
        return decision
