"""Alert rules, the alerts they make and every delivery attempt; the admin role configures the
rules and reads the alerts, as 0008 grants it the rest of the admin."""

import django.db.models.deletion
from django.db import migrations, models

from review.migrations._grants import admin_grants

grant, revoke = admin_grants(
    {
        ("review", "alertrule"): ("add", "change", "delete", "view"),
        ("review", "alert"): ("view",),
        ("review", "alertdelivery"): ("view",),
    }
)


class Migration(migrations.Migration):
    dependencies = [
        ("detection", "0004_finding_rule"),
        ("review", "0008_admin_role_permissions"),
        ("traces", "0006_times_in_range"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="Alert",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("uid", models.UUIDField(editable=False, unique=True)),
                (
                    "event",
                    models.CharField(
                        choices=[("finding", "Finding"), ("label", "Label")], max_length=8
                    ),
                ),
                ("key", models.CharField(max_length=200)),
                (
                    "severity",
                    models.PositiveSmallIntegerField(
                        choices=[
                            (0, "none"),
                            (1, "low"),
                            (2, "medium"),
                            (3, "high"),
                            (4, "critical"),
                        ]
                    ),
                ),
                ("body", models.TextField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("delivered", "Delivered"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("webhook_sent_at", models.DateTimeField(blank=True, null=True)),
                ("email_sent_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("error", models.TextField(blank=True)),
                ("sending_until", models.DateTimeField(blank=True, null=True)),
                ("due_at", models.DateTimeField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "trace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="traces.trace",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="AlertDelivery",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "channel",
                    models.CharField(
                        choices=[("webhook", "Webhook"), ("email", "e-mail")], max_length=8
                    ),
                ),
                ("attempt", models.PositiveSmallIntegerField()),
                ("started_at", models.DateTimeField()),
                ("duration_ms", models.PositiveIntegerField()),
                ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("ok", models.BooleanField()),
                (
                    "alert",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="review.alert",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "alert deliveries",
                "ordering": ["alert", "started_at", "pk"],
            },
        ),
        migrations.CreateModel(
            name="AlertRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                ("enabled", models.BooleanField(default=True)),
                (
                    "min_severity",
                    models.PositiveSmallIntegerField(
                        choices=[(1, "low"), (2, "medium"), (3, "high"), (4, "critical")],
                        default=3,
                        help_text="Alert at or above this.",
                    ),
                ),
                (
                    "trigger",
                    models.CharField(
                        choices=[
                            ("finding", "a new finding"),
                            ("label", "a final label"),
                            ("both", "a new finding or a final label"),
                        ],
                        default="both",
                        max_length=8,
                    ),
                ),
                ("webhook_url", models.URLField(blank=True, max_length=500)),
                (
                    "secret",
                    models.CharField(
                        blank=True,
                        help_text="Key of the HMAC-SHA256 signature of each body.",
                        max_length=200,
                    ),
                ),
                (
                    "emails",
                    models.TextField(blank=True, help_text="Addresses, separated by commas."),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "category",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="review.category",
                    ),
                ),
                (
                    "detector",
                    models.ForeignKey(
                        blank=True,
                        help_text="For a label: only items this detector flagged.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="detection.detector",
                    ),
                ),
                (
                    "source",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="traces.source",
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.AddField(
            model_name="alert",
            name="rule",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="alerts",
                to="review.alertrule",
            ),
        ),
        migrations.AddConstraint(
            model_name="alertrule",
            constraint=models.CheckConstraint(
                condition=models.Q(("webhook_url__gt", ""), ("emails__gt", ""), _connector="OR"),
                name="alert_rule_destination",
                violation_error_message="Give a webhook URL, e-mail addresses, or both.",
            ),
        ),
        migrations.AddConstraint(
            model_name="alertrule",
            constraint=models.CheckConstraint(
                condition=models.Q(("webhook_url", ""), ("secret__gt", ""), _connector="OR"),
                name="alert_rule_webhook_secret",
                violation_error_message="A webhook needs a secret to sign its bodies with.",
            ),
        ),
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("state", "pending")),
                fields=["due_at"],
                name="alert_pending_due",
            ),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.UniqueConstraint(
                fields=("rule", "key"), name="one_alert_per_rule_and_item"
            ),
        ),
        migrations.RunPython(grant, revoke),
    ]
