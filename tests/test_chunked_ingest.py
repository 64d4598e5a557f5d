"""Chunked request bodies (``Transfer-Encoding: chunked``, no length) through a real gunicorn."""

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.samples import body, jsonl, trace
from tests.test_detection_worker import WebServer, database_url
from traces.models import ApiToken, Source, Trace
from traces.services import issue_token

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebServer]:
    """gunicorn on the test database, running tasks in-process (no broker)."""
    env = os.environ | {"DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("REDIS_URL", None)
    server = WebServer(env, tmp_path)
    yield server
    server.stop()


def post_chunked(web: WebServer, path: str, data: bytes, token: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    # Sent in small pieces, so that the body really spans many chunks.
    pieces = (data[i : i + 100] for i in range(0, len(data), 100))
    connection.request(
        "POST",
        path,
        body=pieces,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    try:
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_chunked_bodies_are_read_whole_under_gunicorn(web):
    _, token = issue_token(scope=ApiToken.Scope.INGEST, source=Source.objects.create(slug="s"))
    status, answer = post_chunked(web, "/api/v1/traces/", body(trace("one", steps=5)), token)
    assert (status, answer["status"]) == (201, "created"), answer
    data = jsonl(*(trace(f"bulk-{i}") for i in range(20)))
    status, answer = post_chunked(web, "/api/v1/traces/bulk", data, token)
    assert (status, answer["summary"]) == (200, {"created": 20}), answer
    assert Trace.objects.count() == 21
    assert Trace.objects.get(external_id="one").step_count == 5
