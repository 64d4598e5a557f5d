from django.contrib import admin

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
