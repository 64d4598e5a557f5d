"""Review reacts to the apps below it: stored or replaced traces get search documents, new
findings the alerts they call for, a trace read through the API goes into the audit log, and
whatever the dashboard's figures count moves them on."""

from typing import Any

from detection.models import Finding
from detection.tasks import enqueue
from review import figures
from review.alerts.services import alert_findings
from review.audit import record_view
from review.tasks import index_for_search
from traces.models import Trace


def queue_search_index(sender: Any, trace_ids: list[int], **kwargs: Any) -> None:
    enqueue(index_for_search, trace_ids)


def alert_on_findings(sender: Any, trace_id: int, findings: list[Finding], **kwargs: Any) -> None:
    alert_findings(trace_id=trace_id, findings=findings)


def audit_api_read(sender: Any, trace: Trace, **kwargs: Any) -> None:
    record_view(trace, via="api")


def figures_changed(sender: Any, **kwargs: Any) -> None:
    figures.figures_changed()
