import csv
import json
from dataclasses import dataclass
from itertools import chain

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from detection.admin import DetectorAdmin
from detection.evaluation import Report, Score
from detection.models import Detector
from review import figures
from review.admin_training import ClassifierTrainingAdmin  # noqa: F401 (registers it)
from review.alerts.admin import AlertAdmin, AlertRuleAdmin  # noqa: F401 (registers them)
from review.models import (
    Assignment,
    AuditEntry,
    Category,
    DatasetVersion,
    Decision,
    Label,
    Queue,
)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position", "active"]
    list_editable = ["position", "active"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "level", "order", "overlap", "active", "hide_detectors", "created_at"]
    list_filter = ["level", "active", "hide_detectors"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Labels, decisions, dataset versions and the audit log are append-only or immutable: seen
    here, never changed, by anyone (superusers too)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Label)
class LabelAdmin(ReadOnlyAdmin):
    list_display = ["trace", "segment", "author", "verdict", "category", "severity", "revision"]
    list_filter = ["verdict", "category", "severity"]
    list_select_related = ["trace", "author", "category"]
    raw_id_fields = ["trace", "segment"]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["trace", "segment", "reviewer", "verdict", "category", "severity", "created_at"]
    list_filter = ["verdict", "category"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["queue", "user", "trace", "segment", "leased_until", "submitted_at"]
    list_filter = ["queue"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["dataset", "version", "state", "format", "row_count", "created_by"]
    list_filter = ["state", "format"]
    list_select_related = ["dataset", "created_by"]
    exclude = ["card"]


class _Lines:
    """A file-like target for ``csv.writer`` that hands back each line rather than keeping it."""

    def write(self, line: str) -> str:
        return line


# A cell a spreadsheet would run as a formula is written as text (OWASP's "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
AUDIT_CSV_COLUMNS = [
    "time",
    "actor",
    "actor_user_id",
    "actor_token_id",
    "address",
    "action",
    "object_type",
    "object_id",
    "object",
    "detail",
]


def csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def audit_csv_row(entry: AuditEntry) -> list[str]:
    values = [
        entry.created_at.isoformat(),
        entry.actor,
        entry.actor_user_id,
        entry.actor_token_id,
        entry.address,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.object_repr,
        json.dumps(entry.detail, ensure_ascii=False, sort_keys=True),
    ]
    return [csv_cell(value) for value in values]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log: read, filtered and exported as CSV by admins, changed by nobody."""

    list_display = ["created_at", "actor", "action", "object_type", "object_repr", "address"]
    list_filter = ["action", "object_type", "actor_user", "actor_token"]
    date_hierarchy = "created_at"
    search_fields = ["actor", "object_repr", "=object_id", "address"]
    show_full_result_count = False

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name="review_auditentry_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The entries the list shows with the same filters and search, every page of them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            entries = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("These filters do not apply to the audit log.")
        writer = csv.writer(_Lines())
        lines = chain(
            [writer.writerow(AUDIT_CSV_COLUMNS)],
            (writer.writerow(audit_csv_row(e)) for e in entries.iterator(chunk_size=2000)),
        )
        return StreamingHttpResponse(
            lines,
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'},
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra = {"export_url": reverse("admin:review_auditentry_export")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})


@dataclass
class QualityRow:
    label: str
    depth: int  # 0 a detector, 1 one of its versions, 2 a rule of that version
    score: Score


def quality_rows(report: Report, level: str, *, detector: str | None = None) -> list[QualityRow]:
    rows = []
    for score in report.scores:
        if score.level != level or (detector is not None and score.unit.detector != detector):
            continue
        unit = score.unit
        if unit.rule is not None:
            rows.append(QualityRow(unit.rule or "(no rule)", 2, score))
        elif unit.version is not None:
            rows.append(QualityRow(f"v{unit.version}", 1, score))
        else:
            rows.append(QualityRow(unit.detector, 0, score))
    return rows


def quality_levels(report: Report, *, detector: str | None = None) -> list[dict]:
    return [
        {
            "name": level,
            "title": title,
            "items": report.items[level],
            "rows": quality_rows(report, level, detector=detector),
        }
        for level, title in (("trace", "Whole traces"), ("segment", "Segments"))
    ]


# Detectors are configured in detection's admin; their quality needs people's labels, which only
# this app knows, so the page is added here and detection keeps depending on nothing above it.
admin.site.unregister(Detector)


@admin.register(Detector)
class DetectorQualityAdmin(DetectorAdmin):
    """The detectors' admin with their precision and recall against final human labels."""

    def get_urls(self) -> list[URLPattern]:
        quality = path(
            "quality/",
            self.admin_site.admin_view(self.quality_view),
            name="detection_detector_quality",
        )
        return [quality, *super().get_urls()]

    def quality_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        shown = figures.shown()
        report = shown.report()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Detection quality against people's labels",
            "shown": shown,
            "report": report,
            "levels": quality_levels(report) if report else [],
            "api_url": reverse("detection-quality"),
        }
        return TemplateResponse(request, "admin/detection/detector/quality.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra = {"quality_url": reverse("admin:detection_detector_quality")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Detector | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk is not None:
            shown = figures.shown()
            report = shown.report()
            context["quality_shown"] = shown
            context["quality_levels"] = quality_levels(report, detector=obj.name) if report else []
            context["quality_url"] = reverse("admin:detection_detector_quality")
        return super().render_change_form(request, context, add, change, form_url, obj)
