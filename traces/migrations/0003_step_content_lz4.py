"""Step text compressed with lz4 rather than pglz on PostgreSQL: several times faster to write.

Older servers, or ones built without lz4, keep their default; nothing else depends on it.
"""

from django.db import migrations

COLUMNS = ("content", "arguments", "metadata")


def use_lz4(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("traces", "Step")._meta.db_table
    statements = " ".join(
        f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4;" for column in COLUMNS
    )
    schema_editor.execute(
        f"DO $$ BEGIN {statements} EXCEPTION WHEN OTHERS THEN "
        "RAISE NOTICE 'lz4 compression not available; keeping the default'; END $$;"
    )


class Migration(migrations.Migration):
    dependencies = [("traces", "0002_step_trace_index_only")]

    operations = [migrations.RunPython(use_lz4, migrations.RunPython.noop)]
