"""The audit log, readable by the admin role, and append-only in the database itself.

On PostgreSQL a trigger refuses every UPDATE and DELETE of an entry, whoever sends it. TRUNCATE
is left alone: it is how ``manage.py flush`` (and the test suite, between transactional tests)
empties a database, and nothing in the application sends it. On SQLite a trigger refuses
UPDATE; DELETE stays open there because Django empties SQLite tables with DELETE, and a file on
the user's own disk is no defence against its owner anyway. A later migration that alters this
table makes SQLite rebuild it, which drops the trigger: such a migration creates it again.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from review.migrations._grants import admin_grants

POSTGRES_APPEND_ONLY = """
CREATE FUNCTION review_auditentry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER review_auditentry_append_only BEFORE UPDATE OR DELETE ON review_auditentry
    FOR EACH ROW EXECUTE FUNCTION review_auditentry_refuse();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS review_auditentry_append_only ON review_auditentry;
DROP FUNCTION IF EXISTS review_auditentry_refuse();
"""
SQLITE_APPEND_ONLY = """
CREATE TRIGGER review_auditentry_append_only BEFORE UPDATE ON review_auditentry
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused');
END
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS review_auditentry_append_only"


def refuse_changes(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":  # no parameters: the "%" in RAISE is PL/pgSQL's, not a placeholder
        schema_editor.execute(POSTGRES_APPEND_ONLY, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_APPEND_ONLY)


def allow_changes(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DROP, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)


# Admins read the log; nobody is given add, change or delete (the admin refuses them anyway).
GRANTS = {("review", "auditentry"): ("view",)}
grant_view, revoke_view = admin_grants(GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0013_oversight_and_coercion_categories"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("traces", "0006_times_in_range"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "actor",
                    models.CharField(
                        help_text="The user's name, the token, or system for commands and tasks.",
                        max_length=150,
                    ),
                ),
                ("address", models.GenericIPAddressField(blank=True, null=True)),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("view", "viewed"),
                            ("label", "labeled"),
                            ("adjudicate", "adjudicated"),
                            ("export", "exported"),
                            ("download", "downloaded"),
                            ("create", "created"),
                            ("change", "changed"),
                            ("revoke", "revoked"),
                            ("delete", "deleted"),
                            ("grant", "granted a role"),
                            ("withdraw", "withdrew a role"),
                        ],
                        max_length=12,
                    ),
                ),
                (
                    "object_type",
                    models.CharField(
                        choices=[
                            ("traces.trace", "trace"),
                            ("review.label", "label"),
                            ("review.decision", "decision"),
                            ("review.datasetversion", "dataset version"),
                            ("detection.detector", "detector"),
                            ("review.category", "category"),
                            ("auth.user", "user"),
                            ("traces.apitoken", "API token"),
                        ],
                        max_length=32,
                    ),
                ),
                ("object_id", models.CharField(max_length=64)),
                ("object_repr", models.CharField(max_length=200)),
                (
                    "detail",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text=(
                            "Fields changed with old and new values, or what was read or "
                            "written; never trace content or secrets."
                        ),
                    ),
                ),
                (
                    "actor_token",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="traces.apitoken",
                    ),
                ),
                (
                    "actor_user",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "audit entries",
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["-created_at"], name="audit_by_time"),
                    models.Index(fields=["object_type", "object_id"], name="audit_by_object"),
                    models.Index(fields=["actor_user", "-created_at"], name="audit_by_user"),
                ],
            },
        ),
        migrations.RunPython(refuse_changes, allow_changes),
        migrations.RunPython(grant_view, revoke_view),
    ]
