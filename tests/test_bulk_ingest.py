import gzip
import json
from unittest import mock

import pytest
from django.db import DataError
from django.test import override_settings

from tests.samples import jsonl, trace
from traces import services
from traces.models import Step, Trace
from traces.services import BATCH_DOCUMENTS, SourceResolver, ingest_documents

URL = "/api/v1/traces/bulk"
pytestmark = pytest.mark.django_db


def post_bulk(client, data: bytes, query: str = "", **headers):
    return client.post(URL + query, data=data, content_type="application/x-ndjson", **headers)


def test_bulk_keeps_good_lines_when_others_fail(ingest_client):
    data = jsonl(
        trace("a", steps=2),
        trace("b", steps=[{"kind": "user"}, {"kind": "nonsense"}]),
        "",
        "{not json",
        trace("c", steps=4),
    )
    response = post_bulk(ingest_client, data)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["line"], r["status"]) for r in results] == [
        (1, "created"),
        (2, "invalid"),
        (4, "invalid"),
        (5, "created"),
    ]
    assert results[1]["field"] == "steps[1].kind"
    assert response.json()["summary"] == {"created": 2, "invalid": 2}
    assert sorted(Trace.objects.values_list("external_id", flat=True)) == ["a", "c"]
    assert Step.objects.count() == 6
    assert not Trace.objects.filter(external_id="b").exists()


def test_bulk_is_idempotent(ingest_client):
    data = jsonl(*(trace(f"t{i}") for i in range(20)))
    first = post_bulk(ingest_client, data).json()
    again = post_bulk(ingest_client, data).json()
    assert again["summary"] == {"unchanged": 20}
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    assert Step.objects.count() == 60


def test_bulk_reports_a_conflicting_duplicate_within_one_request(ingest_client):
    data = jsonl(trace("x", steps=2), trace("x", steps=2), trace("x", steps=3))
    results = post_bulk(ingest_client, data).json()["results"]
    assert [r["status"] for r in results] == ["created", "unchanged", "conflict"]
    assert results[0]["id"] == results[1]["id"]
    assert "line 1" in results[2]["error"]
    assert Trace.objects.get().step_count == 2


def test_bulk_replace_updates_traces_in_place(ingest_client):
    post_bulk(ingest_client, jsonl(trace("x", steps=2)))
    response = post_bulk(ingest_client, jsonl(trace("x", steps=5)), "?replace=true")
    assert response.json()["summary"] == {"replaced": 1}
    assert Trace.objects.get().step_count == 5
    assert Step.objects.count() == 5


def test_bulk_accepts_gzip(ingest_client):
    data = gzip.compress(jsonl(*(trace(f"t{i}") for i in range(5))))
    response = post_bulk(ingest_client, data, HTTP_CONTENT_ENCODING="gzip")
    assert response.json()["summary"] == {"created": 5}


def test_bulk_refuses_a_body_that_is_not_gzip_as_declared(ingest_client):
    response = post_bulk(ingest_client, jsonl(trace()), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert "gzip" in response.json()["detail"]
    assert Trace.objects.count() == 0


def test_bulk_refuses_unknown_content_encodings(ingest_client):
    response = post_bulk(ingest_client, jsonl(trace()), HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 400


def test_bulk_caps_the_decompressed_size_and_keeps_what_was_stored(ingest_client, settings):
    one = jsonl(trace("t"))
    settings.TRACEWATCH_MAX_BULK_DECOMPRESSED_BYTES = len(one) * 30
    settings.TRACEWATCH_INGEST_BATCH_STEPS = 30  # so early lines commit before the cap is hit
    data = gzip.compress(jsonl(*(trace(f"t{i}") for i in range(100))))
    response = post_bulk(ingest_client, data, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    body = response.json()
    assert "Decompressed body is larger than" in body["detail"]
    stored = Trace.objects.count()
    assert 0 < stored < 30
    assert len(body["results"]) == stored
    assert f"after {stored}" in body["detail"]


@override_settings(TRACEWATCH_MAX_BULK_BYTES=100)
def test_bulk_refuses_a_body_over_the_limit_before_reading_it(ingest_client):
    response = post_bulk(ingest_client, jsonl(*(trace(f"t{i}") for i in range(3))))
    assert response.status_code == 413
    assert Trace.objects.count() == 0


def test_bulk_needs_an_ingest_token(read_client):
    assert post_bulk(read_client, jsonl(trace())).status_code == 403


def test_bulk_keeps_good_lines_when_others_hold_values_the_store_cannot_take(
    ingest_client, read_client
):
    deep = json.dumps(trace("deep", steps=[{"kind": "tool_call", "arguments": "NESTED"}]))
    data = jsonl(
        trace("a"),
        trace("big", steps=[{"kind": "reasoning", "token_count": 2**31}]),
        deep.replace('"NESTED"', "[" * 2000 + "]" * 2000),
        trace("early", started_at="0001-01-01T00:00:00+14:00"),
        trace("late", steps=[{"kind": "user", "timestamp": "9999-12-31T23:59:59-14:00"}]),
        trace("b"),
    )
    response = post_bulk(ingest_client, data)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["status"], r.get("field", "")[:22]) for r in results] == [
        ("created", ""),
        ("invalid", "steps[0].token_count"),
        ("invalid", "steps[0].arguments[0]["),
        ("invalid", "started_at"),
        ("invalid", "steps[0].timestamp"),
        ("created", ""),
    ]
    assert sorted(Trace.objects.values_list("external_id", flat=True)) == ["a", "b"]
    assert read_client.get("/api/v1/traces/").status_code == 200


def test_bulk_lists_the_first_hundred_failures_and_counts_the_rest(ingest_client):
    data = jsonl(*["{}"] * 250, trace("good"))
    response = post_bulk(ingest_client, data)
    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == {"invalid": 250, "created": 1}
    assert body["unlisted_failures"] == 150
    assert [r["line"] for r in body["results"]] == [*range(1, 101), 251]
    assert Trace.objects.get().external_id == "good"


def test_bulk_caps_the_number_of_lines_blank_ones_included(ingest_client, settings):
    settings.TRACEWATCH_MAX_BULK_LINES = 1000
    settings.TRACEWATCH_INGEST_BATCH_STEPS = 3  # so the first line commits before the cap
    data = gzip.compress(jsonl(trace("first")) + b"\n" * 100_000 + jsonl(trace("last")))
    response = post_bulk(ingest_client, data, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "more than 1000 lines" in response.json()["detail"]
    assert "Lines after 1 were not stored" in response.json()["detail"]
    assert list(Trace.objects.values_list("external_id", flat=True)) == ["first"]


def test_failed_documents_are_handed_on_in_batches_not_held_to_the_end(source):
    consumed = 0

    def documents():
        nonlocal consumed
        for line in range(1, 5001):
            consumed = line
            yield line, b"{}"

    results = ingest_documents(documents=documents(), source_for=SourceResolver(fixed=source))
    first = next(results)
    assert first.status == "invalid"
    assert consumed <= BATCH_DOCUMENTS


def test_bulk_keeps_every_good_line_when_the_database_refuses_one(ingest_client):
    insert = services._insert_steps

    def refuse_one(traces):
        if any(doc.external_id == "refused" for _, doc in traces):
            raise DataError("integer out of range")
        insert(traces)

    data = jsonl(trace("a"), trace("refused"), trace("b"))
    with mock.patch("traces.services._insert_steps", side_effect=refuse_one):
        response = post_bulk(ingest_client, data)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "invalid", "created"]
    assert "the database refused a value: integer out of range" in results[1]["error"]
    assert sorted(Trace.objects.values_list("external_id", flat=True)) == ["a", "b"]


def test_bulk_repeats_of_a_stored_trace_all_answer_with_its_id(ingest_client):
    stored = post_bulk(ingest_client, jsonl(trace("x"))).json()["results"][0]["id"]
    results = post_bulk(ingest_client, jsonl(trace("x"), trace("x"))).json()["results"]
    assert [(r["status"], r["id"]) for r in results] == [("unchanged", stored)] * 2


def test_bulk_repeats_of_a_conflicting_trace_all_conflict(ingest_client):
    post_bulk(ingest_client, jsonl(trace("x", steps=2)))
    results = post_bulk(ingest_client, jsonl(trace("x", steps=3), trace("x", steps=3)))
    assert [r["status"] for r in results.json()["results"]] == ["conflict", "conflict"]
    assert Trace.objects.get().step_count == 2
