"""Full-text search documents of steps, with a GIN index, on PostgreSQL.

The table exists everywhere (SQLite accepts the column and leaves it empty, searching content
directly); the GIN index is made on PostgreSQL only, ``CONCURRENTLY`` so a large installation
keeps taking traces meanwhile.
"""

import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

INDEX = "step_search_document"


def create_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("review", "StepSearch")._meta.db_table
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON {table} USING gin (document)"
        )


def drop_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("review", "0002_default_taxonomy_and_roles"),
        ("traces", "0003_step_content_lz4"),
    ]

    operations = [
        migrations.CreateModel(
            name="StepSearch",
            fields=[
                (
                    "step",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search",
                        serialize=False,
                        to="traces.step",
                    ),
                ),
                ("document", django.contrib.postgres.search.SearchVectorField()),
            ],
        ),
        migrations.RunPython(create_index, drop_index),
    ]
