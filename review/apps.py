from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review"

    def ready(self) -> None:
        from review.receivers import queue_search_index
        from traces.signals import traces_ingested

        traces_ingested.connect(queue_search_index, dispatch_uid="review.queue_search_index")
