"""Detector administration in the Django admin, for admins only.

Adding a detector first asks for its kind; the kind's parameters are then edited as form fields
(``detection.forms``). "Try it" runs the detector as the form configures it, unsaved, on a pasted
trace or the latest stored ones, and shows each hit's evidence highlighted in its context. Saving
goes through ``save_detector``, which bumps the version when the configuration changes and queues
the rescan. Trace text is hostile: every piece of it reaches the page escaped.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from detection.classifiers import classifier_promote
from detection.engine import KINDS, DetectorKind, ScanTrace, scan
from detection.forms import DetectorForm
from detection.models import ClassifierModel, DetectionRun, Detector, Finding
from detection.selectors import version_counts
from detection.services import (
    builtin_defaults,
    load_scan_trace,
    reset_to_default,
    save_detector,
)
from traces.models import Severity, Trace
from traces.roles import is_admin

# Characters of context shown on each side of a piece of evidence.
CONTEXT_CHARS = 100
# Evidence longer than this is shown cut in the middle.
MAX_EVIDENCE_CHARS = 400
# Hits listed by one trial; the rest are counted.
MAX_TRIAL_HITS = 200

_ELLIPSIS = "\u2026"


def highlight(
    content: str, start: int | None, end: int | None, *, context: int = CONTEXT_CHARS
) -> SafeString:
    """The evidence ``content[start:end]`` in ``<mark>``, with up to ``context`` characters on
    each side; the whole step (cut to length) when both offsets are None. Everything escaped."""
    if start is None or end is None:
        start, end, context = 0, len(content), 0
    start = max(0, min(start, len(content)))
    end = max(start, min(end, len(content)))
    evidence = content[start:end]
    if len(evidence) > MAX_EVIDENCE_CHARS:
        half = MAX_EVIDENCE_CHARS // 2
        evidence = f"{evidence[:half]} {_ELLIPSIS} {evidence[-half:]}"
    before_from = max(0, start - context)
    after_to = min(len(content), end + context)
    return format_html(
        "{}{}<mark>{}</mark>{}{}",
        _ELLIPSIS if before_from > 0 else "",
        content[before_from:start],
        evidence,
        content[end:after_to],
        _ELLIPSIS if after_to < len(content) else "",
    )


# --- Try it ---------------------------------------------------------------------------------


@dataclass
class TrialHit:
    trace: str
    trace_url: str | None
    step_index: int
    step_kind: str
    score: float
    category: str
    severity: str
    rationale: str
    evidence: SafeString


@dataclass
class Trial:
    """What an unsaved detector found: hits (the first ``MAX_TRIAL_HITS``), counts, failures."""

    scope: str
    scanned: int = 0
    total_hits: int = 0
    traces_with_hits: int = 0
    hits: list[TrialHit] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def hidden_hits(self) -> int:
        return self.total_hits - len(self.hits)


def run_trial(
    detector: DetectorKind | Exception,
    traces: Iterable[tuple[str, str | None, ScanTrace]],
    *,
    scope: str,
) -> Trial:
    """Scan each (label, admin URL, trace); a detector that fails is reported, never raised."""
    trial = Trial(scope=scope)
    if isinstance(detector, Exception):
        trial.failures.append(("", f"{type(detector).__name__}: {detector}"))
        return trial
    for label, url, trace in traces:
        trial.scanned += 1
        try:
            hits = scan(detector, trace)
        except Exception as exc:  # the admin sees what a worker would record
            trial.failures.append((label, f"{type(exc).__name__}: {exc}"))
            continue
        trial.total_hits += len(hits)
        trial.traces_with_hits += bool(hits)
        for hit in hits[: MAX_TRIAL_HITS - len(trial.hits)]:
            step = trace.steps[hit.step_index]
            trial.hits.append(
                TrialHit(
                    trace=label,
                    trace_url=url,
                    step_index=hit.step_index,
                    step_kind=step.kind,
                    score=hit.score,
                    category=hit.category or detector.category,
                    # A rule's own severity, else the one the form sets for the detector.
                    severity=Severity(hit.severity).label if hit.severity else "the detector's",
                    rationale=hit.rationale,
                    evidence=highlight(step.content, hit.start, hit.end),
                )
            )
    return trial


def latest_traces(count: int) -> Iterator[tuple[str, str | None, ScanTrace]]:
    """The most recently ingested traces, loaded one at a time so memory holds one trace."""
    rows = Trace.objects.order_by("-ingested_at", "-id").values_list(
        "id", "source__slug", "external_id"
    )[:count]
    for trace_id, source, external_id in rows:
        loaded = load_scan_trace(trace_id)
        if loaded is not None:
            url = reverse("admin:traces_trace_change", args=[trace_id])
            yield f"{source}:{external_id}", url, loaded[0]


def try_detector(form: DetectorForm) -> Trial:
    """Run the detector as ``form`` configures it (valid, unsaved) on what the admin chose."""
    try:
        detector: DetectorKind | Exception = form.trial_detector()
    except Exception as exc:  # a kind that fails to build reports it like a failed scan
        detector = exc
    if form.trying == "paste":
        traces = [(doc.external_id, None, ScanTrace.from_doc(doc)) for doc in form.pasted]
        scope = "the pasted trace" if len(traces) == 1 else f"the {len(traces)} pasted traces"
        return run_trial(detector, traces, scope=scope)
    count = form.trial_count
    return run_trial(detector, latest_traces(count), scope=f"the latest {count} traces")


# --- The admins -----------------------------------------------------------------------------


class AdminOnly:
    """Only admins (superusers, the "admin" group) see or touch these models; staff get 403."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return is_admin(request.user)

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return is_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return is_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return is_admin(request.user)


class ReadOnly(AdminOnly):
    """Written by detection itself; admins read them."""

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def kind_label(kind: str) -> str:
    """A kind's label with its name; a detector can outlive the code of its kind."""
    cls = KINDS.get(kind)
    return f"{cls.label} ({kind})" if cls is not None else f"{kind} (not installed)"


@admin.register(Detector)
class DetectorAdmin(AdminOnly, admin.ModelAdmin):
    form = DetectorForm
    list_display = [
        "name",
        "kind_display",
        "enabled",
        "category",
        "severity",
        "version",
        "findings_count",
    ]
    list_display_links = ["name"]
    list_filter = ["enabled", "kind", "category", "severity"]
    search_fields = ["name", "category"]
    actions = ["enable_selected", "disable_selected", "reset_selected"]
    readonly_fields = ["kind_display", "version"]
    save_on_top = True  # so Enter in a field saves, rather than pressing the first "Try it"

    class Media:
        css = {"all": ["css/detection-admin.css"]}

    def get_fieldsets(self, request: HttpRequest, obj: Detector | None = None) -> list:
        fields = ["name", "kind_display", "enabled", "category", "severity", "step_kinds"]
        if obj is not None:
            fields.insert(2, "version")
        return [(None, {"fields": fields})]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # A correlated count on the (detector, version) index: no join for the page's other
        # queries (its count, the filters) to drag along.
        current = (
            Finding.objects.filter(detector=OuterRef("pk"), detector_version=OuterRef("version"))
            .order_by()
            .values("detector")
            .annotate(count=Count("id"))
            .values("count")
        )
        findings = Coalesce(Subquery(current), 0)
        return super().get_queryset(request).annotate(findings_count=findings)

    @admin.display(description="kind", ordering="kind")
    def kind_display(self, obj: Detector) -> str:
        return kind_label(obj.kind)

    @admin.display(description="current findings", ordering="findings_count")
    def findings_count(self, obj: Detector) -> int:
        return obj.findings_count

    def get_form(
        self, request: HttpRequest, obj: Detector | None = None, change: bool = False, **kwargs
    ) -> type[DetectorForm]:
        form = super().get_form(request, obj, change, **kwargs)
        trying = request.POST.get("_try") if request.method == "POST" else None
        attrs = {
            "kind": obj.kind if obj is not None else request.GET.get("kind", ""),
            "trying": trying if trying in ("paste", "recent") else None,
        }
        return type(form.__name__, (form,), attrs)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """Without a known ``?kind=``, the add page asks which kind of detector to add."""
        if request.GET.get("kind") not in KINDS:
            if not self.has_add_permission(request):
                raise PermissionDenied
            return self.choose_kind_view(request)
        return super().add_view(request, form_url, extra_context)

    def choose_kind_view(self, request: HttpRequest) -> TemplateResponse:
        add_url = reverse("admin:detection_detector_add")
        kinds = [
            {"name": name, "label": cls.label, "description": cls.description}
            for name, cls in sorted(KINDS.items(), key=lambda item: item[1].label)
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add detector: choose its kind",
            "kinds": kinds,
            "add_url": add_url,
            "unknown": request.GET.get("kind", ""),
        }
        return TemplateResponse(request, "admin/detection/detector/choose_kind.html", context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Detector | None = None,
    ) -> HttpResponse:
        form: DetectorForm = context["adminform"].form
        cls = form.kind_class
        # Plain data: a template would call a class.
        context["kind"] = cls and {"label": cls.label, "description": cls.description}
        context["kind_name"] = form.instance.kind
        context["params_nodes"] = form.params.nodes if form.params is not None else []
        context["try_trace"] = form["try_trace"]
        context["try_last"] = form["try_last"]
        if form.ready_to_try:
            context["trial"] = try_detector(form)
        if obj is not None and obj.pk is not None:
            context["version_counts"] = version_counts(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(
        self, request: HttpRequest, obj: Detector, form: DetectorForm, change: bool
    ) -> None:
        save_detector(obj, changed=form.changed_fields())

    def construct_change_message(
        self, request: HttpRequest, form: DetectorForm, formsets: list, add: bool = False
    ) -> list:
        """The history names model fields ("params"), not the generated parameter fields."""
        if add:
            return super().construct_change_message(request, form, formsets, add)
        fields = [
            str(Detector._meta.get_field(name).verbose_name) for name in form.changed_fields()
        ]
        return [{"changed": {"fields": fields}}] if fields else []

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet, enabled: bool) -> None:
        ids = list(queryset.filter(enabled=not enabled).values_list("pk", flat=True))
        with transaction.atomic():
            for detector in Detector.objects.filter(pk__in=ids).select_for_update():
                detector.enabled = enabled
                save_detector(detector, changed=["enabled"])
        state = "enabled" if enabled else "disabled"
        self.message_user(request, f"{len(ids)} detector(s) {state}.", messages.SUCCESS)

    @admin.action(description="Enable selected detectors")
    def enable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected detectors")
    def disable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, False)

    @admin.action(description="Reset selected built-in detectors to this release's rules")
    def reset_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        builtin = builtin_defaults()
        reset, current, skipped = [], 0, []
        with transaction.atomic():
            for detector in queryset.select_for_update().order_by("name"):
                if detector.name not in builtin:
                    skipped.append(detector.name)
                elif reset_to_default(detector):
                    reset.append(f"{detector.name} (now v{detector.version})")
                else:
                    current += 1
        if reset:
            self.message_user(request, "Reset: " + ", ".join(reset) + ".", messages.SUCCESS)
        if current:
            self.message_user(request, f"{current} already had this release's rules.")
        if skipped:
            self.message_user(
                request,
                "Not built in, left alone: " + ", ".join(skipped) + ".",
                messages.WARNING,
            )


@admin.register(Finding)
class FindingAdmin(ReadOnly, admin.ModelAdmin):
    list_display = [
        "id",
        "detector",
        "detector_version",
        "trace",
        "step_index",
        "score",
        "category",
        "severity",
        "created_at",
    ]
    list_filter = ["detector", "category", "severity", "created_at"]
    list_select_related = ["detector", "trace"]
    search_fields = ["trace__external_id", "rationale"]
    show_full_result_count = False
    fields = [
        "detector",
        "detector_version",
        "trace",
        "step_index",
        "score",
        "category",
        "severity",
        "rationale",
        "evidence",
        "created_at",
    ]
    readonly_fields = ["step_index", "evidence"]

    class Media:
        css = {"all": ["css/detection-admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The step's index without loading its (possibly large) content.
        return super().get_queryset(request).annotate(step_index=F("segment__step__index"))

    @admin.display(description="step", ordering="segment__step__index")
    def step_index(self, obj: Finding) -> int:
        return obj.step_index

    @admin.display(description="evidence")
    def evidence(self, obj: Finding) -> SafeString:
        segment = obj.segment
        return format_html(
            '<div class="evidence">{}</div>',
            highlight(segment.step.content, segment.start, segment.end),
        )


@admin.register(DetectionRun)
class DetectionRunAdmin(ReadOnly, admin.ModelAdmin):
    list_display = [
        "trace",
        "detector",
        "detector_version",
        "state",
        "hits",
        "finished_at",
        "attempts",
        "retry_at",
    ]
    list_filter = ["state", "detector", "finished_at"]
    list_select_related = ["trace", "detector"]
    search_fields = ["trace__external_id", "error"]
    show_full_result_count = False


@admin.register(ClassifierModel)
class ClassifierModelAdmin(ReadOnly, admin.ModelAdmin):
    """Trained by ``manage.py train_classifier`` or its task; admins read and promote them."""

    list_display = ["name", "version", "created_at", "promoted_at", "auroc", "trained_on"]
    list_filter = ["name"]
    fields = [
        "name",
        "version",
        "created_at",
        "promoted_at",
        "trained_on",
        "training_digest",
        "parameters",
        "metrics",
        "pipeline_sha256",
    ]
    actions = ["promote"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).defer("pipeline")

    @admin.display(description="held-out AUROC")
    def auroc(self, obj: ClassifierModel) -> str:
        value = (obj.metrics.get("held_out") or {}).get("auroc")
        return "-" if value is None else f"{value:.3f}"

    @admin.action(description="Promote the selected version")
    def promote(self, request: HttpRequest, queryset: QuerySet) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", messages.ERROR)
            return
        model = queryset.get()
        redone = classifier_promote(model)
        self.message_user(
            request,
            f"{model} promoted; {len(redone)} detector(s) following it rescan.",
            messages.SUCCESS,
        )
