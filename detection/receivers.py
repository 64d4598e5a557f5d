"""Detection reacts to the trace store: every stored or replaced trace is queued for a scan."""

from typing import Any

from detection.tasks import detect_trace, enqueue


def queue_detection(sender: Any, trace_ids: list[int], **kwargs: Any) -> None:
    for trace_id in trace_ids:
        enqueue(detect_trace, trace_id)
