from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from detection.models import Detector
        from detection.signals import findings_stored
        from review import audit
        from review.models import Category, Decision, Queue
        from review.receivers import (
            alert_on_findings,
            audit_api_read,
            figures_changed,
            queue_search_index,
        )
        from traces.signals import trace_read, traces_ingested

        traces_ingested.connect(queue_search_index, dispatch_uid="review.queue_search_index")
        findings_stored.connect(alert_on_findings, dispatch_uid="review.alert_on_findings")
        trace_read.connect(audit_api_read, dispatch_uid="review.audit_api_read")
        audit.connect()
        # What the dashboard's figures count, beside labels (``save_label`` counts them): findings
        # arrive in bulk, with their own signal; decisions are append-only.
        findings_stored.connect(figures_changed, dispatch_uid="review.figures.findings")
        post_save.connect(figures_changed, sender=Decision, dispatch_uid="review.figures.decision")
        for model in (Detector, Queue, Category):
            for signal in (post_save, post_delete):
                uid = f"review.figures.{model._meta.label}"
                signal.connect(figures_changed, sender=model, dispatch_uid=uid)
