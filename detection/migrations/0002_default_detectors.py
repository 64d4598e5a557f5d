"""The default detectors: one configured instance of each built-in kind.

Their parameters are each kind's ``DEFAULT`` as the code defines it when this migration runs; a
detector of the same name that already exists is left as its admins configured it.
"""

from django.db import migrations

from detection.kinds import claim_vs_result, llm_judge, pattern, tool_action

DEFAULTS = [pattern.DEFAULT, tool_action.DEFAULT, claim_vs_result.DEFAULT, llm_judge.DEFAULT]


def seed(apps, schema_editor) -> None:
    Detector = apps.get_model("detection", "Detector")
    for default in DEFAULTS:
        Detector.objects.get_or_create(
            name=default["name"],
            defaults={
                "kind": default["kind"],
                "params": default["params"],
                "category": default["category"],
                "severity": default["severity"],
                "step_kinds": default["step_kinds"],
                "enabled": default.get("enabled", True),
            },
        )


class Migration(migrations.Migration):
    dependencies = [("detection", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
