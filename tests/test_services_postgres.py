"""Behaviour that only PostgreSQL and Redis show: COPY, concurrent ingest, the Celery broker."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from config.celery import app as celery_app
from tests.samples import jsonl, trace
from traces.models import Step, Trace


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_ingest_of_the_same_traces_stores_each_once(ingest_client):
    docs = jsonl(*(trace(f"t{i}", steps=5) for i in range(50)))
    results: list[dict] = []
    errors: list[BaseException] = []
    token = ingest_client._credentials["HTTP_AUTHORIZATION"]

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token)
        try:
            response = client.post(
                "/api/v1/traces/bulk", data=docs, content_type="application/x-ndjson"
            )
            results.append(response.json())
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Trace.objects.count() == 50
    assert Step.objects.count() == 250
    created = sum(r["summary"].get("created", 0) for r in results)
    unchanged = sum(r["summary"].get("unchanged", 0) for r in results)
    assert (created, unchanged) == (50, 150)


@pytest.mark.postgres
@pytest.mark.django_db
def test_steps_go_in_through_copy_with_json_and_times_intact(ingest_client):
    doc = trace(steps=3)
    doc["steps"][2]["arguments"] = {"cmd": "ls", "nested": [1, {"a": None}], "quote": 'it\'s "x"'}
    doc["steps"][2]["timestamp"] = "2026-03-19T10:00:05.250+02:00"
    doc["steps"][2]["metadata"] = {"latency_ms": 12}
    doc["steps"][1]["content"] = "tab\there, backslash \\ and newline\nend"
    response = ingest_client.post(
        "/api/v1/traces/", data=jsonl(doc), content_type="application/json"
    )
    assert response.status_code == 201
    steps = list(Step.objects.filter(trace_id=response.json()["id"]).order_by("index"))
    assert steps[2].arguments == doc["steps"][2]["arguments"]
    assert steps[2].metadata == {"latency_ms": 12}
    assert steps[2].timestamp.isoformat() == "2026-03-19T08:00:05.250000+00:00"
    assert steps[1].content == "tab\there, backslash \\ and newline\nend"
    assert steps[0].arguments is None


@pytest.mark.redis
def test_the_celery_app_uses_the_redis_broker():
    assert not celery_app.conf.task_always_eager
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.transport.driver_type == "redis"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bulk_commits_batch_by_batch_and_reports_what_it_stored_when_cut_off(
    ingest_client, settings
):
    """Outside a test transaction, as in production: results in line order, and a stream cut
    off by a limit reports exactly what was committed."""
    import gzip

    settings.TRACEWATCH_INGEST_BATCH_STEPS = 30
    good = jsonl(*(trace(f"t{i}", steps=5) for i in range(40)))
    mixed = good.replace(b'"external_id": "t7"', b'"external_id": 7')
    response = ingest_client.post(
        "/api/v1/traces/bulk", data=mixed, content_type="application/x-ndjson"
    )
    results = response.json()["results"]
    assert [r["line"] for r in results] == list(range(1, 41))
    assert results[7]["status"] == "invalid"
    assert Trace.objects.count() == 39

    settings.TRACEWATCH_MAX_BULK_DECOMPRESSED_BYTES = len(good) // 2
    more = jsonl(*(trace(f"u{i}", steps=5) for i in range(40)))
    response = ingest_client.post(
        "/api/v1/traces/bulk",
        data=gzip.compress(more),
        content_type="application/x-ndjson",
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert response.status_code == 413
    reported = [r["external_id"] for r in response.json()["results"]]
    stored = set(
        Trace.objects.filter(external_id__startswith="u").values_list("external_id", flat=True)
    )
    assert reported and set(reported) == stored


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_times_stored_out_of_range_before_the_check_move_into_metadata(source, read_client):
    call_command("migrate", "traces", "0004", verbosity=0)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO traces_trace (source_id, external_id, agent, model, task, started_at,"
                " metadata, content_hash, step_count, altered, secrets_masked, detection_state,"
                " review_state, max_severity, search_indexed, ingested_at, updated_at) VALUES"
                " (%s, 'old', '', '', '', '0001-01-01 00:00:00+14', '{\"repo\": \"r\"}', '', 1,"
                " false, 0, 'done', 'unreviewed', 0, true, now(), now()) RETURNING id",
                [source.pk],
            )
            (trace_id,) = cursor.fetchone()
            cursor.execute(
                "INSERT INTO traces_step (trace_id, index, kind, content, tool, call_id,"
                " timestamp, metadata) VALUES (%s, 0, 'user', 'hi', '', '',"
                " '9999-12-31 23:59:59-14', '{}')",
                [trace_id],
            )
    finally:
        call_command("migrate", "traces", verbosity=0)
    assert read_client.get("/api/v1/traces/").json()["results"][0]["id"] == trace_id
    stored = read_client.get(f"/api/v1/traces/{trace_id}/").json()
    assert stored["started_at"] is None
    assert stored["metadata"] == {
        "repo": "r",
        "started_at_out_of_range": "0001-12-31 10:00:00+00 BC",
    }
    assert stored["steps"][0]["timestamp"] is None
    assert stored["steps"][0]["metadata"] == {"timestamp_out_of_range": "10000-01-01 13:59:59+00"}
