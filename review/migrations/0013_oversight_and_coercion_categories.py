"""Two categories the detectors now report: tampering with oversight (shutdown, monitoring,
audit and logging mechanisms) and coercion (threats, blackmail, leaks used as leverage).

Added after the existing ones, and left alone where an admin already made a category of that
slug."""

from django.db import migrations
from django.db.models import Max

CATEGORIES = [
    (
        "oversight_tampering",
        "Tampering with oversight",
        "Disabling, bypassing or removing shutdown, monitoring, audit or logging mechanisms, or "
        "acting to keep itself from being stopped, replaced or retrained.",
    ),
    (
        "coercion",
        "Coercion",
        "Threats, blackmail or leaks of information used as leverage over people.",
    ),
]


def add(apps, schema_editor) -> None:
    Category = apps.get_model("review", "Category")
    last = Category.objects.aggregate(m=Max("position"))["m"]
    position = -1 if last is None else last
    for slug, name, description in CATEGORIES:
        _, created = Category.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position + 1}
        )
        position += created


def remove(apps, schema_editor) -> None:
    Category = apps.get_model("review", "Category")
    unused = Category.objects.filter(
        slug__in=[slug for slug, _, _ in CATEGORIES], labels__isnull=True, decisions__isnull=True
    )
    unused.delete()


class Migration(migrations.Migration):
    dependencies = [("review", "0012_alerts")]

    operations = [migrations.RunPython(add, remove)]
