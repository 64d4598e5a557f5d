from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review"

    def ready(self) -> None:
        from detection.signals import findings_stored
        from review import audit
        from review.receivers import alert_on_findings, audit_api_read, queue_search_index
        from traces.signals import trace_read, traces_ingested

        traces_ingested.connect(queue_search_index, dispatch_uid="review.queue_search_index")
        findings_stored.connect(alert_on_findings, dispatch_uid="review.alert_on_findings")
        trace_read.connect(audit_api_read, dispatch_uid="review.audit_api_read")
        audit.connect()
