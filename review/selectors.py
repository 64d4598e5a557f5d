"""Reads for review: what a queue holds, in its order."""

from datetime import datetime
from typing import Any

import msgspec
from django.db.models import F, Max, OuterRef, QuerySet, Subquery

from detection.models import Finding
from review.models import Queue
from traces.models import Segment, Trace
from traces.schema import document_error


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


def parse_filters(filters: dict[str, Any]) -> QueueFilters:
    """Validate a queue's filters; raises DocumentError naming the field."""
    try:
        return msgspec.convert(filters, type=QueueFilters)
    except msgspec.ValidationError as exc:
        raise document_error(exc, "filters") from None


def matching_findings(filters: QueueFilters) -> QuerySet[Finding]:
    """Findings of current, enabled detector versions that pass the filter's finding fields."""
    findings = Finding.objects.filter(
        detector__enabled=True, detector_version=F("detector__version")
    )
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


def queue_items(queue: Queue) -> QuerySet:
    """The queue's items (segments or traces), annotated with ``top_score`` and
    ``top_severity`` and in the queue's order."""
    filters = parse_filters(queue.filters)
    findings = matching_findings(filters)
    if queue.level == Queue.Level.SEGMENT:
        per_item = findings.filter(segment=OuterRef("pk")).values("segment")
        items = Segment.objects.filter(**_trace_filter(filters, "step__trace__")).filter(
            pk__in=findings.values("segment")
        )
    else:
        per_item = findings.filter(trace=OuterRef("pk")).values("trace")
        items = Trace.objects.filter(**_trace_filter(filters, "")).filter(
            pk__in=findings.values("trace")
        )
    items = items.annotate(
        top_score=Subquery(per_item.annotate(m=Max("score")).values("m")[:1]),
        top_severity=Subquery(per_item.annotate(m=Max("severity")).values("m")[:1]),
    )
    order = {
        Queue.Order.SEVERITY_SCORE: ["-top_severity", "-top_score", "pk"],
        Queue.Order.SCORE: ["-top_score", "pk"],
        Queue.Order.NEWEST: ["-pk"],
        Queue.Order.OLDEST: ["pk"],
    }[queue.order]
    return items.order_by(*order)
