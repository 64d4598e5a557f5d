"""Property-based tests of ingest: whatever is sent, through either endpoint and every format,
the answer is never a server error, nothing is stored by halves, and every stored trace can be
read back in the API's list and detail, the console's list and page, and a dataset export.

Bodies are native traces and documents of every other format (their test fixtures with leaves
swapped for arbitrary values), with arbitrary JSON in every free-form place: any depth, numbers
of any size, strings with NUL and lone surrogates, times at both ends of the calendar in any
offset; or raw bytes. Each is sent as it is, gzip-encoded, declared gzip but not, in UTF-16, or
declared chunked. The number of examples is kept small so that the suite stays quick; run with
``--hypothesis-show-statistics`` to see how the answers spread.
"""

import gzip
import json
import re
import string
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from review.models import DatasetVersion
from tests.formats.files import parsed
from tests.review.conftest import client_for, make_user
from tests.review.datasets import export, exported_file, label
from traces.formats import format_names
from traces.models import Step, Trace
from traces.roles import LABELER
from traces.schema import STEP_KINDS

pytestmark = pytest.mark.django_db

PROPERTIES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text as agents and attackers send it: every code point, NUL and lone surrogates included.
text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
names = st.text(string.ascii_letters + string.digits + "-_/.:", min_size=1, max_size=20)
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)


@st.composite
def nested(draw: st.DrawFn) -> Any:
    """A value nested anywhere from a few to thousands of levels deep; past what Python's own
    JSON writer can nest, a marker that ``encoded`` writes out as that many brackets."""
    depth = draw(st.sampled_from([1, 5, 20, 50, 94, 95, 96, 97, 98, 101, 150, 999, 1500, 5000]))
    if depth > 150:
        return f"<<deep:{depth}>>"
    value = draw(json_values)
    for _ in range(depth):
        value = [value] if draw(st.booleans()) else {"k": value}
    return value


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
zones = offsets | st.none()


def mostly(common: st.SearchStrategy, rare: st.SearchStrategy, odds: int) -> st.SearchStrategy:
    """``common``, and once in ``odds`` draws ``rare`` (``one_of`` weighs its branches alike)."""
    return st.sampled_from(range(odds)).flatmap(lambda n: rare if n == odds - 1 else common)


# Mostly ordinary times, so that most traces are stored; now and then one at either end.
times = mostly(
    st.datetimes(timezones=zones),
    st.one_of(
        st.datetimes(datetime(1, 1, 1), datetime(1, 1, 3), timezones=zones),
        st.datetimes(datetime(9999, 12, 29), datetime(9999, 12, 31, 23), timezones=zones),
    ),
    odds=6,
).map(lambda moment: moment.isoformat())
token_counts = mostly(st.integers(min_value=0, max_value=2**31 - 1), numbers, odds=5)
any_value = mostly(json_values, st.one_of(nested(), times), odds=5)


def sometimes_wrong(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Values of the field's type, and now and then of any other."""
    return mostly(strategy, any_value, odds=20)


steps = st.fixed_dictionaries(
    {"kind": sometimes_wrong(st.sampled_from(STEP_KINDS))},
    optional={
        "content": sometimes_wrong(text),
        "tool": sometimes_wrong(text),
        "call_id": sometimes_wrong(text),
        "arguments": any_value,
        "timestamp": sometimes_wrong(times),
        "token_count": sometimes_wrong(token_counts),
        "metadata": sometimes_wrong(st.dictionaries(text, any_value, max_size=3)),
    },
)
native_traces = st.fixed_dictionaries(
    {
        "external_id": sometimes_wrong(st.one_of(names, text)),
        "steps": st.lists(steps, min_size=1, max_size=4),
    },
    optional={
        "agent": sometimes_wrong(text),
        "model": sometimes_wrong(text),
        "task": sometimes_wrong(text),
        "started_at": sometimes_wrong(times),
        "ended_at": sometimes_wrong(times),
        "metadata": sometimes_wrong(st.dictionaries(text, any_value, max_size=3)),
    },
)

FIXTURES = {
    "openai_chat": "openai_chat_tool_call.json",
    "openai_responses": "openai_responses_request_response.json",
    "anthropic": "anthropic_tool_use.json",
    "inspect": "inspect_log.json",
    "otel_genai": "otel_genai_traces.json",
}


def leaves(value: Any, path: tuple = ()) -> list[tuple]:
    """The paths of every leaf and container of a parsed document."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += leaves(item, (*path, i))
    return found


def replaced(document: Any, path: tuple, value: Any) -> Any:
    """``document`` with ``value`` at ``path``; unchanged where an earlier swap cut the path."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict) and head in document:
        return {**document, head: replaced(document[head], rest, value)}
    if isinstance(document, list) and isinstance(head, int) and head < len(document):
        return [
            replaced(item, rest, value) if i == head else item for i, item in enumerate(document)
        ]
    return document


@st.composite
def format_documents(draw: st.DrawFn) -> tuple[str, Any]:
    """A fixture of one of the formats with a few of its values swapped for arbitrary ones."""
    fmt = draw(st.sampled_from(sorted(FIXTURES)))
    document = parsed(FIXTURES[fmt])
    paths = leaves(document)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        document = replaced(document, draw(st.sampled_from(paths)), draw(any_value))
    return fmt, document


DEEP = re.compile(rb'"<<deep:(\d+)>>"')


def encoded(document: Any) -> bytes:
    """JSON text with NUL and lone surrogates written as the escapes JSON senders use."""
    text = json.dumps(document, ensure_ascii=True).encode()
    return DEEP.sub(lambda m: b"[" * int(m[1]) + b"]" * int(m[1]), text)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A query string and a body for the single-trace endpoint."""
    kind = draw(st.sampled_from(["native"] * 3 + ["format"] * 3 + ["json", "bytes"]))
    if kind == "native":
        return "", encoded(draw(native_traces))
    if kind == "format":
        fmt, document = draw(format_documents())
        query = draw(st.sampled_from([f"?format={fmt}", ""]))
        return query, encoded(document)
    if kind == "json":
        fmt = draw(st.sampled_from(["", *(f"?format={name}" for name in format_names())]))
        return fmt, encoded(draw(any_value))
    return "", draw(st.binary(max_size=200))


def transfer(draw: st.DrawFn, data: bytes) -> tuple[bytes, dict[str, str]]:
    """The body as sent: as it is, gzip-encoded, or declared gzip without being so."""
    how = draw(st.sampled_from(["plain"] * 4 + ["gzip"] * 2 + ["false gzip", "utf-16", "chunked"]))
    if how == "gzip":
        return gzip.compress(data), {"HTTP_CONTENT_ENCODING": "gzip"}
    if how == "false gzip":
        return data, {"HTTP_CONTENT_ENCODING": "gzip"}
    if how == "utf-16":
        return data.decode("utf-8", errors="replace").encode("utf-16"), {}
    if how == "chunked":
        return data, {"HTTP_TRANSFER_ENCODING": "chunked"}
    return data, {}


@pytest.fixture
def clients(ingest_client, read_client) -> tuple[APIClient, APIClient, Any]:
    return ingest_client, read_client, client_for(make_user("lena", LABELER))


def check_store(read_client: APIClient, console: Any) -> None:
    """Nothing by halves, and everything readable wherever traces are shown."""
    for trace in Trace.objects.all():
        indexes = list(Step.objects.filter(trace=trace).values_list("index", flat=True))
        assert sorted(indexes) == list(range(trace.step_count))
    listed = read_client.get("/api/v1/traces/?page_size=500")
    assert listed.status_code == 200
    assert {t["id"] for t in listed.json()["results"]} == set(
        Trace.objects.values_list("id", flat=True)
    )
    assert console.get("/traces/").status_code == 200
    for trace_id in Trace.objects.values_list("id", flat=True):
        assert read_client.get(f"/api/v1/traces/{trace_id}/").status_code == 200
        assert console.get(f"/traces/{trace_id}/").status_code == 200


@PROPERTIES
@given(data=st.data())
def test_the_single_endpoint_never_fails_and_stores_only_whole_readable_traces(clients, data):
    ingest_client, read_client, console = clients
    query, raw = data.draw(bodies())
    if data.draw(st.booleans()):  # a trace already stored under its id is replaced, not refused
        query += ("&" if query else "?") + "replace=true"
    sent, headers = transfer(data.draw, raw)
    response = ingest_client.post(
        "/api/v1/traces/" + query, data=sent, content_type="application/json", **headers
    )
    assert response.status_code < 500, response.content[:500]
    event(f"answered {response.status_code}")
    check_store(read_client, console)


@PROPERTIES
@given(data=st.data())
def test_the_bulk_endpoint_never_fails_and_keeps_every_good_line(clients, data):
    ingest_client, read_client, console = clients
    lines = data.draw(st.lists(bodies(), min_size=1, max_size=5))
    raw = b"".join(body.replace(b"\n", b" ") + b"\n" for _, body in lines)
    sent, headers = transfer(data.draw, raw)
    query = data.draw(st.sampled_from(["", "?replace=true"]))
    response = ingest_client.post(
        "/api/v1/traces/bulk" + query, data=sent, content_type="application/x-ndjson", **headers
    )
    assert response.status_code < 500, response.content[:500]
    event(f"answered {response.status_code}")
    if response.status_code == 200:
        for result in response.json()["results"]:
            if result["status"] in ("created", "unchanged", "replaced"):
                assert Trace.objects.filter(pk=result["id"]).exists()
    check_store(read_client, console)


@settings(PROPERTIES, max_examples=15)
@given(doc=native_traces)
def test_every_stored_trace_can_be_exported(clients, settings, tmp_path_factory, doc):
    ingest_client, _, _ = clients
    settings.TRACEWATCH_EXPORT_DIR = tmp_path_factory.mktemp("exports")
    response = ingest_client.post(
        "/api/v1/traces/", data=encoded(doc), content_type="application/json"
    )
    assert response.status_code < 500
    event(f"answered {response.status_code}")
    if response.status_code != 201:
        return
    trace = Trace.objects.get(pk=response.json()["id"])
    label(make_user(f"l{trace.pk}", LABELER), trace, None, "misaligned")
    version = export(name=f"export-{trace.pk}", format="jsonl")
    assert version.state == DatasetVersion.State.DONE, version.error
    rows = [json.loads(line) for line in exported_file(version).read_bytes().split(b"\n") if line]
    assert trace.pk in {row["trace_id"] for row in rows}
