"""Celery tasks of review: search documents for newly stored traces, and their sweep."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from detection.tasks import TASK_OPTIONS, enqueue
from review import search

OPTIONS = TASK_OPTIONS | {"soft_time_limit": 300, "time_limit": 330}


@shared_task(**OPTIONS)
def index_for_search(trace_ids: list[int]) -> int:
    return search.index_traces(trace_ids)


@shared_task(**OPTIONS)
def sweep_search_index() -> int:
    """Queue the traces, however old, whose search documents are still missing a while after
    they were stored."""
    trace_ids = search.unindexed_traces(
        older_than=timedelta(seconds=settings.TRACEWATCH_SWEEP_PENDING_AFTER), limit=5000
    )
    for start in range(0, len(trace_ids), 500):
        enqueue(index_for_search, trace_ids[start : start + 500])
    return len(trace_ids)
