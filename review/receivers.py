"""Review reacts to the trace store: stored or replaced traces get search documents."""

from typing import Any

from detection.tasks import enqueue
from review.tasks import index_for_search


def queue_search_index(sender: Any, trace_ids: list[int], **kwargs: Any) -> None:
    enqueue(index_for_search, trace_ids)
