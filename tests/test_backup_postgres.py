"""The backup the README documents: pg_dump of a live database, pg_restore into a fresh one,
and every row comes back."""

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from review.models import Category, Verdict
from review.services import LabelInput, save_label
from tests.samples import jsonl, trace
from traces.models import Trace

TABLES = [
    "traces_source",
    "traces_trace",
    "traces_step",
    "traces_segment",
    "traces_apitoken",
    "detection_detector",
    "review_category",
    "review_label",
    "auth_user",
    "django_migrations",
]


def client_program(name: str) -> str:
    """The PostgreSQL client of the server's own version when ./tw test started it."""
    folder = os.environ.get("TRACEWATCH_PG_BIN")
    return f"{folder}/{name}" if folder else shutil.which(name) or name


def run(*command: str | Path) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def fingerprint(dsn: str) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of all its rows."""
    with psycopg.connect(dsn) as db:
        return {
            table: db.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "  # noqa: S608 -- table names from the list above
                f"FROM {table} t"
            ).fetchone()
            for table in TABLES
        }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_dump_restored_into_a_fresh_database_holds_every_row(ingest_client, tmp_path):
    ingest_client.post(
        "/api/v1/traces/bulk",
        data=jsonl(*(trace(f"b{i}", steps=4) for i in range(5))),
        content_type="application/x-ndjson",
    )
    author = get_user_model().objects.create_user("lena")
    save_label(
        author=author,
        trace=Trace.objects.first(),
        segment=None,
        label=LabelInput(
            verdict=Verdict.MISALIGNED,
            category=Category.objects.first(),
            severity=3,
            note="tests skipped",
        ),
    )
    db = connection.settings_dict
    server = ["-h", db["HOST"], "-p", str(db["PORT"]), "-U", db["USER"]]
    dump = tmp_path / "tracewatch.dump"
    run(client_program("pg_dump"), *server, "--format=custom", "--file", dump, db["NAME"])
    fresh = f"{db['NAME']}_restored"
    run(client_program("createdb"), *server, fresh)
    try:
        run(client_program("pg_restore"), *server, "--no-owner", "--dbname", fresh, dump)
        base = f"host={db['HOST']} port={db['PORT']} user={db['USER']}"
        original = fingerprint(f"{base} dbname={db['NAME']}")
        restored = fingerprint(f"{base} dbname={fresh}")
    finally:
        run(client_program("dropdb"), *server, fresh)
    assert original["traces_step"][0] == 20 and original["review_label"][0] == 1
    assert restored == original
