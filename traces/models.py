"""What came in, stored faithfully: sources, traces, their steps, and spans of steps."""

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q

from traces.schema import EARLIEST, LATEST


def in_time_range(field: str) -> Q:
    """A time column holds nothing Python cannot read back: a stored time out of Python's range
    would break every list that shows it."""
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__range": (EARLIEST, LATEST)})


class Source(models.Model):
    """A deployment or agent fleet sending traces; ingest tokens are scoped to one."""

    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Severity(models.IntegerChoices):
    NONE = 0, "none"
    LOW = 1, "low"
    MEDIUM = 2, "medium"
    HIGH = 3, "high"
    CRITICAL = 4, "critical"


class Trace(models.Model):
    class DetectionState(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class ReviewState(models.TextChoices):
        UNREVIEWED = "unreviewed"
        IN_REVIEW = "in_review"
        REVIEWED = "reviewed"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="traces")
    external_id = models.CharField(max_length=255)
    agent = models.CharField(max_length=255, blank=True)
    model = models.CharField(max_length=255, blank=True)
    task = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    step_count = models.PositiveIntegerField(default=0)
    altered = models.BooleanField(
        default=False, help_text="Characters that cannot be stored were replaced at ingest."
    )
    secrets_masked = models.PositiveIntegerField(default=0)
    detection_state = models.CharField(
        max_length=16, choices=DetectionState.choices, default=DetectionState.PENDING
    )
    review_state = models.CharField(
        max_length=16, choices=ReviewState.choices, default=ReviewState.UNREVIEWED
    )
    max_severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.NONE)
    search_indexed = models.BooleanField(
        default=False,
        help_text="Its steps' full-text search documents are written (PostgreSQL only).",
    )
    ingested_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="trace_source_external_id"
            ),
            models.CheckConstraint(
                condition=in_time_range("started_at"), name="trace_started_at_in_range"
            ),
            models.CheckConstraint(
                condition=in_time_range("ended_at"), name="trace_ended_at_in_range"
            ),
        ]
        indexes = [
            models.Index(fields=["source", "-ingested_at"], name="trace_by_source_time"),
            models.Index(fields=["detection_state", "updated_at"], name="trace_by_detection_state"),
            models.Index(fields=["review_state", "-max_severity"], name="trace_by_review_severity"),
            models.Index(fields=["-max_severity", "-ingested_at"], name="trace_by_severity_time"),
            models.Index(fields=["-ingested_at", "-id"], name="trace_by_time"),
            models.Index(fields=["model"], name="trace_by_model"),
            # Holds only traces whose search documents are not written yet, so the sweep that
            # finds them reads those and nothing else, however old.
            models.Index(
                fields=["updated_at"],
                condition=Q(search_indexed=False),
                name="trace_search_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"


class Step(models.Model):
    class Kind(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        REASONING = "reasoning"
        ASSISTANT = "assistant"
        TOOL_CALL = "tool_call"
        TOOL_RESULT = "tool_result"

    # No index of its own: the (trace, index) constraint's index serves lookups by trace.
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="steps", db_index=False)
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    content = models.TextField(blank=True)
    tool = models.CharField(max_length=255, blank=True)
    call_id = models.CharField(max_length=255, blank=True)
    arguments = models.JSONField(null=True, blank=True)
    timestamp = models.DateTimeField(null=True, blank=True)
    token_count = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["trace", "index"]
        constraints = [
            models.UniqueConstraint(fields=["trace", "index"], name="step_trace_index"),
            models.CheckConstraint(
                condition=in_time_range("timestamp"), name="step_timestamp_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id}#{self.index} {self.kind}"


class Segment(models.Model):
    """A span of one step's content; the whole step when start and end are both null."""

    class Origin(models.TextChoices):
        DETECTOR = "detector"
        HUMAN = "human"

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="segments")
    start = models.PositiveIntegerField(null=True, blank=True)
    end = models.PositiveIntegerField(null=True, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(start__isnull=True) & Q(end__isnull=True))
                | (Q(start__isnull=False) & Q(end__isnull=False) & Q(start__lte=models.F("end"))),
                name="segment_offsets_ordered",
            ),
        ]

    def __str__(self) -> str:
        span = "whole" if self.start is None else f"{self.start}:{self.end}"
        return f"step {self.step_id} [{span}] {self.origin}"


def hash_token(raw: str) -> str:
    """Tokens are long and random, so one SHA-256 is enough to keep them unrecoverable at rest."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the API, stored only as its hash."""

    class Scope(models.TextChoices):
        INGEST = "ingest"
        READ = "read"
        ADMIN = "admin"

    PREFIX = "tw_"

    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token.")
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=Scope.choices)
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.CASCADE, related_name="tokens"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(scope="ingest") | Q(source__isnull=False),
                name="ingest_token_has_source",
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.scope})"
