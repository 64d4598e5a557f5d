"""The agreement dashboard: who may see it, and that its charts and tables carry the figures."""

import io
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from review import figures
from review.models import Queue
from tests.review.conftest import client_for
from tests.review.datasets import label
from tests.review.test_dashboard import rated_fixture  # noqa: F401 (the ``rated`` fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("figures_in_process")]
URL = reverse("review:agreement")


def test_labeler_gets_the_403_page(labeler):
    response = client_for(labeler).get(URL)
    assert response.status_code == 403


def test_signed_out_goes_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_navigation_links_the_page_for_reviewers_only(labeler, reviewer):
    assert URL in client_for(reviewer).get(reverse("review:home")).content.decode()
    assert URL not in client_for(labeler).get(reverse("review:home")).content.decode()


def test_reviewer_sees_tables_and_titled_marks(rated, reviewer, django_assert_max_num_queries):
    figures.compute()
    client = client_for(reviewer)
    # The session, the reviewer, their roles, the state and the snapshot: no figure is counted.
    with django_assert_max_num_queries(6):
        response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    # Queues, categories, pairs, labels per day, burn-down, precision at both levels.
    assert html.count('<svg class="chart"') == 7
    # The pair's kappa, in its bar's title and in the table.
    assert "<title>lena &amp; omar: 0.40 (95% interval" in html
    assert re.search(
        r"<th scope=\"row\">lena &amp; omar</th><td class=\"num\">3</td>"
        r"<td class=\"num\">0.400</td>",
        html,
    )
    # Today's labels per category: a point per day and series, each titled.
    assert re.search(r"<circle [^>]*><title>Test tampering, \w{3} \d\d: 2</title>", html)
    assert "<title>Tampering, " in html  # the queue's burn-down line
    assert "<title>test-tamper, v1: 0.50</title>" in html  # its precision, segment level


def test_page_keeps_to_the_content_security_policy(rated, reviewer):
    response = client_for(reviewer).get(URL)
    html = response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "style-src 'self'" in response["Content-Security-Policy"]
    assert " style=" not in html
    assert "<script>" not in html and "<script " not in re.sub(
        r'<script [^>]*src="[^"]+"', "", html
    )


def test_names_are_escaped_in_charts_and_tables(rated, reviewer):
    Queue.objects.filter(pk=rated.queue.pk).update(name='<img src=x onerror="alert(1)">')
    html = client_for(reviewer).get(URL).content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_a_new_label_shows_at_once(rated, reviewer, labeler):
    client = client_for(reviewer)
    assert "<title>lena &amp; omar: 0.40" in client.get(URL).content.decode()
    label(labeler, rated.trace, rated.split, "misaligned", "reward_hacking")
    assert "<title>lena &amp; omar: 1 (95% interval" in client.get(URL).content.decode()


def test_empty_console_says_there_is_no_figure(reviewer):
    html = client_for(reviewer).get(URL).content.decode()
    assert "No two labelers have labeled the same item yet." in html
    assert "no figure" in html


# --- the same figures through the API -----------------------------------------------------------

API = "/api/v1/agreement/"


def test_api_gives_the_figures(rated, read_client):
    body = read_client.get(API).json()
    assert body["overall"]["value"] == pytest.approx(4 / 9) and body["overall"]["items"] == 3
    (pair,) = body["pairs"]
    assert pair["labelers"] == ["lena", "omar"]
    assert pair["kappa"]["value"] == pytest.approx(0.4) and pair["kappa"]["items"] == 3
    assert pair["kappa"]["low"] <= 0.4 <= pair["kappa"]["high"]
    (queue,) = body["queues"]
    assert queue == {
        "queue": rated.queue.pk,
        "name": "Tampering",
        "blind": False,
        "alpha": queue["alpha"],
    }
    categories = {row["category"]: row["alpha"]["value"] for row in body["categories"]}
    assert categories["test_tampering"] == pytest.approx(1.0)
    assert len(body["days"]) == len(body["burndown"][0]["values"]) == 30
    precision = {line["name"]: line["values"] for line in body["precision"]["segment"]}
    assert precision["test-tamper"] == [0.5]
    assert "bootstrap" in body["interval"]


def test_api_without_labels_has_no_figure_and_no_nan(read_client):
    body = read_client.get(API).json()
    assert body["overall"] == {"value": None, "items": 0, "low": None, "high": None}
    assert body["pairs"] == body["queues"] == body["categories"] == []


def test_api_is_for_reviewers_and_read_tokens(rated, reviewer, labeler, client):
    assert client_for(reviewer).get(API).status_code == 200
    assert client_for(labeler).get(API).status_code == 403
    assert client.get(API).status_code in (401, 403)


def test_the_openapi_schema_lists_the_agreement_endpoint(db):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "/api/v1/agreement/:" in out.getvalue()
