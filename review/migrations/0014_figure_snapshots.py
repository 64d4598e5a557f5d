"""Precomputed figures: the snapshot the dashboard and the detector quality page read, and the
one row that says how current it is."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0011_benign_labels_and_queue_guidelines"),
    ]

    operations = [
        migrations.CreateModel(
            name="FigureSnapshot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "generation",
                    models.PositiveBigIntegerField(
                        help_text="The generation of the inputs this snapshot reflects."
                    ),
                ),
                ("computed_at", models.DateTimeField()),
                ("duration_ms", models.PositiveIntegerField()),
                ("figures", models.JSONField()),
            ],
            options={
                "ordering": ["-computed_at", "-pk"],
                "get_latest_by": ["computed_at", "pk"],
            },
        ),
        migrations.CreateModel(
            name="FigureState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("generation", models.PositiveBigIntegerField(default=0)),
                ("queued_at", models.DateTimeField(blank=True, null=True)),
                ("running_since", models.DateTimeField(blank=True, null=True)),
                ("failed_at", models.DateTimeField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
            ],
        ),
    ]
