from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review"

    def ready(self) -> None:
        from review import audit
        from review.receivers import audit_api_read, queue_search_index
        from traces.signals import trace_read, traces_ingested

        traces_ingested.connect(queue_search_index, dispatch_uid="review.queue_search_index")
        trace_read.connect(audit_api_read, dispatch_uid="review.audit_api_read")
        audit.connect()
