from dataclasses import dataclass

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from detection.admin import DetectorAdmin
from detection.evaluation import Report, Score
from detection.models import Detector
from review import figures
from review.alerts.admin import AlertAdmin, AlertRuleAdmin  # noqa: F401 (registers them)
from review.models import Assignment, Category, DatasetVersion, Decision, Label, Queue


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position", "active"]
    list_editable = ["position", "active"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "level", "order", "overlap", "active", "created_at"]
    list_filter = ["level", "active"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Labels, decisions and dataset versions are append-only or immutable: seen here, never
    changed."""

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
