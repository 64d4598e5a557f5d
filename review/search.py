"""Full-text search documents for steps, written after ingest rather than during it.

Each step's document is ``to_tsvector('english', …)`` of the first ``SEARCH_PREFIX_CHARS``
characters of its content: PostgreSQL refuses a tsvector over about 1 MB, which a step of the
allowed 1,000,000 characters can exceed. Writing documents in a task keeps that work out of the
ingest transaction; until a trace's task has run, its steps are not found by search.
"""

from collections.abc import Iterable
from datetime import timedelta

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from review.models import StepSearch
from traces.models import Step, Trace

SEARCH_CONFIG = "english"
SEARCH_PREFIX_CHARS = 200_000


def index_traces(trace_ids: Iterable[int]) -> int:
    """Write (or rewrite) the search documents of these traces' steps; the number written.
    Nothing to do on SQLite, which searches content directly."""
    ids = list(trace_ids)
    if connection.vendor != "postgresql" or not ids:
        return 0
    search = StepSearch._meta.db_table
    steps = Step._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {search} (step_id, document) "  # noqa: S608 (table names only)
            f"SELECT id, to_tsvector(%s::regconfig, left(content, %s)) FROM {steps} "
            "WHERE trace_id = ANY(%s) "
            "ON CONFLICT (step_id) DO UPDATE SET document = EXCLUDED.document",
            [SEARCH_CONFIG, SEARCH_PREFIX_CHARS, ids],
        )
        return cursor.rowcount


def unindexed_traces(*, since: timedelta, limit: int) -> list[int]:
    """Recently ingested traces with a step that has no search document yet (their task was
    lost to a broker outage or a killed worker)."""
    if connection.vendor != "postgresql":
        return []
    missing = Step.objects.filter(trace=OuterRef("pk"), search__isnull=True)
    recent = Trace.objects.filter(ingested_at__gte=timezone.now() - since)
    return list(recent.filter(Exists(missing)).values_list("pk", flat=True)[:limit])
