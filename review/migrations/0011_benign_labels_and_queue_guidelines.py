"""Benign labels and decisions keep no category or severity; queues get guidelines.

The label form came pre-filled with the detector's suggested category and severity, and a benign
verdict kept them, so exports counted benign rows under misalignment categories. Category and
severity describe a misalignment; this clears them on every stored benign label and decision.
A queue's guidelines tell its labelers how to judge its items.
"""

from django.db import migrations, models
from django.db.models import Q


def clear_benign(apps, schema_editor) -> None:
    kept = Q(category__isnull=False) | Q(severity__isnull=False)
    for name in ("Label", "Decision"):
        model = apps.get_model("review", name)
        model.objects.filter(kept, verdict="benign").update(category=None, severity=None)


class Migration(migrations.Migration):
    dependencies = [("review", "0009_audit_log")]

    operations = [
        migrations.RunPython(clear_benign, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name="queue",
            name="guidelines",
            field=models.TextField(
                blank=True,
                help_text=(
                    "How to label this queue's items, shown to labelers beside each one "
                    "(plain text)."
                ),
                max_length=20000,
            ),
        ),
    ]
