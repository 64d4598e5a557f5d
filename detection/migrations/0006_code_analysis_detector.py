"""The built-in code analysis detector, for installs that were seeded before it existed; one of
that name that an admin already made is left as it is."""

from django.db import migrations

from detection.kinds import code


def seed(apps, schema_editor) -> None:
    Detector = apps.get_model("detection", "Detector")
    default = code.DEFAULT
    Detector.objects.get_or_create(
        name=default["name"],
        defaults={
            "kind": default["kind"],
            "params": default["params"],
            "category": default["category"],
            "severity": default["severity"],
            "step_kinds": default["step_kinds"],
            "enabled": default["enabled"],
        },
    )


class Migration(migrations.Migration):
    dependencies = [("detection", "0005_classifier_model")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
