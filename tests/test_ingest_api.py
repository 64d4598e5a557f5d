import gzip
import io
import json
import zipfile
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import override_settings
from rest_framework.test import APIClient

from tests.samples import body, trace
from traces.models import ApiToken, Source, Step, Trace
from traces.services import issue_token

URL = "/api/v1/traces/"
pytestmark = pytest.mark.django_db


def post(client: APIClient, doc: dict | bytes, query: str = "", **headers):
    data = doc if isinstance(doc, bytes) else body(doc)
    return client.post(URL + query, data=data, content_type="application/json", **headers)


def test_create_answers_201_with_the_id_and_stores_every_step(ingest_client):
    response = post(ingest_client, trace(steps=5))
    assert response.status_code == 201
    stored = Trace.objects.get(pk=response.json()["id"])
    assert stored.source.slug == "fleet-a"
    assert stored.external_id == "run-1"
    assert stored.step_count == 5
    steps = list(stored.steps.order_by("index"))
    assert [s.kind for s in steps] == ["user", "reasoning", "tool_call", "tool_result", "assistant"]
    assert steps[2].arguments == {"cmd": "pytest -q tests/test_parse.py"}
    assert steps[2].tool == "shell"
    assert steps[3].call_id == "c1"
    assert stored.metadata == {"repo": "acme/parser"}
    assert stored.started_at.isoformat() == "2026-03-19T10:00:00+00:00"


def test_the_same_trace_again_answers_200_with_the_same_id(ingest_client):
    first = post(ingest_client, trace())
    reordered = json.dumps(dict(reversed(list(trace().items())))).encode()
    again = post(ingest_client, reordered)
    assert again.status_code == 200
    assert again.json()["status"] == "unchanged"
    assert again.json()["id"] == first.json()["id"]
    assert Trace.objects.count() == 1
    assert Step.objects.count() == 3


def test_a_different_trace_under_the_same_id_is_a_conflict_that_changes_nothing(ingest_client):
    first = post(ingest_client, trace(steps=3))
    response = post(ingest_client, trace(steps=4))
    assert response.status_code == 409
    assert response.json()["field"] == "external_id"
    assert Trace.objects.get(pk=first.json()["id"]).step_count == 3
    assert Step.objects.count() == 3


def test_replace_true_swaps_the_steps_and_keeps_the_id(ingest_client):
    first = post(ingest_client, trace(steps=3))
    response = post(ingest_client, trace(steps=5, model="gpt-y"), "?replace=true")
    assert response.status_code == 200
    assert response.json() == {
        "line": 1,
        "status": "replaced",
        "external_id": "run-1",
        "id": first.json()["id"],
    }
    stored = Trace.objects.get()
    assert (stored.model, stored.step_count) == ("gpt-y", 5)
    assert list(stored.steps.values_list("index", flat=True).order_by("index")) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        (
            trace(steps=[{"kind": "user"}] * 3 + [{"kind": "thought"}]),
            "steps[3].kind",
            "must be one of system, user, reasoning, assistant, tool_call, tool_result",
        ),
        ({"steps": [{"kind": "user"}]}, "external_id", "required"),
        (trace(steps=[{"kind": "user", "content": 5}]), "steps[0].content", "expected `str`"),
        (trace(steps=[{"kind": "user", "colour": "red"}]), "steps[0].colour", "unknown field"),
        (trace(steps=[]), "steps", "length >= 1"),
        (trace(started_at="yesterday"), "started_at", "invalid RFC3339"),
        (trace(external_id=""), "external_id", "length >= 1"),
        (trace(started_at="0001-01-01T00:00:00+14:00"), "started_at", "out of range"),
        (trace(ended_at="9999-12-31T23:59:59-14:00"), "ended_at", "out of range"),
        (
            trace(steps=[{"kind": "user", "timestamp": "0001-01-01T00:00:00+00:00"}]),
            "steps[0].timestamp",
            "out of range",
        ),
        (
            trace(steps=[{"kind": "user"}, {"kind": "reasoning", "token_count": 2**31}]),
            "steps[1].token_count",
            "<= 2147483647",
        ),
        (trace(steps=[{"kind": "user", "token_count": -1}]), "steps[0].token_count", ">= 0"),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_stores_nothing(
    ingest_client, doc, field, message
):
    response = post(ingest_client, doc)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert message in response.json()["detail"]
    assert response.json()["detail"].startswith(f"{field}: ")
    assert Trace.objects.count() == 0


@pytest.mark.parametrize("depth", [97, 2000, 100_000])
def test_arguments_nested_too_deep_answer_400_naming_where(ingest_client, depth):
    nested = b"[" * depth + b"]" * depth
    raw = body(trace(steps=[{"kind": "tool_call", "arguments": {"a": "NESTED"}}]))
    response = post(ingest_client, raw.replace(b'"NESTED"', nested))
    assert response.status_code == 400
    assert response.json()["field"] == "steps[0].arguments.a" + "[0]" * 96
    assert "nested more than 100 levels deep" in response.json()["detail"]
    assert Trace.objects.count() == 0


def test_a_trace_nested_100_deep_is_stored_and_read_back(ingest_client, read_client):
    nested = b"[" * 96 + b"]" * 96
    raw = body(trace(steps=[{"kind": "tool_call", "arguments": {"a": "NESTED"}}]))
    response = post(ingest_client, raw.replace(b'"NESTED"', nested))
    assert response.status_code == 201
    stored = read_client.get(f"{URL}{response.json()['id']}/")
    assert stored.status_code == 200
    assert stored.json()["steps"][0]["arguments"]["a"] == json.loads(nested)


def test_a_refusal_quotes_at_most_a_little_of_the_input(ingest_client):
    response = post(ingest_client, trace(steps=[{"kind": "x" * 100_000}]))
    assert response.status_code == 400
    assert response.json()["field"] == "steps[0].kind"
    assert len(response.content) < 2000


def test_malformed_json_answers_400(ingest_client):
    response = post(ingest_client, b'{"external_id": "x", "steps": [')
    assert response.status_code == 400
    assert "invalid JSON" in response.json()["detail"]


def test_ingest_needs_a_token(db):
    response = post(APIClient(), trace())
    assert response.status_code == 401
    assert Trace.objects.count() == 0


def test_a_read_token_cannot_ingest(read_client):
    assert post(read_client, trace()).status_code == 403


def test_a_revoked_token_is_refused(source):
    token, raw = issue_token(scope=ApiToken.Scope.INGEST, source=source)
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert post(client, trace()).status_code == 401


def test_tokens_are_stored_only_as_hashes(source):
    token, raw = issue_token(scope=ApiToken.Scope.INGEST, source=source)
    token.refresh_from_db()
    assert raw not in (token.key_hash, token.prefix)
    assert raw.startswith(token.prefix)


def test_an_ingest_token_cannot_write_into_another_source(ingest_client):
    Source.objects.create(slug="fleet-b")
    response = post(ingest_client, trace(source="fleet-b"))
    assert response.status_code == 400
    assert response.json()["field"] == "source"
    assert Trace.objects.count() == 0


def test_an_admin_token_ingests_into_the_source_the_trace_names(source):
    _, raw = issue_token(scope=ApiToken.Scope.ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert post(client, trace(source="fleet-a")).status_code == 201
    missing = post(client, trace(external_id="run-2"))
    assert missing.status_code == 400
    assert missing.json()["field"] == "source"


@override_settings(TRACEWATCH_MAX_BODY_BYTES=2000)
def test_a_body_over_the_limit_answers_413(ingest_client):
    doc = trace(steps=1)
    doc["steps"][0]["content"] = "x" * 3000
    assert post(ingest_client, doc).status_code == 413
    assert Trace.objects.count() == 0


@override_settings(TRACEWATCH_MAX_BODY_BYTES=2000)
def test_a_gzip_body_expanding_past_the_limit_answers_413(ingest_client):
    doc = trace(steps=1)
    doc["steps"][0]["content"] = "x" * 100_000
    response = post(ingest_client, gzip.compress(body(doc)), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "Decompressed body is larger than 2000 bytes" in response.json()["detail"]
    assert Trace.objects.count() == 0


@override_settings(TRACEWATCH_MAX_BODY_BYTES=2000)
def test_an_eval_archive_expanding_past_the_limit_answers_413(ingest_client):
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("header.json", json.dumps({"eval": {"task": "t"}}))
        archive.writestr("samples/1_epoch_1.json", json.dumps({"id": 1, "pad": "x" * 50_000}))
    assert len(packed.getvalue()) < 2000
    response = post(ingest_client, packed.getvalue())
    assert response.status_code == 413
    assert "The archive expands to" in response.json()["detail"]
    assert Trace.objects.count() == 0


def test_a_gzip_body_within_the_limit_is_stored(ingest_client):
    response = post(ingest_client, gzip.compress(body(trace())), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201


@override_settings(TRACEWATCH_MAX_STEPS_PER_TRACE=4)
def test_too_many_steps_answers_400(ingest_client):
    response = post(ingest_client, trace(steps=5))
    assert response.status_code == 400
    assert response.json()["field"] == "steps"


@override_settings(TRACEWATCH_MAX_STEP_CHARS=30)
def test_a_step_over_the_character_limit_answers_400_naming_it(ingest_client):
    response = post(ingest_client, trace(steps=3))
    assert response.status_code == 400
    assert response.json()["field"] == "steps[1].content"


def test_nul_and_lone_surrogates_are_replaced_visibly_and_recorded(ingest_client):
    raw = body(trace(steps=1)).replace(
        b"Make the failing test pass", b"before\\u0000after \\ud800 lone \\ud83d\\ude00 pair"
    )
    response = post(ingest_client, raw)
    assert response.status_code == 201
    stored = Trace.objects.get()
    assert stored.altered
    assert stored.steps.get().content == "before\u2400after \ufffd lone \U0001f600 pair"


def test_a_clean_trace_is_not_marked_altered(ingest_client):
    post(ingest_client, trace())
    assert not Trace.objects.get().altered


def test_secrets_are_masked_at_ingest_and_counted(ingest_client):
    doc = trace(steps=1)
    doc["steps"][0]["content"] = (
        "key is sk-proj-abcdefghijklmnopqrstuvwxyz0123 and AKIAIOSFODNN7EXAMPLE"
    )
    doc["metadata"] = {"env": {"GITHUB_TOKEN": "ghp_" + "a1B2" * 9}}
    post(ingest_client, doc)
    stored = Trace.objects.get()
    assert stored.secrets_masked == 3
    content = stored.steps.get().content
    assert "sk-proj" not in content and "AKIA" not in content
    assert "[REDACTED:openai_key]" in content
    assert stored.metadata == {"env": {"GITHUB_TOKEN": "[REDACTED:github_token]"}}


@override_settings(TRACEWATCH_MASK_SECRETS=False)
def test_masking_can_be_turned_off(ingest_client):
    doc = trace(steps=1)
    doc["steps"][0]["content"] = "AKIAIOSFODNN7EXAMPLE"
    post(ingest_client, doc)
    stored = Trace.objects.get()
    assert stored.secrets_masked == 0
    assert stored.steps.get().content == "AKIAIOSFODNN7EXAMPLE"


def test_an_unknown_format_answers_400_naming_the_parameter(ingest_client):
    response = post(ingest_client, trace(), "?format=yaml")
    assert response.status_code == 400
    assert "format" in response.json()


def test_a_document_of_no_known_format_says_which_formats_were_tried(ingest_client):
    response = post(ingest_client, b'{"hello": "world"}')
    assert response.status_code == 400
    assert "tried native" in response.json()["detail"]


def test_a_tool_call_without_content_gets_its_arguments_as_text(ingest_client):
    post(ingest_client, trace(steps=3))
    call = Step.objects.get(index=2)
    assert call.arguments == {"cmd": "pytest -q tests/test_parse.py"}
    assert call.content == '{\n  "cmd": "pytest -q tests/test_parse.py"\n}'


def test_a_tool_call_with_content_keeps_it(ingest_client):
    doc = trace(steps=3)
    doc["steps"][2]["content"] = "$ pytest -q tests/test_parse.py"
    post(ingest_client, doc)
    assert Step.objects.get(index=2).content == "$ pytest -q tests/test_parse.py"


def test_a_database_failing_mid_ingest_answers_503_stores_nothing_and_the_retry_stores_it(
    ingest_client,
):
    with mock.patch(
        "traces.services._insert_steps",
        side_effect=OperationalError("server closed the connection"),
    ):
        response = post(ingest_client, trace(steps=5))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "database is unavailable" in response.json()["detail"]
    assert not Trace.objects.exists()
    assert post(ingest_client, trace(steps=5)).status_code == 201
    assert Step.objects.count() == 5
