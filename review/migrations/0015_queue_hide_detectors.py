"""Queues may hide the detectors from labelers until their first verdict on an item."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("review", "0014_figure_snapshots")]

    operations = [
        migrations.AddField(
            model_name="queue",
            name="hide_detectors",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Labelers see no detector flag, score, rationale, severity or suggested "
                    "category on an item of this queue until they have given their own verdict "
                    "on it, so the detectors do not anchor their judgement."
                ),
                verbose_name="Hide the detectors until the first verdict",
            ),
        ),
    ]
