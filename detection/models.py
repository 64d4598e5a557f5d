"""What looks wrong, and how sure: configured detectors, their findings and their runs."""

from django.db import models
from django.db.models import Q

from traces.models import Segment, Severity, Trace


class Detector(models.Model):
    """An admin-configured instance of a detector kind; ``version`` bumps on every change."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    category = models.SlugField(max_length=64, help_text="Category suggested for its findings.")
    severity = models.PositiveSmallIntegerField(
        choices=Severity.choices[1:], default=Severity.MEDIUM
    )
    step_kinds = models.JSONField(
        default=list, blank=True, help_text="Step kinds it reads; empty for all."
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"


class Finding(models.Model):
    """One hit of one detector version: a segment of a step, a score and a reason."""

    detector = models.ForeignKey(Detector, on_delete=models.PROTECT, related_name="findings")
    detector_version = models.PositiveIntegerField()
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="findings")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="findings")
    score = models.FloatField()
    category = models.SlugField(max_length=64)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    rationale = models.TextField(blank=True)
    rule = models.CharField(
        max_length=100, blank=True, help_text="The rule of the detector's kind that matched."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=1), name="finding_score_0_1"
            )
        ]
        indexes = [
            models.Index(
                fields=["trace", "detector", "detector_version"], name="finding_by_trace_detector"
            ),
            models.Index(fields=["detector", "detector_version"], name="finding_by_detector"),
            models.Index(fields=["category", "-score"], name="finding_by_category_score"),
        ]

    def __str__(self) -> str:
        return f"{self.detector_id}v{self.detector_version} on {self.segment_id}: {self.score:.2f}"


class DetectionRun(models.Model):
    """The last outcome of one detector on one trace, so a failure is visible, not silent."""

    class State(models.TextChoices):
        DONE = "done"
        FAILED = "failed"

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="detection_runs")
    detector = models.ForeignKey(Detector, on_delete=models.CASCADE, related_name="runs")
    detector_version = models.PositiveIntegerField()
    state = models.CharField(max_length=8, choices=State.choices)
    hits = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField()
    # Failed runs in a row at this detector version; a failure that may pass later (an endpoint
    # down or rate limiting) is tried again by the sweep from ``retry_at``, a bounded number of
    # times with growing waits.
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trace", "detector"], name="one_run_per_detector")
        ]
        indexes = [
            models.Index(fields=["detector", "state"], name="run_by_detector_state"),
            models.Index(
                fields=["retry_at"],
                name="run_retry_due",
                condition=models.Q(retry_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.detector_id} on {self.trace_id}: {self.state}"


class ClassifierModel(models.Model):
    """A fitted model of the ``classifier`` kind: immutable once written, numbered per name.

    The pipeline is pickled (joblib), so only the server writes these rows, and its sha256 is
    checked before it is unpickled: a row altered behind the server's back is refused.
    Promoting one makes it the version that detectors asking for the latest promoted use.
    """

    name = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    trained_on = models.TextField(help_text="What it was trained on, in words.")
    training_digest = models.CharField(
        max_length=64, help_text="sha256 of the labeled traces it was trained and measured on."
    )
    parameters = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, help_text="Held-out figures.")
    pipeline = models.BinaryField()
    pipeline_sha256 = models.CharField(max_length=64)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="one_classifier_version")
        ]
        indexes = [
            models.Index(
                fields=["name", "-promoted_at"],
                name="classifier_promoted",
                condition=Q(promoted_at__isnull=False),
            )
        ]
        ordering = ["name", "-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
