"""Traces say whether their search documents are written, with a partial index over the ones
that are not, so the sweep that re-queues them finds them at any age without scanning traces."""

from django.db import migrations, models


def mark_indexed_traces(apps, schema_editor):
    """Traces stored before the flag whose documents are already written (review's search
    documents, when that table exists yet) need not be indexed again."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    if "review_stepsearch" not in connection.introspection.table_names():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE traces_trace t SET search_indexed = true WHERE EXISTS ("
            "SELECT 1 FROM traces_step s JOIN review_stepsearch d ON d.step_id = s.id "
            "WHERE s.trace_id = t.id AND s.index = 0)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0003_step_content_lz4"),
    ]

    operations = [
        migrations.AddField(
            model_name="trace",
            name="search_indexed",
            field=models.BooleanField(
                default=False,
                help_text="Its steps' full-text search documents are written (PostgreSQL only).",
            ),
        ),
        migrations.AddIndex(
            model_name="trace",
            index=models.Index(
                condition=models.Q(("search_indexed", False)),
                fields=["updated_at"],
                name="trace_search_pending",
            ),
        ),
        migrations.RunPython(mark_indexed_traces, migrations.RunPython.noop),
    ]
