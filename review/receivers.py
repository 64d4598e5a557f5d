"""Review reacts to the trace store: stored or replaced traces get search documents, and a trace
read through the API goes into the audit log."""

from typing import Any

from detection.tasks import enqueue
from review.audit import record_view
from review.tasks import index_for_search
from traces.models import Trace


def queue_search_index(sender: Any, trace_ids: list[int], **kwargs: Any) -> None:
    enqueue(index_for_search, trace_ids)


def audit_api_read(sender: Any, trace: Trace, **kwargs: Any) -> None:
    record_view(trace, via="api")
