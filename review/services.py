"""Writes for review: handing out queue items, recording labels and adjudicating.

Handing out is atomic. The candidate item's row is locked with ``SELECT … FOR UPDATE SKIP
LOCKED`` on PostgreSQL while its holders are counted and the lease is written, so concurrent
labelers never get one item more often than the queue's overlap; SQLite serialises writers
itself. A lease that expires unsubmitted stops counting, so an abandoned item returns.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from review.models import Assignment, Category, Decision, Label, Queue
from review.selectors import queue_items
from traces.models import Segment, Trace


def _held(queue: Queue, item_field: str, **lookup: object) -> QuerySet[Assignment]:
    """Assignments that hold an item of ``queue``: submitted, or leased and not yet expired
    (whole-trace items are those without a segment)."""
    held = Assignment.objects.filter(queue=queue, **lookup).filter(
        Q(submitted_at__isnull=False) | Q(leased_until__gt=timezone.now())
    )
    return held.filter(segment__isnull=True) if item_field == "trace" else held


def _holders(queue: Queue, item_field: str) -> Coalesce:
    """How many people hold each candidate item, as a subquery."""
    held = _held(queue, item_field, **{item_field: OuterRef("pk")})
    counted = held.values(item_field).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted), 0)


def claim_next(*, queue: Queue, user: AbstractBaseUser) -> Assignment | None:
    """Lease the next item of ``queue`` to ``user``: their current lease if they hold one, else
    the first item in the queue's order that they have not labeled and that has room."""
    item_field = "segment" if queue.level == Queue.Level.SEGMENT else "trace"
    now = timezone.now()
    with transaction.atomic():
        current = (
            Assignment.objects.filter(
                queue=queue, user=user, submitted_at__isnull=True, leased_until__gt=now
            )
            .order_by("created_at")
            .first()
        )
        if current is not None:
            return current
        mine = _held(queue, item_field, user=user)
        candidates = (
            queue_items(queue)
            .exclude(pk__in=mine.values(item_field))
            .annotate(holders=_holders(queue, item_field))
            .filter(holders__lt=queue.overlap)
        )
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        passed_over: list[int] = []
        while True:
            item = candidates.exclude(pk__in=passed_over).first()
            if item is None:
                return None
            # The count in the query above may predate a claim that committed just before the
            # row lock was taken; counted again now, under the lock, it cannot change.
            if _held(queue, item_field, **{f"{item_field}_id": item.pk}).count() < queue.overlap:
                break
            passed_over.append(item.pk)
        trace_id = item.step.trace_id if isinstance(item, Segment) else item.pk
        lookup = {"queue": queue, "user": user, item_field: item}
        if item_field == "trace":
            lookup["segment"] = None
        assignment, _ = Assignment.objects.update_or_create(
            **lookup,
            defaults={
                "trace_id": trace_id,
                "leased_until": now + timedelta(seconds=queue.lease_seconds),
                "submitted_at": None,
            },
        )
        return assignment


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
