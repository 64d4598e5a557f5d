"""A GIN index for full-text search over step content, on PostgreSQL only (SQLite searches with
``icontains`` and has no such index).

The indexed expression is the one ``review.selectors.step_search_vector`` builds for queries,
written out again here because a migration must not change when the app's code does. It covers
the first 200,000 characters of a step: PostgreSQL refuses a tsvector over about 1 MB, which a
step of the allowed 1,000,000 characters can exceed, and an index that fails would fail ingest.
Built ``CONCURRENTLY`` so a large steps table keeps taking traces meanwhile.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations
from django.db.models.functions import Left

NAME = "step_content_fts"


def search_index() -> GinIndex:
    return GinIndex(SearchVector(Left("content", 200_000), config="english"), name=NAME)


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.add_index(apps.get_model("traces", "Step"), search_index(), concurrently=True)


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("review", "0002_default_taxonomy_and_roles"),
        ("traces", "0003_step_content_lz4"),
    ]

    operations = [migrations.RunPython(create, drop)]
