"""Granting the admin role permissions from a migration, for each migration that adds models
admins work on in the admin. Permissions are made after migrations run, so a fresh database has
none yet: they are made here first, as Django's ``post_migrate`` would. (Not a migration: the
loader skips modules whose names start with an underscore.)"""

from collections.abc import Callable

from django.contrib.auth.management import create_permissions

ADMIN = "admin"
Grants = dict[tuple[str, str], tuple[str, ...]]


def _granted(apps, alias: str, grants: Grants) -> list:
    Permission = apps.get_model("auth", "Permission")
    permissions = []
    for (app_label, model), actions in grants.items():
        permissions += Permission.objects.using(alias).filter(
            content_type__app_label=app_label,
            codename__in=[f"{action}_{model}" for action in actions],
        )
    return permissions


def admin_grants(grants: Grants) -> tuple[Callable, Callable]:
    """``RunPython`` functions that grant the admin group ``grants`` and take them back."""

    def grant(apps, schema_editor) -> None:
        alias = schema_editor.connection.alias
        for app_label in {app for app, _ in grants}:
            config = apps.get_app_config(app_label)
            config.models_module = True
            create_permissions(config, verbosity=0, using=alias, apps=apps)
            config.models_module = None
        group, _ = apps.get_model("auth", "Group").objects.using(alias).get_or_create(name=ADMIN)
        group.permissions.add(*_granted(apps, alias, grants))

    def revoke(apps, schema_editor) -> None:
        alias = schema_editor.connection.alias
        group = apps.get_model("auth", "Group").objects.using(alias).filter(name=ADMIN).first()
        if group is not None:
            group.permissions.remove(*_granted(apps, alias, grants))

    return grant, revoke
