"""Reads of the trace store."""

from datetime import datetime

from django.db.models import QuerySet

from traces.models import Trace


def filter_traces(
    traces: QuerySet[Trace],
    *,
    source: str | None = None,
    model: str | None = None,
    agent: str | None = None,
    detection_state: str | None = None,
    review_state: str | None = None,
    ingested_after: datetime | None = None,
    ingested_before: datetime | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> QuerySet[Trace]:
    """Narrow a trace queryset by the API's (and the console's) filters; None means no filter."""
    exact = {
        "source__slug": source,
        "model": model,
        "agent": agent,
        "detection_state": detection_state,
        "review_state": review_state,
        "ingested_at__gte": ingested_after,
        "ingested_at__lt": ingested_before,
        "started_at__gte": started_after,
        "started_at__lt": started_before,
    }
    return traces.filter(**{k: v for k, v in exact.items() if v is not None})
