"""Alert rules, edited by admins, and the alerts they made with every delivery attempt, which
are records: seen here, never changed."""

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from review.alerts.forms import AlertRuleForm
from review.models import Alert, AlertDelivery, AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = ["name", "enabled", "min_severity", "trigger", "source", "category", "detector"]
    list_filter = ["enabled", "trigger", "min_severity"]
    list_select_related = ["source", "category", "detector"]
    fieldsets = [
        (None, {"fields": ["name", "enabled"]}),
        ("What alerts", {"fields": ["min_severity", "trigger", "source", "category", "detector"]}),
        ("Where it goes", {"fields": ["webhook_url", "secret", "emails"]}),
    ]


class DeliveryInline(admin.TabularInline):
    model = AlertDelivery
    fields = ["attempt", "channel", "started_at", "status_code", "error", "duration_ms", "ok"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "rule", "event", "trace", "severity", "state", "attempts"]
    list_filter = ["state", "event", "severity", "rule"]
    list_select_related = ["rule", "trace"]
    fields = [
        "uid",
        "rule",
        "event",
        "trace",
        "severity",
        "state",
        "attempts",
        "error",
        "email_sent_at",
        "webhook_sent_at",
        "created_at",
        "payload",
    ]
    readonly_fields = fields
    inlines = [DeliveryInline]

    @admin.display(description="body sent")
    def payload(self, alert: Alert) -> str:
        return format_html("<pre>{}</pre>", json.dumps(json.loads(alert.body), indent=2))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
