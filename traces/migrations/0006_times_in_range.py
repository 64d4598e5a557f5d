"""Stored times stay within a day of the ends of Python's calendar, checked by the database.

PostgreSQL accepted times that Python cannot represent (year 0, year 10000), and one such row
broke every list that showed it. Rows stored before the check keep the time they were sent with as
text in their metadata (``<field>_out_of_range``), and the column is emptied.
"""

import datetime

from django.db import migrations, models

EARLIEST = datetime.datetime(1, 1, 2, tzinfo=datetime.UTC)
LATEST = datetime.datetime(9999, 12, 30, tzinfo=datetime.UTC)
COLUMNS = (
    ("traces_trace", "started_at"),
    ("traces_trace", "ended_at"),
    ("traces_step", "timestamp"),
)


def move_times_out_of_range_into_metadata(apps, schema_editor):
    """Only PostgreSQL could store such times: SQLite's writes failed on converting them to UTC."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table, column in COLUMNS:
            cursor.execute(
                f"UPDATE {table} SET metadata = metadata"  # noqa: S608 (names from COLUMNS)
                f" || jsonb_build_object('{column}_out_of_range', {column}::text),"
                f" {column} = NULL WHERE {column} < %s OR {column} > %s",
                [EARLIEST, LATEST],
            )


def in_range(field: str) -> models.Q:
    return models.Q(
        (f"{field}__isnull", True), (f"{field}__range", (EARLIEST, LATEST)), _connector="OR"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0004_trace_search_indexed"),
    ]

    operations = [
        migrations.RunPython(move_times_out_of_range_into_metadata, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="step",
            constraint=models.CheckConstraint(
                condition=in_range("timestamp"), name="step_timestamp_in_range"
            ),
        ),
        migrations.AddConstraint(
            model_name="trace",
            constraint=models.CheckConstraint(
                condition=in_range("started_at"), name="trace_started_at_in_range"
            ),
        ),
        migrations.AddConstraint(
            model_name="trace",
            constraint=models.CheckConstraint(
                condition=in_range("ended_at"), name="trace_ended_at_in_range"
            ),
        ),
    ]
