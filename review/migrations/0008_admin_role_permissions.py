"""What the admin role may do in the admin: the taxonomy, queues, sources and tokens, and reading
what people and ingest stored. Detectors check the role themselves (``detection.admin``).

Permissions are made after migrations run, so a fresh database has none yet: they are made here
first, as Django's ``post_migrate`` would.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADMIN = "admin"
GRANTS = {
    ("review", "category"): ("add", "change", "delete", "view"),
    ("review", "queue"): ("add", "change", "delete", "view"),
    ("review", "label"): ("view",),
    ("review", "decision"): ("view",),
    ("review", "assignment"): ("view",),
    ("review", "datasetversion"): ("view",),
    ("traces", "source"): ("add", "change", "view"),
    ("traces", "apitoken"): ("change", "view"),  # tokens are issued by a command; here revoked
    ("traces", "trace"): ("view",),
    ("traces", "step"): ("view",),
    ("traces", "segment"): ("view",),
}


def granted(apps, alias: str, grants: dict) -> list:
    Permission = apps.get_model("auth", "Permission")
    permissions = []
    for (app_label, model), actions in grants.items():
        permissions += Permission.objects.using(alias).filter(
            content_type__app_label=app_label,
            codename__in=[f"{action}_{model}" for action in actions],
        )
    return permissions


def grant_to_admins(apps, schema_editor, grants: dict) -> None:
    """Give the admin group ``grants``; later migrations granting more call this too."""
    alias = schema_editor.connection.alias
    for app_label in {app for app, _ in grants}:
        config = apps.get_app_config(app_label)
        config.models_module = True
        create_permissions(config, verbosity=0, using=alias, apps=apps)
        config.models_module = None
    group, _ = apps.get_model("auth", "Group").objects.using(alias).get_or_create(name=ADMIN)
    group.permissions.add(*granted(apps, alias, grants))


def revoke_from_admins(apps, schema_editor, grants: dict) -> None:
    alias = schema_editor.connection.alias
    group = apps.get_model("auth", "Group").objects.using(alias).filter(name=ADMIN).first()
    if group is not None:
        group.permissions.remove(*granted(apps, alias, grants))


def grant(apps, schema_editor) -> None:
    grant_to_admins(apps, schema_editor, GRANTS)


def revoke(apps, schema_editor) -> None:
    revoke_from_admins(apps, schema_editor, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0007_note_limit"),
        ("traces", "0004_trace_search_indexed"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
