import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from tests.samples import jsonl, trace
from traces.models import Source, Trace
from traces.roles import LABELER

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(ingest_client) -> list[int]:
    docs = [trace(f"t{i}", model="gpt-x" if i % 2 else "claude") for i in range(7)]
    response = ingest_client.post(
        "/api/v1/traces/bulk", data=jsonl(*docs), content_type="application/x-ndjson"
    )
    return [r["id"] for r in response.json()["results"]]


def test_list_needs_login_or_a_read_token(stored):
    assert APIClient().get("/api/v1/traces/").status_code == 401


def test_an_ingest_token_cannot_read(ingest_client, stored):
    assert ingest_client.get("/api/v1/traces/").status_code == 403


def signed_in(*groups: str) -> APIClient:
    user = get_user_model().objects.create_user("ana", password="pw-for-tests-1")
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    client = APIClient()
    client.force_login(user)
    return client


def test_a_signed_in_labeler_can_read(stored):
    client = signed_in(LABELER)
    assert client.get("/api/v1/traces/").status_code == 200
    assert client.get(f"/api/v1/traces/{stored[0]}/").status_code == 200


def test_a_signed_in_user_without_a_role_reads_nothing(stored):
    client = signed_in()
    assert client.get("/api/v1/traces/").status_code == 403
    assert client.get(f"/api/v1/traces/{stored[0]}/").status_code == 403


def test_a_browser_gets_json_not_the_browsable_pages_and_their_inline_styles(read_client, stored):
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = read_client.get("/api/v1/traces/", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert b"<style" not in response.content and b"style=" not in response.content


def test_list_pages_by_cursor_newest_first_without_repeats(read_client, stored):
    seen = []
    url = "/api/v1/traces/?page_size=3"
    while url:
        page = read_client.get(url).json()
        seen += [t["id"] for t in page["results"]]
        url = page["next"]
    assert seen == sorted(stored, reverse=True)


def test_list_filters_by_source_model_and_state(read_client, stored):
    Source.objects.create(slug="other")
    ids = {t["id"] for t in read_client.get("/api/v1/traces/?model=claude").json()["results"]}
    assert ids == set(Trace.objects.filter(model="claude").values_list("id", flat=True))
    assert len(ids) == 4
    assert read_client.get("/api/v1/traces/?source=other").json()["results"] == []
    Trace.objects.filter(pk=stored[0]).update(detection_state="done")
    done = read_client.get("/api/v1/traces/?detection_state=done").json()["results"]
    assert [t["id"] for t in done] == [stored[0]]


def test_list_filters_by_date(read_client, stored):
    assert len(read_client.get("/api/v1/traces/?ingested_after=2000-01-01").json()["results"]) == 7
    assert read_client.get("/api/v1/traces/?ingested_before=2000-01-01").json()["results"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [("ingested_after=yesterday", "ingested_after"), ("detection_state=lost", "detection_state")],
)
def test_a_bad_filter_answers_400_naming_it(read_client, stored, query, field):
    response = read_client.get(f"/api/v1/traces/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_detail_has_the_steps_in_order(read_client, stored):
    detail = read_client.get(f"/api/v1/traces/{stored[0]}/").json()
    assert detail["external_id"] == "t0"
    assert detail["source"] == "fleet-a"
    assert [s["index"] for s in detail["steps"]] == [0, 1, 2]
    assert detail["steps"][2]["arguments"] == {"cmd": "pytest -q tests/test_parse.py"}


def test_detail_of_a_missing_trace_is_404(read_client, db):
    assert read_client.get("/api/v1/traces/999999/").status_code == 404


def test_list_query_count_does_not_grow_with_traces(
    read_client, stored, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        read_client.get("/api/v1/traces/")


def test_the_openapi_schema_describes_the_native_format(db):
    response = APIClient().get("/api/schema/?format=json", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert "TraceDoc" in schema["components"]["schemas"]
    assert "/api/v1/traces/bulk" in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_api_docs_page_serves_without_a_cdn(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert b"cdn.jsdelivr" not in response.content
