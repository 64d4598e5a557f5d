"""Review reacts to the apps below it: stored or replaced traces get search documents, new
findings the alerts they call for, and whatever the dashboard's figures count moves them on."""

from typing import Any

from detection.models import Finding
from detection.tasks import enqueue
from review import figures
from review.alerts.services import alert_findings
from review.tasks import index_for_search


def queue_search_index(sender: Any, trace_ids: list[int], **kwargs: Any) -> None:
    enqueue(index_for_search, trace_ids)


def alert_on_findings(sender: Any, trace_id: int, findings: list[Finding], **kwargs: Any) -> None:
    alert_findings(trace_id=trace_id, findings=findings)


def figures_changed(sender: Any, **kwargs: Any) -> None:
    figures.figures_changed()
