"""What people decided: the taxonomy, queues, assignments, labels and adjudications, and the
audit trail of who did what.

Labels, decisions and audit entries are append-only: an edit is a new revision and the history
stays.
"""

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.utils import timezone

from traces.models import Segment, Severity, Step, Trace

# The longest note a label or a decision takes, from the console's forms and the API alike.
MAX_NOTE_CHARS = 20_000


class Category(models.Model):
    """A kind of misalignment, admin-editable; the default set is seeded by a migration."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Verdict(models.TextChoices):
    MISALIGNED = "misaligned"
    BENIGN = "benign"
    UNSURE = "unsure"


class Queue(models.Model):
    """A saved filter over flagged segments or traces, with an order and an overlap."""

    class Level(models.TextChoices):
        SEGMENT = "segment", "flagged segments"
        TRACE = "trace", "whole traces"

    class Order(models.TextChoices):
        SEVERITY_SCORE = "severity_score", "severity, then score"
        SCORE = "score", "score"
        NEWEST = "newest", "newest first"
        OLDEST = "oldest", "oldest first"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(
        blank=True,
        max_length=MAX_NOTE_CHARS,
        help_text=(
            "How to label this queue's items, shown to labelers beside each one (plain text)."
        ),
    )
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.SEGMENT)
    filters = models.JSONField(default=dict, blank=True)
    order = models.CharField(max_length=16, choices=Order.choices, default=Order.SEVERITY_SCORE)
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="How many people label each item."
    )
    lease_seconds = models.PositiveIntegerField(
        default=900, help_text="How long a handed-out item stays reserved for its labeler."
    )
    active = models.BooleanField(default=True)
    hide_detectors = models.BooleanField(
        "Hide the detectors until the first verdict",
        default=False,
        help_text=(
            "Labelers see no detector flag, score, rationale, severity or suggested category on "
            "an item of this queue until they have given their own verdict on it, so the "
            "detectors do not anchor their judgement."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(overlap__gte=1), name="queue_overlap_1")]

    def __str__(self) -> str:
        return self.name


class Assignment(models.Model):
    """One labeler's hold on one item of a queue: a lease until submitted, then a record."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="assignments")
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="+")
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    leased_until = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["queue", "segment", "user"],
                condition=Q(segment__isnull=False),
                name="one_assignment_per_segment_user",
            ),
            models.UniqueConstraint(
                fields=["queue", "trace", "user"],
                condition=Q(segment__isnull=True),
                name="one_assignment_per_trace_user",
            ),
        ]
        indexes = [
            models.Index(fields=["queue", "segment"], name="assignment_by_segment"),
            models.Index(fields=["queue", "trace"], name="assignment_by_trace"),
            models.Index(fields=["user", "submitted_at"], name="assignment_by_user"),
        ]

    def __str__(self) -> str:
        item = f"segment {self.segment_id}" if self.segment_id else f"trace {self.trace_id}"
        return f"{self.user_id} on {item} in {self.queue_id}"


class Label(models.Model):
    """A person's judgement of a segment, or of a whole trace when ``segment`` is empty."""

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="labels"
    )
    trace = models.ForeignKey(Trace, on_delete=models.PROTECT, related_name="labels")
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="labels"
    )
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="labels"
    )
    verdict = models.CharField(max_length=12, choices=Verdict.choices)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="labels"
    )
    severity = models.PositiveSmallIntegerField(choices=Severity.choices[1:], null=True, blank=True)
    note = models.TextField(blank=True, max_length=MAX_NOTE_CHARS)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "segment", "revision"],
                condition=Q(segment__isnull=False),
                name="one_revision_number_per_segment_label",
            ),
            models.UniqueConstraint(
                fields=["author", "trace", "revision"],
                condition=Q(segment__isnull=True),
                name="one_revision_number_per_trace_label",
            ),
        ]
        indexes = [
            models.Index(fields=["segment", "author", "-revision"], name="label_by_segment"),
            models.Index(fields=["trace", "author", "-revision"], name="label_by_trace"),
            models.Index(fields=["-created_at"], name="label_by_time"),
        ]

    def __str__(self) -> str:
        return f"{self.author_id}: {self.verdict} (rev {self.revision})"


class Decision(models.Model):
    """A reviewer's final word on an item whose labels disagree; the latest one stands."""

    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    trace = models.ForeignKey(Trace, on_delete=models.PROTECT, related_name="decisions")
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    verdict = models.CharField(max_length=12, choices=Verdict.choices)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    severity = models.PositiveSmallIntegerField(choices=Severity.choices[1:], null=True, blank=True)
    note = models.TextField(blank=True, max_length=MAX_NOTE_CHARS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.reviewer_id}: {self.verdict}"


class StepSearch(models.Model):
    """A step's full-text search document, on PostgreSQL.

    Kept apart from the step and written by a task after ingest: computing it inside the ingest
    transaction (an index on an expression over the content) cut ingest to a fifth of its speed.
    SQLite searches the content directly and keeps this table empty.
    """

    step = models.OneToOneField(
        Step, primary_key=True, on_delete=models.CASCADE, related_name="search"
    )
    document = SearchVectorField()

    def __str__(self) -> str:
        return f"search document of step {self.step_id}"


class Dataset(models.Model):
    """A named series of exports. Its salt keys the labelers' pseudonyms, so one person keeps
    one pseudonym across the dataset's versions and nobody can recover who it was from a file."""

    name = models.SlugField(max_length=100, unique=True)
    salt = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    """One export of a dataset: what it was made from, and once written, its file.

    A version number is given only when the file is complete and in place, in the same
    transaction that marks it done, so an export that fails midway never appears as a version.
    After that nothing about it changes; a new export is a new version.
    """

    class Format(models.TextChoices):
        JSONL = "jsonl", "JSON Lines"
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"
        HF = "hf", "Hugging Face datasets folder"

    class Compression(models.TextChoices):
        NONE = "none", "none"
        GZIP = "gzip", "gzip"
        ZSTD = "zstd", "zstd"

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    filters = models.JSONField(default=dict, blank=True)
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSONL)
    compression = models.CharField(
        max_length=4, choices=Compression.choices, default=Compression.NONE
    )
    split = models.JSONField(default=dict, help_text="Share of traces in each split.")
    context_steps = models.PositiveSmallIntegerField(default=3)
    row_count = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    file = models.CharField(max_length=255, blank=True, help_text="Path under the export folder.")
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    card = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_token = models.ForeignKey(
        "traces.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "-version", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "version"],
                condition=Q(version__isnull=False),
                name="one_number_per_dataset_version",
            ),
            models.CheckConstraint(
                condition=Q(state="done", version__isnull=False, sha256__gt="")
                | (~Q(state="done") & Q(version__isnull=True)),
                name="dataset_version_numbered_when_done",
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="dataset_version_by_state")]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.version}" if self.version else f"{self.dataset.name}"


class AlertRule(models.Model):
    """Who hears at once of a finding or a final label at or above a severity, and where: a
    signed webhook, e-mail, or both. Empty filters match everything."""

    class Trigger(models.TextChoices):
        FINDING = "finding", "a new finding"
        LABEL = "label", "a final label"
        BOTH = "both", "a new finding or a final label"

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    min_severity = models.PositiveSmallIntegerField(
        choices=Severity.choices[1:], default=Severity.HIGH, help_text="Alert at or above this."
    )
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.BOTH)
    source = models.ForeignKey(
        "traces.Source", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    detector = models.ForeignKey(
        "detection.Detector",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For a label: only items this detector flagged.",
    )
    webhook_url = models.URLField(max_length=500, blank=True)
    secret = models.CharField(
        max_length=200, blank=True, help_text="Key of the HMAC-SHA256 signature of each body."
    )
    emails = models.TextField(blank=True, help_text="Addresses, separated by commas.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(webhook_url__gt="") | Q(emails__gt=""),
                name="alert_rule_destination",
                violation_error_message="Give a webhook URL, e-mail addresses, or both.",
            ),
            models.CheckConstraint(
                condition=Q(webhook_url="") | Q(secret__gt=""),
                name="alert_rule_webhook_secret",
                violation_error_message="A webhook needs a secret to sign its bodies with.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def recipients(self) -> list[str]:
        return [address.strip() for address in self.emails.split(",") if address.strip()]


class Alert(models.Model):
    """One notice of one finding or one item's final label under one rule.

    ``key`` names what it is about, so a rescan or a retried task that meets the same finding
    again finds the row already there and sends nothing more. ``body`` is the exact JSON sent
    and signed, fixed when the alert is made, so every attempt sends the same bytes.
    """

    class Event(models.TextChoices):
        FINDING = "finding"
        LABEL = "label"

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    uid = models.UUIDField(unique=True, editable=False)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    event = models.CharField(max_length=8, choices=Event.choices)
    key = models.CharField(max_length=200)
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="+")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    body = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # A sender holds the alert until then, so two messages for it never send at once; a sender
    # that died lets go when it passes.
    sending_until = models.DateTimeField(null=True, blank=True)
    # When a pending alert is next due: the sweep sends again those left past it.
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "key"], name="one_alert_per_rule_and_item")
        ]
        indexes = [
            models.Index(fields=["due_at"], name="alert_pending_due", condition=Q(state="pending"))
        ]

    def __str__(self) -> str:
        return f"{self.rule} on {self.key}: {self.state}"


class AlertDelivery(models.Model):
    """One attempt at delivering an alert on one channel, kept whatever its outcome."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email", "e-mail"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    attempt = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    ok = models.BooleanField()

    class Meta:
        ordering = ["alert", "started_at", "pk"]
        verbose_name_plural = "alert deliveries"

    def __str__(self) -> str:
        outcome = self.status_code or self.error[:40] or ("ok" if self.ok else "failed")
        return f"{self.channel} attempt {self.attempt} of {self.alert_id}: {outcome}"


class AuditLogIsAppendOnly(PermissionDenied):
    """Raised on any attempt to change or delete an audit entry through the application."""


class AuditQuerySet(models.QuerySet):
    """Bulk updates and deletes of the audit log are refused as single ones are."""

    def update(self, **kwargs: object) -> int:
        raise AuditLogIsAppendOnly("Audit entries are never changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("Audit entries are never deleted.")


class AuditEntry(models.Model):
    """One thing someone did: read a trace, labeled, adjudicated, exported, downloaded, or
    changed the configuration. Append-only: the application refuses to change or delete an
    entry, and on PostgreSQL so does a trigger on the table (migration 0009).

    The actor is kept as a name beside its ids, and the ids carry no database constraint, so that
    deleting a user or a token neither touches their entries nor is blocked by them.
    """

    class Action(models.TextChoices):
        VIEW = "view", "viewed"
        LABEL = "label", "labeled"
        ADJUDICATE = "adjudicate", "adjudicated"
        EXPORT = "export", "exported"
        DOWNLOAD = "download", "downloaded"
        CREATE = "create", "created"
        CHANGE = "change", "changed"
        REVOKE = "revoke", "revoked"
        DELETE = "delete", "deleted"
        GRANT = "grant", "granted a role"
        WITHDRAW = "withdraw", "withdrew a role"

    class ObjectType(models.TextChoices):
        TRACE = "traces.trace", "trace"
        LABEL = "review.label", "label"
        DECISION = "review.decision", "decision"
        DATASET_VERSION = "review.datasetversion", "dataset version"
        DETECTOR = "detection.detector", "detector"
        CATEGORY = "review.category", "category"
        USER = "auth.user", "user"
        TOKEN = "traces.apitoken", "API token"

    created_at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(
        max_length=150, help_text="The user's name, the token, or system for commands and tasks."
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_token = models.ForeignKey(
        "traces.ApiToken",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=12, choices=Action.choices)
    object_type = models.CharField(max_length=32, choices=ObjectType.choices)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    detail = models.JSONField(
        default=dict,
        blank=True,
        help_text="Fields changed with old and new values, or what was read or written; "
        "never trace content or secrets.",
    )

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["-created_at"], name="audit_by_time"),
            models.Index(fields=["object_type", "object_id"], name="audit_by_object"),
            models.Index(fields=["actor_user", "-created_at"], name="audit_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.get_action_display()} {self.object_repr}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("Audit entries are never changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("Audit entries are never deleted.")


class FigureState(models.Model):
    """The one row that says how current the precomputed figures are: ``generation`` moves on in
    the same transaction as every change they depend on, and ``queued_at`` and ``running_since``
    keep at most one computation queued and one running."""

    generation = models.PositiveBigIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    running_since = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"figures at generation {self.generation}"


class FigureSnapshot(models.Model):
    """The dashboard's and the detector quality page's figures as one computation left them, so
    that no request computes them. The newest row is the one shown; older ones are removed."""

    generation = models.PositiveBigIntegerField(
        help_text="The generation of the inputs this snapshot reflects."
    )
    computed_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    figures = models.JSONField()

    class Meta:
        ordering = ["-computed_at", "-pk"]
        get_latest_by = ["computed_at", "pk"]

    def __str__(self) -> str:
        return f"figures of generation {self.generation} at {self.computed_at:%Y-%m-%d %H:%M}"
