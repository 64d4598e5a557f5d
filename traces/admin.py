from django.contrib import admin

from traces.models import ApiToken, Segment, Source, Step, Trace


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["slug", "description", "created_at"]
    search_fields = ["slug", "description"]


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "source",
        "agent",
        "model",
        "step_count",
        "detection_state",
        "review_state",
        "max_severity",
        "ingested_at",
    ]
    list_filter = [
        "source",
        "detection_state",
        "review_state",
        "max_severity",
        "altered",
        "model",
        "ingested_at",
    ]
    search_fields = ["external_id", "agent", "model", "task"]
    list_select_related = ["source"]
    date_hierarchy = "ingested_at"
    readonly_fields = ["content_hash", "step_count", "altered", "secrets_masked", "ingested_at"]
    show_full_result_count = False


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["trace", "index", "kind", "tool"]
    list_filter = ["kind"]
    search_fields = ["trace__external_id", "tool", "call_id"]
    list_select_related = ["trace"]
    raw_id_fields = ["trace"]
    show_full_result_count = False


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["step", "start", "end", "origin", "created_by", "created_at"]
    list_filter = ["origin"]
    raw_id_fields = ["step", "created_by"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued with ``manage.py create_token``; here they are seen and revoked."""

    list_display = ["prefix", "name", "scope", "source", "created_at", "last_used_at", "revoked"]
    list_filter = ["scope", "revoked", "source"]
    search_fields = ["name", "prefix"]
    fields = ["name", "prefix", "scope", "source", "created_at", "last_used_at", "revoked"]
    readonly_fields = ["prefix", "scope", "source", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False
