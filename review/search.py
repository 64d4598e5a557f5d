"""Full-text search documents for steps, written after ingest rather than during it.

Each step's document is ``to_tsvector('english', …)`` of the first ``SEARCH_PREFIX_CHARS``
characters of its content: PostgreSQL refuses a tsvector over about 1 MB, which a step of the
allowed 1,000,000 characters can exceed. Writing documents in a task keeps that work out of the
ingest transaction; until a trace's task has run, its steps are not found by search. A trace
stored or replaced starts with ``search_indexed`` false, and writing its documents sets it in
the same transaction.
"""

from collections.abc import Iterable
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from review.models import StepSearch
from traces.models import Step, Trace

SEARCH_CONFIG = "english"
SEARCH_PREFIX_CHARS = 200_000


def index_traces(trace_ids: Iterable[int]) -> int:
    """Write (or rewrite) the search documents of these traces' steps and mark the traces
    indexed; the number of documents written. Nothing to do on SQLite, which searches content
    directly."""
    ids = list(trace_ids)
    if connection.vendor != "postgresql" or not ids:
        return 0
    search = StepSearch._meta.db_table
    steps = Step._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {search} (step_id, document) "  # noqa: S608 (table names only)
            f"SELECT id, to_tsvector(%s::regconfig, left(content, %s)) FROM {steps} "
            "WHERE trace_id = ANY(%s) "
            "ON CONFLICT (step_id) DO UPDATE SET document = EXCLUDED.document",
            [SEARCH_CONFIG, SEARCH_PREFIX_CHARS, ids],
        )
        written = cursor.rowcount
        Trace.objects.filter(pk__in=ids, search_indexed=False).update(search_indexed=True)
        return written


def unindexed_traces(*, older_than: timedelta, limit: int) -> list[int]:
    """Traces of any age whose search documents are still not written this long after they
    were stored or replaced (their task was lost to a broker outage or a killed worker), oldest
    first. The partial index ``trace_search_pending`` holds exactly these traces."""
    if connection.vendor != "postgresql":
        return []
    stale = Trace.objects.filter(
        search_indexed=False, updated_at__lt=timezone.now() - older_than
    ).order_by("updated_at")
    return list(stale.values_list("pk", flat=True)[:limit])
