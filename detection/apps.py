from django.apps import AppConfig


class DetectionConfig(AppConfig):
    name = "detection"
    verbose_name = "Detection"

    def ready(self) -> None:
        import detection.kinds  # noqa: F401 (registers the detector kinds)
        from detection.classifiers import classifier_load
        from detection.kinds.classifier import Classifier
        from detection.receivers import queue_detection
        from traces.signals import traces_ingested

        traces_ingested.connect(queue_detection, dispatch_uid="detection.queue_detection")
        Classifier.resolver = classifier_load
