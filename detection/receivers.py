"""Detection reacts to the trace store: every stored or replaced trace is queued for a scan."""

from typing import Any

from detection.tasks import enqueue_detection


def queue_detection(sender: Any, trace_ids: list[int], **kwargs: Any) -> None:
    enqueue_detection(trace_ids)
