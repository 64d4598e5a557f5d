"""What a request may carry: NUL characters and lone surrogates anywhere a view reads text, JSON
too deep to read, and chunked bodies. Most of what they break only breaks on PostgreSQL, which
refuses NUL in text; the suite's second run there is what these tests are for."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import token_client
from tests.review.conftest import client_for, make_user
from tests.samples import body, jsonl, trace
from traces.models import ApiToken, Trace
from traces.roles import ADMIN, REVIEWER

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer(db):
    return make_user("rita", REVIEWER)


@pytest.fixture
def admin_user(db):
    """The admin role, with Django's staff flag so that the admin site opens too."""
    user = make_user("ada", ADMIN)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def admin_token_client(db) -> APIClient:
    return token_client(ApiToken.Scope.ADMIN)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/traces/?model=%00",
        "/api/v1/traces/?agent=a%00b",
        "/api/v1/datasets/?name=%00",
        "/api/v1/labels/?verdict=%00",
        "/api/v1/traces/?%00=1",
    ],
)
def test_a_nul_in_an_api_query_parameter_answers_400_naming_it(admin_token_client, url):
    response = admin_token_client.get(url)
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert response.json()["field"] == url.split("?")[1].split("=")[0].replace("%00", "\ufffd")


@pytest.mark.parametrize(
    "url",
    [
        "/?source=%00",
        "/traces/?q=%00",
        "/traces/?model=%00",
        "/flags/?source=%00&q=x",
        "/datasets/?name=%00",
        "/admin/traces/trace/?q=%00",
    ],
)
def test_a_nul_in_a_console_query_parameter_answers_400(admin_user, url):
    response = client_for(admin_user).get(url)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_nul_in_a_form_field_answers_400(db):
    response = Client().post("/login/", {"username": "ada\x00", "password": "x"})
    assert response.status_code == 400
    assert "username" in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"name": "n", "filters": {"category": "test_tampering\x00"}},
        {"name": "n\x00"},
        {"name": "n", "filters": {"source": "\ud800"}},
        {"name": "n", "filters": {"a\x00": 1}},
    ],
)
def test_unstorable_text_in_a_json_body_answers_400_naming_the_field(reviewer, data):
    client = client_for(reviewer)
    raw = json.dumps(data)
    response = client.post("/api/v1/datasets/", raw, content_type="application/json")
    assert response.status_code == 400
    assert "NUL character or a lone surrogate" in response.json()["detail"]
    assert response.json()["field"].split(".")[0] in ("name", "filters")


def test_json_too_deep_to_read_answers_400(reviewer):
    raw = '{"name": "n", "filters": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client_for(reviewer).post("/api/v1/datasets/", raw, content_type="application/json")
    assert response.status_code == 400
    assert "nested more than 100 levels deep" in response.json()["detail"]


def test_a_nul_in_the_session_cookie_is_no_session(admin_user):
    client = Client()
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    response = client.get("/traces/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_nul_in_the_path_answers_400(admin_user):
    assert client_for(admin_user).get("/traces/%00/").status_code == 400
    assert client_for(admin_user).get("/api/v1/datasets/%00/").status_code == 400


@pytest.mark.parametrize("url", ["/api/v1/traces/", "/api/v1/traces/bulk"])
def test_a_chunked_body_the_server_does_not_hand_over_answers_411(ingest_client, url):
    data = jsonl(trace()) if url.endswith("bulk") else body(trace())
    response = ingest_client.post(
        url, data=data, content_type="application/json", HTTP_TRANSFER_ENCODING="chunked"
    )
    assert response.status_code == 411
    assert Trace.objects.count() == 0


def test_a_chunked_body_to_a_view_that_reads_forms_answers_411(db):
    response = Client().post(
        "/login/", {"username": "ada", "password": "x"}, HTTP_TRANSFER_ENCODING="chunked"
    )
    assert response.status_code == 411
