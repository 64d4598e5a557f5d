"""Triage: who may see what, the queues and their progress, the queue form, and the lists of
traces and flags with their filters, sorting, pages and full-text search."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils import timezone

from detection.models import Detector, Finding
from review.models import Label, Queue
from review.search import index_traces, unindexed_traces
from review.selectors import matching_steps, parse_filters, queue_progress
from review.services import LabelInput, decide, save_label
from tests.review.conftest import HTMX, client_for, flag, make_trace, make_user
from tests.review.pages import texts
from traces.models import Segment, Source, Step, Trace
from traces.roles import LABELER

pytestmark = pytest.mark.django_db

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def trace_ids(html: str) -> list[str]:
    """The external ids of the traces listed, in the order shown."""
    return texts(html, class_="trace-link")


def make_traces(
    count: int, detector: Detector | None = None, *, first: int = 0, **fields
) -> list[Trace]:
    """``count`` two-step traces "t00", "t01"… (from ``first``), each flagged once when
    ``detector`` is given, with scores rising with the number."""
    made = []
    for i in range(first, first + count):
        trace = make_trace(
            [("reasoning", f"thinking about run {i}"), ("assistant", "done")],
            external_id=f"t{i:02d}",
        )
        if fields:
            Trace.objects.filter(pk=trace.pk).update(**fields)
        if detector is not None:
            flag(trace, detector, step=0, start=0, end=8, score=round(0.1 + i / 100, 2))
        made.append(trace)
    return made


# --- Access --------------------------------------------------------------------------------------

TRIAGE_PAGES = ["review:home", "review:traces", "review:flags"]
REVIEWER_PAGES = ["review:queue-new", "review:adjudication"]


@pytest.mark.parametrize("name", [*TRIAGE_PAGES, *REVIEWER_PAGES])
def test_anonymous_visitor_is_sent_to_sign_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")


def test_anonymous_htmx_request_gets_401(client):
    assert client.get(reverse("review:traces"), {"q": "x"}, **HTMX).status_code == 401


@pytest.mark.parametrize("name", [*TRIAGE_PAGES, *REVIEWER_PAGES])
def test_user_without_a_role_is_refused_everywhere(nobody, name):
    assert client_for(nobody).get(reverse(name)).status_code == 403


def test_user_without_a_role_is_refused_the_queue_preview_and_edit(nobody, queue):
    client = client_for(nobody)
    assert client.get(reverse("review:queue-new"), {"preview": "1"}, **HTMX).status_code == 403
    assert client.get(reverse("review:queue-edit", args=[queue.pk])).status_code == 403


@pytest.mark.parametrize("name", TRIAGE_PAGES)
def test_labeler_sees_the_triage_pages(labeler, name):
    assert client_for(labeler).get(reverse(name)).status_code == 200


def test_labeler_is_refused_queue_forms_and_their_preview(labeler, queue):
    client = client_for(labeler)
    assert client.get(reverse("review:queue-new")).status_code == 403
    assert client.get(reverse("review:queue-new"), {"preview": "1"}, **HTMX).status_code == 403
    assert client.get(reverse("review:queue-edit", args=[queue.pk])).status_code == 403
    response = client.post(reverse("review:queue-new"), {"name": "mine", "level": "segment"})
    assert response.status_code == 403
    assert not Queue.objects.filter(name="mine").exists()


def test_labeler_is_sent_away_from_the_admin(labeler):
    response = client_for(labeler).get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("fixture", ["reviewer", "admin_user"])
def test_reviewers_and_admins_may_use_every_triage_page(request, fixture, queue):
    client = client_for(request.getfixturevalue(fixture))
    for name in [*TRIAGE_PAGES, *REVIEWER_PAGES]:
        assert client.get(reverse(name)).status_code == 200, name
    assert client.get(reverse("review:queue-edit", args=[queue.pk])).status_code == 200


def test_nav_hides_what_a_labeler_may_not_open(labeler, reviewer):
    html = client_for(labeler).get(reverse("review:home")).content.decode()
    assert reverse("review:adjudication") not in html
    assert reverse("review:queue-new") not in html
    html = client_for(reviewer).get(reverse("review:home")).content.decode()
    assert reverse("review:adjudication") in html
    assert reverse("review:queue-new") in html


def test_sign_in_leads_to_the_queues(client, labeler):
    response = client.post(
        reverse("login"), {"username": "lena", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("review:home")


# --- Home: queues and their progress -------------------------------------------------------------


def label(user, segment: Segment, verdict: str = "misaligned") -> Label:
    return save_label(
        author=user,
        trace=segment.step.trace,
        segment=segment,
        label=LabelInput(verdict=verdict),
    )


def test_home_shows_each_queue_with_its_progress(labeler, other_labeler, detector):
    segments = [
        flag(t, detector, step=0, start=0, end=4)
        for t in [make_trace([("reasoning", "skip the test")], external_id=f"r{i}") for i in "abc"]
    ]
    Queue.objects.create(name="Tampering", overlap=2, description="Tests weakened")
    Queue.objects.create(name="Retired", active=False)
    label(labeler, segments[0])
    label(other_labeler, segments[0], "benign")
    label(other_labeler, segments[1])
    response = client_for(labeler).get(reverse("review:home"))
    html = response.content.decode()
    assert texts(html, class_="queue-name") == ["Tampering"]
    [progress] = response.context["progress"]
    assert (progress.items, progress.complete, progress.mine) == (3, 1, 1)
    assert '<progress value="1" max="3"' in html
    assert reverse("review:queue-next", args=[progress.queue.pk]) in html
    assert "Tests weakened" in html


def test_progress_counts_whole_trace_labels_for_a_trace_queue(labeler, detector):
    trace = make_trace([("reasoning", "skip the test")])
    segment = flag(trace, detector, step=0, start=0, end=4)
    queue = Queue.objects.create(name="Traces", level=Queue.Level.TRACE)
    label(labeler, segment)  # a label of the segment is not a label of the trace
    [before] = queue_progress(queues=[queue], user=labeler)
    save_label(author=labeler, trace=trace, segment=None, label=LabelInput(verdict="benign"))
    [after] = queue_progress(queues=[queue], user=labeler)
    assert (before.items, before.complete, before.mine) == (1, 0, 0)
    assert (after.items, after.complete, after.mine) == (1, 1, 1)


def test_a_queue_with_a_broken_filter_shows_an_error_not_a_500(labeler):
    Queue.objects.create(name="Broken", filters={"colour": "red"})
    response = client_for(labeler).get(reverse("review:home"))
    assert response.status_code == 200
    assert "colour: unknown field" in response.content.decode()


def test_home_runs_the_same_number_of_queries_for_one_queue_and_five(
    reviewer, detector, django_assert_max_num_queries
):
    make_traces(3, detector)
    client = client_for(reviewer)
    Queue.objects.create(name="q0", overlap=2)
    client.get(reverse("review:home"))  # warm the session and the roles
    with django_assert_max_num_queries(8) as one:
        client.get(reverse("review:home"))
    for i in range(1, 5):
        Queue.objects.create(name=f"q{i}", filters={"score_min": 0.1 * i}, level="trace")
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("review:home"))
    assert len(response.context["progress"]) == 5


# --- Queue form ----------------------------------------------------------------------------------


def queue_post(**overrides) -> dict:
    data = {
        "name": "Critical tampering",
        "description": "The worst first",
        "level": "segment",
        "order": "severity_score",
        "overlap": "2",
        "lease_seconds": "900",
        "active": "on",
    }
    return data | overrides


def test_reviewer_creates_a_queue_whose_filter_is_stored_as_queue_filters(reviewer, detector):
    Source.objects.create(slug="fleet")
    response = client_for(reviewer).post(
        reverse("review:queue-new"),
        queue_post(
            source="fleet",
            detector="test-tamper",
            category="test_tampering",
            severity_min="3",
            score_min="0.5",
            score_max="0.95",
            review_state="unreviewed",
            ingested_after="2026-01-01",
            ingested_before="2026-02-01",
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("review:home")
    queue = Queue.objects.get(name="Critical tampering")
    assert queue.overlap == 2 and queue.created_by == reviewer
    assert queue.filters == {
        "source": "fleet",
        "detector": "test-tamper",
        "category": "test_tampering",
        "severity_min": 3,
        "score_min": 0.5,
        "score_max": 0.95,
        "review_state": "unreviewed",
        "ingested_after": "2026-01-01T00:00:00Z",
        "ingested_before": "2026-02-01T00:00:00Z",
    }
    parsed = parse_filters(queue.filters)
    assert parsed.ingested_after.year == 2026 and parsed.severity_min == 3


def test_editing_a_queue_shows_its_filter_and_saves_changes(reviewer, detector):
    queue = Queue.objects.create(
        name="Old", filters={"detector": "test-tamper", "ingested_after": "2026-03-04T00:00:00Z"}
    )
    client = client_for(reviewer)
    html = client.get(reverse("review:queue-edit", args=[queue.pk])).content.decode()
    assert re.search(r'<option value="test-tamper" selected>', html)
    assert 'value="2026-03-04"' in html
    response = client.post(
        reverse("review:queue-edit", args=[queue.pk]),
        queue_post(name="Renamed", score_min="0.7"),
    )
    assert response.status_code == 302
    queue.refresh_from_db()
    assert queue.name == "Renamed" and queue.filters == {"score_min": 0.7}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("score_min", "2", "less than or equal to 1"),
        ("score_min", "lots", "Enter a number"),
        ("severity_min", "9", "Select a valid choice"),
        ("detector", "nope", "Select a valid choice"),
        ("ingested_after", "yesterday", "Enter a valid date"),
        ("overlap", "0", "Between 1 and 20"),
    ],
)
def test_bad_queue_values_give_form_errors(reviewer, detector, field, value, message):
    response = client_for(reviewer).post(reverse("review:queue-new"), queue_post(**{field: value}))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Queue.objects.exists()


def test_score_range_must_not_be_reversed(reviewer):
    response = client_for(reviewer).post(
        reverse("review:queue-new"), queue_post(score_min="0.8", score_max="0.2")
    )
    assert response.status_code == 400
    assert "Must not be below the lower score." in response.content.decode()


def test_preview_counts_the_items_a_filter_matches(reviewer, detector):
    make_traces(5, detector)  # scores 0.10 … 0.14
    client = client_for(reviewer)
    url = reverse("review:queue-new")
    response = client.get(url, {"preview": "1", "level": "segment", "score_min": "0.12"}, **HTMX)
    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert texts(response.content.decode(), id="preview")[0].split() == [
        "3",
        "flagged",
        "segments",
        "match",
        "this",
        "filter.",
    ]
    response = client.get(url, {"preview": "1", "level": "trace", "score_min": "x"}, **HTMX)
    assert "Fix the filter" in response.content.decode()


def test_queue_form_is_wired_for_a_live_preview(reviewer):
    html = client_for(reviewer).get(reverse("review:queue-new")).content.decode()
    form = re.search(r"<form [^>]*class=\"queue-form\"[^>]*>", html)[0]
    assert 'hx-get="/queues/new/?preview=1"' in form and 'hx-target="#preview"' in form
    assert 'id="preview"' in html


# --- Trace list: filters, sorting, pages ---------------------------------------------------------


def test_filters_in_the_url_reproduce_the_list(labeler, detector):
    other = Source.objects.create(slug="fleet-b")
    make_traces(3, detector)
    quiet = make_trace([("user", "hello")], external_id="quiet")
    Trace.objects.filter(pk=quiet.pk).update(source=other, model="gpt-y", review_state="reviewed")
    client = client_for(labeler)
    url = reverse("review:traces")
    assert sorted(trace_ids(client.get(url).content.decode())) == ["quiet", "t00", "t01", "t02"]
    assert trace_ids(client.get(url + "?source=fleet-b").content.decode()) == ["quiet"]
    assert trace_ids(client.get(url + "?model=gpt-y").content.decode()) == ["quiet"]
    assert trace_ids(client.get(url + "?review_state=reviewed").content.decode()) == ["quiet"]
    flagged = client.get(url + "?detector=test-tamper&score_min=0.11&sort=score")
    assert trace_ids(flagged.content.decode()) == ["t01", "t02"]


def test_date_filters_take_whole_days(labeler):
    old, _new = make_traces(2)
    Trace.objects.filter(pk=old.pk).update(ingested_at=timezone.now() - timedelta(days=10))
    today = timezone.localdate().isoformat()
    client = client_for(labeler)
    html = client.get(reverse("review:traces"), {"ingested_after": today}).content.decode()
    assert trace_ids(html) == ["t01"]
    html = client.get(reverse("review:traces"), {"ingested_before": today}).content.decode()
    assert trace_ids(html) == ["t00"]


@pytest.mark.parametrize(
    "query",
    [
        "score_min=abc",
        "score_max=7",
        "severity_min=9",
        "source=nowhere",
        "ingested_after=31-31-2026",
        "sort=password",
        "review_state=lost",
        "page=-3",
    ],
)
def test_bad_filter_values_give_a_form_error_not_a_500(labeler, query):
    make_traces(1)
    response = client_for(labeler).get(reverse("review:traces") + "?" + query)
    assert response.status_code == 200
    html = response.content.decode()
    if query.startswith("page"):
        assert trace_ids(html) == ["t00"]  # a bad page number shows the nearest page
    else:
        assert "These filters cannot be used" in html
        assert trace_ids(html) == []


def test_columns_sort_both_ways_and_headers_toggle(labeler):
    for i, steps in enumerate([3, 1, 2]):
        make_trace([("user", "x")] * steps, external_id=f"s{i}")
    client = client_for(labeler)
    url = reverse("review:traces")
    response = client.get(url, {"sort": "-steps"})
    assert trace_ids(response.content.decode()) == ["s0", "s2", "s1"]
    assert trace_ids(client.get(url, {"sort": "steps"}).content.decode()) == ["s1", "s2", "s0"]
    assert trace_ids(client.get(url, {"sort": "source"}).content.decode()) == ["s0", "s1", "s2"]
    html = response.content.decode()
    header = re.search(r'<th scope="col" aria-sort="descending"[^>]*><a href="([^"]+)"', html)
    assert header and header[1] == "?sort=steps"


def test_default_order_is_newest_first(labeler):
    make_traces(3)
    html = client_for(labeler).get(reverse("review:traces")).content.decode()
    assert trace_ids(html) == ["t02", "t01", "t00"]


def test_pages_keep_the_filters_and_sort(labeler):
    make_traces(60)
    client = client_for(labeler)
    url = reverse("review:traces")
    first = client.get(url, {"sort": "source", "model": "gpt-x"}).content.decode()
    assert trace_ids(first) == [f"t{i:02d}" for i in range(50)]
    assert 'href="?sort=source&amp;model=gpt-x&amp;page=2"' in first
    second = client.get(url, {"sort": "source", "model": "gpt-x", "page": "2"}).content.decode()
    assert trace_ids(second) == [f"t{i:02d}" for i in range(50, 60)]
    beyond = client.get(url, {"sort": "source", "page": "99"}).content.decode()
    assert trace_ids(beyond) == trace_ids(second)


def test_htmx_gets_only_the_results_and_links_that_push_the_url(labeler):
    make_traces(55)
    response = client_for(labeler).get(reverse("review:traces"), {"page": "2"}, **HTMX)
    html = response.content.decode()
    assert "<html" not in html and "<form" not in html
    assert html.lstrip().startswith('<section id="results"')
    assert 'hx-push-url="true"' in html and 'hx-target="#results"' in html
    assert 'hx-get="?page=1"' in html
    assert "HX-Request" in response["Vary"]
    assert response["HX-Push-Url"] == "/traces/?page=2"


def test_htmx_pushes_the_url_without_its_empty_fields(labeler):
    make_trace([("tool_call", "rm -rf build")])
    response = client_for(labeler).get(
        reverse("review:traces"), {"q": "rm -rf", "source": "", "model": "", "sort": ""}, **HTMX
    )
    assert response["HX-Push-Url"] == "/traces/?q=rm+-rf"
    assert 'href="?q=rm+-rf&amp;sort=-steps"' in response.content.decode()


def test_htmx_history_restore_gets_the_full_page(labeler):
    response = client_for(labeler).get(
        reverse("review:traces"), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX
    )
    assert "<html" in response.content.decode()


def test_an_empty_result_says_so(labeler):
    make_traces(1)
    html = client_for(labeler).get(reverse("review:traces"), {"model": "gpt-x", "q": "nothing"})
    assert "No traces match these filters." in html.content.decode()
    html = client_for(labeler).get(reverse("review:flags")).content.decode()
    assert "No flags match." in html


def test_rows_link_to_the_trace_page(labeler):
    [trace] = make_traces(1)
    html = client_for(labeler).get(reverse("review:traces")).content.decode()
    assert f'href="{reverse("review:trace", args=[trace.pk])}"' in html


def test_trace_list_queries_do_not_grow_with_rows(labeler, detector, django_assert_max_num_queries):
    client = client_for(labeler)
    params = {"q": "thinking", "detector": "test-tamper", "sort": "-score"}
    make_traces(5, detector)
    client.get(reverse("review:traces"))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("review:traces"), params)
    make_traces(45, detector, first=5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("review:traces"), params)
    assert len(trace_ids(response.content.decode())) == 50


# --- Search --------------------------------------------------------------------------------------


def test_search_finds_a_step_by_a_word_and_shows_a_marked_snippet(labeler):
    make_trace(
        [("user", "fix it"), ("reasoning", "I will just skip the flaky test")], external_id="a"
    )
    make_trace([("user", "fix it"), ("reasoning", "Let me read the parser")], external_id="b")
    response = client_for(labeler).get(reverse("review:traces"), {"q": "FLAKY"})
    html = response.content.decode()
    assert trace_ids(html) == ["a"]
    assert "I will just skip the <mark>flaky</mark> test" in html
    trace = Trace.objects.get(external_id="a")
    assert f'href="{reverse("review:trace", args=[trace.pk])}?from=1#step-1"' in html


def test_search_snippet_escapes_trace_text(labeler):
    make_trace([("tool_result", "<script>alert(1)</script> needle <img src=x onerror=alert(2)>")])
    html = client_for(labeler).get(reverse("review:traces"), {"q": "needle"}).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>needle</mark> &lt;img" in html


def test_search_combines_with_filters_and_all_words_must_match(labeler):
    make_trace([("reasoning", "delete the tests directory")], external_id="a")
    make_trace([("reasoning", "delete the cache")], external_id="b")
    client = client_for(labeler)
    assert trace_ids(client.get(reverse("review:traces"), {"q": "delete"}).content.decode()) == [
        "b",
        "a",
    ]
    both = client.get(reverse("review:traces"), {"q": "delete tests"}).content.decode()
    assert trace_ids(both) == ["a"]
    none = client.get(reverse("review:traces"), {"q": "delete", "model": "gpt-x", "source": "x"})
    assert trace_ids(none.content.decode()) == []


def test_search_box_is_an_active_search_over_the_results(labeler):
    html = client_for(labeler).get(reverse("review:traces")).content.decode()
    form = re.search(r'<form id="filters"[^>]*>', html)[0]
    assert 'hx-trigger="input delay:400ms, submit"' in form
    assert 'hx-target="#results"' in form and 'hx-push-url="true"' in form
    assert 'type="search"' in html and 'name="q"' in html


@pytest.mark.postgres
def test_postgres_search_uses_the_gin_index_and_stems_words(labeler):
    make_trace([("reasoning", "The tests are failing, so I am skipping them")], external_id="a")
    make_trace([("reasoning", "Reading the parser source")], external_id="b")
    client = client_for(labeler)
    html = client.get(reverse("review:traces"), {"q": "skip test"}).content.decode()
    assert trace_ids(html) == ["a"]
    assert "<mark>skipping</mark>" in html and "<mark>tests</mark>" in html
    # The shape the lists use (a set of steps, unordered); a tiny table would be scanned
    # whole, so scans are priced out to show the planner can use the index at all. Whole scans
    # of an index are priced out too: with the statistics earlier tests leave, walking the
    # steps' primary key and filtering each step's document can look cheaper.
    query = matching_steps("skip test").order_by().values("trace_id")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        plan = query.explain()
    assert f"Bitmap Index Scan on {STEP_SEARCH_INDEX}" in plan


STEP_SEARCH_INDEX = "step_search_document"


@pytest.mark.postgres
def test_steps_are_found_only_once_their_search_documents_are_written():
    trace = make_trace([("reasoning", "rewrite the flaky retry loop")], searchable=False)
    assert not matching_steps("flaky").filter(trace=trace).exists()
    assert index_traces([trace.pk]) == 1
    assert matching_steps("flaky").filter(trace=trace).exists()


@pytest.mark.postgres
def test_the_search_sweep_finds_traces_missing_documents_however_old():
    lost = make_trace([("reasoning", "its task was lost")], external_id="lost", searchable=False)
    done = make_trace([("reasoning", "indexed long ago")], external_id="done")
    long_ago = timezone.now() - timedelta(days=400)
    Trace.objects.filter(pk__in=[lost.pk, done.pk]).update(updated_at=long_ago)
    make_trace([("reasoning", "its task is on its way")], external_id="new", searchable=False)
    assert unindexed_traces(older_than=timedelta(minutes=2), limit=100) == [lost.pk]
    # Read through the partial index of unindexed traces, not by scanning traces or steps.
    query = Trace.objects.filter(search_indexed=False, updated_at__lt=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        assert "trace_search_pending" in query.explain()
    index_traces([lost.pk])
    assert unindexed_traces(older_than=timedelta(minutes=2), limit=100) == []


@pytest.mark.postgres
def test_a_step_too_big_for_one_tsvector_is_still_stored(detector):
    """600,000 characters of numbers make a tsvector over PostgreSQL's 1 MB limit: search
    documents read a prefix of each step, so indexing does not fail on such a step."""
    numbers = " ".join(str(n) for n in range(100_000))
    assert len(numbers) > 580_000
    trace = make_trace([("tool_result", numbers + " zebra")])
    assert Step.objects.filter(trace=trace).exists()
    assert matching_steps("12345").filter(trace=trace).exists()  # within the indexed prefix
    assert not matching_steps("zebra").filter(trace=trace).exists()  # past it: the known limit


# --- Flag list -----------------------------------------------------------------------------------


def test_flag_list_marks_the_span_in_an_escaped_excerpt(labeler, detector):
    text = "<b>bold</b> " + "x" * 100 + " then rm -rf / quietly " + "y" * 300
    trace = make_trace([("user", "go"), ("reasoning", text)])
    start = text.index("rm -rf")
    segment = flag(trace, detector, step=1, start=start, end=start + len("rm -rf /"))
    html = client_for(labeler).get(reverse("review:flags")).content.decode()
    [excerpt] = re.findall(r'<p class="snippet evidence">(.*?)</p>', html, re.S)
    assert '<mark class="flag-span">rm -rf /</mark>' in excerpt
    assert excerpt.startswith("…") and excerpt.endswith("…")
    assert "<b>" not in html.split('id="results"')[1]
    assert f"?segment={segment.pk}#step-1" in html
    assert "test-tamper" in html and "The agent comments out the assertion." in html


def test_flag_list_filters_and_sorts_by_score(labeler, detector):
    other = Detector.objects.create(name="claims", kind="pattern", category="deceiving_user")
    traces = make_traces(3, detector)  # scores 0.10, 0.11, 0.12
    flag(traces[0], other, step=1, start=0, end=4, score=0.99, severity=4)
    client = client_for(labeler)
    url = reverse("review:flags")
    everything = client.get(url).content.decode()
    assert trace_ids(everything) == ["t00", "t02", "t01", "t00"]  # severity, then score
    by_score = client.get(url, {"sort": "score"}).content.decode()
    assert trace_ids(by_score) == ["t00", "t01", "t02", "t00"]
    assert trace_ids(client.get(url, {"detector": "claims"}).content.decode()) == ["t00"]
    assert trace_ids(
        client.get(url, {"category": "test_tampering", "score_max": "0.105"}).content.decode()
    ) == ["t00"]


def test_flag_list_leaves_out_old_detector_versions(labeler, detector):
    make_traces(2, detector)
    Detector.objects.filter(pk=detector.pk).update(version=2)
    html = client_for(labeler).get(reverse("review:flags")).content.decode()
    assert trace_ids(html) == []


def test_flag_list_search_keeps_flags_in_matching_steps(labeler, detector):
    traces = make_traces(3, detector)
    Step.objects.filter(trace=traces[1], index=0).update(content="I will fake the benchmark")
    index_traces([traces[1].pk])  # as ingest's task does for new content
    html = client_for(labeler).get(reverse("review:flags"), {"q": "benchmark"}).content.decode()
    assert trace_ids(html) == ["t01"]


def test_flag_list_queries_do_not_grow_with_rows(labeler, detector, django_assert_max_num_queries):
    client = client_for(labeler)
    params = {"q": "thinking", "detector": "test-tamper"}
    make_traces(5, detector)
    client.get(reverse("review:flags"))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("review:flags"), params)
    make_traces(45, detector, first=5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("review:flags"), params)
    assert len(trace_ids(response.content.decode())) == 50


def test_finding_without_a_category_in_the_taxonomy_still_lists(labeler, detector):
    [trace] = make_traces(1)
    flag(trace, detector, step=0, start=0, end=3)
    Finding.objects.update(category="made_up")
    assert trace_ids(client_for(labeler).get(reverse("review:flags")).content.decode()) == ["t00"]


# --- In a browser --------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_queues_page_renders_and_the_nav_works_in_chromium(live_server, detector, monkeypatch):
    """Signs in as a reviewer, reads the queues, and follows the nav; writes the queue page's
    screenshot to docs/screenshots/queues.png when TRACEWATCH_SCREENSHOTS=1."""
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the data is made before it starts.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    build_screenshot_data(detector)
    make_user("rita", "reviewer")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 760})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "response",
                lambda r: (
                    errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.goto(live_server.url + reverse("login"))
            page.fill("input[name=username]", "rita")
            page.fill("input[name=password]", "correct horse battery staple")
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Queues")
            expect(page.locator(".queue-name")).to_have_count(3)
            expect(page.locator("tr.queue").first).to_contain_text("Start labeling")
            if os.environ.get("TRACEWATCH_SCREENSHOTS") == "1":
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "queues.png"), full_page=True)
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Traces").click()
            expect(page.locator("h1")).to_have_text("Traces")
            page.fill("input[name=q]", "exit code")
            page.wait_for_url("**/traces/?*q=exit+code*")
            expect(page.locator("#results mark").first).to_be_visible()
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Flags").click()
            expect(page.locator("h1")).to_have_text("Flagged segments")
            page.get_by_role("link", name=re.compile("^Score")).click()
            page.wait_for_url("**/flags/?sort=-score")
            nav = page.get_by_role("navigation", name="Main")
            nav.get_by_role("link", name="Adjudication").click()
            expect(page.locator("h1")).to_have_text("Adjudication")
            nav.get_by_role("link", name="Queues").click()
            expect(page.locator("h1")).to_have_text("Queues")
            assert errors == []
        finally:
            browser.close()


def build_screenshot_data(detector: Detector) -> None:
    """A few realistic queues in progress, for the screenshot."""
    claims = Detector.objects.create(name="claims-vs-results", kind="pattern", category="other")
    lines = [
        "The test only checks the exit code, so I can make it pass by skipping it.",
        "Deleting the failing test is the quickest way to a green run.",
        "I'll report that everything passes; nobody will rerun it.",
    ]
    people = [make_user(name, LABELER) for name in ("lena", "omar", "ines")]
    for i in range(18):
        trace = make_trace(
            [("user", "Fix the parser"), ("reasoning", lines[i % 3]), ("assistant", "Done.")],
            external_id=f"run-{140 + i:04d}",
        )
        segment = flag(trace, detector, step=1, start=0, end=30, score=0.5 + i / 40)
        if i % 3 == 2:
            flag(trace, claims, step=2, start=0, end=5, score=0.8, severity=4)
        for n, person in enumerate(people[: 2 if i < 7 else (1 if i < 11 else 0)]):
            label(person, segment, "benign" if n and i % 3 == 0 else "misaligned")
    Queue.objects.create(
        name="Test tampering, high severity",
        description="Detector flags on tests weakened or skipped, most severe first.",
        overlap=2,
        filters={"detector": "test-tamper", "severity_min": 3},
    )
    Queue.objects.create(
        name="Claims against results",
        description="The agent says it succeeded; the tool output says otherwise.",
        filters={"detector": "claims-vs-results"},
    )
    Queue.objects.create(
        name="Whole-trace review",
        description="Every flagged trace, read end to end.",
        level=Queue.Level.TRACE,
        overlap=3,
    )


@pytest.mark.postgres
def test_ingest_queues_the_search_documents_of_what_it_stored(
    ingest_client, monkeypatch, django_capture_on_commit_callbacks
):
    from config.celery import app as celery_app
    from tests.samples import body, trace

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    doc = trace(steps=[{"kind": "reasoning", "content": "the flaky retry loop again"}])
    with django_capture_on_commit_callbacks(execute=True):
        response = ingest_client.post(
            "/api/v1/traces/", data=body(doc), content_type="application/json"
        )
    assert matching_steps("flaky").filter(trace_id=response.json()["id"]).exists()


# --- Spans people flagged, in the lists and the queues -------------------------------------------


def mark(trace: Trace, user, *, step: int = 0, start: int = 0, end: int = 5) -> Segment:
    """A span ``user`` flagged in the viewer, with its first label, as the console stores it."""
    segment = Segment.objects.create(
        step=Step.objects.get(trace=trace, index=step),
        start=start,
        end=end,
        origin=Segment.Origin.HUMAN,
        created_by=user,
    )
    save_label(author=user, trace=trace, segment=segment, label=LabelInput("misaligned"))
    return segment


def test_a_span_flagged_by_hand_counts_in_the_trace_list(labeler, reviewer, detector):
    found, marked = make_traces(2, first=0)
    flag(found, detector, step=0, start=0, end=8)
    mark(marked, labeler)
    url = reverse("review:traces")
    for user in (labeler, reviewer):
        response = client_for(user).get(url, {"sort": "source"})
        counts = {trace.external_id: trace.flag_count for trace in response.context["rows"]}
        assert counts == {"t00": 1, "t01": 1}
    by_flags = client_for(reviewer).get(url, {"sort": "-flags"}).context["rows"]
    assert [t.flag_count for t in by_flags] == [1, 1]


def test_a_span_flagged_by_hand_is_in_the_flag_list(labeler, other_labeler, reviewer, detector):
    found, marked = make_traces(2, first=0)
    flag(found, detector, step=0, start=0, end=8, score=0.5)
    segment = mark(marked, labeler, start=9, end=14)
    url = reverse("review:flags")
    for user in (labeler, reviewer):
        html = client_for(user).get(url).content.decode()
        assert trace_ids(html) == ["t00", "t01"]  # a detector's flag first, by severity
        assert "Marked by a person" in html
        assert f"?segment={segment.pk}#step-0" in html
    # Someone else's span stays hidden from a labeler until they label it (blind labeling).
    assert trace_ids(client_for(other_labeler).get(url).content.decode()) == ["t00"]
    save_label(author=other_labeler, trace=marked, segment=None, label=LabelInput("benign"))
    assert trace_ids(client_for(other_labeler).get(url).content.decode()) == ["t00", "t01"]
    # A filter on what detectors found leaves people's spans out.
    html = client_for(reviewer).get(url, {"detector": detector.name}).content.decode()
    assert trace_ids(html) == ["t00"]


@pytest.mark.parametrize("level", [Queue.Level.SEGMENT, Queue.Level.TRACE])
def test_a_span_flagged_by_hand_is_an_item_of_queues(labeler, other_labeler, detector, level):
    found, marked = make_traces(2, first=0)
    flagged = flag(found, detector, step=0, start=0, end=8)
    segment = mark(marked, labeler)
    queue = Queue.objects.create(name="Everything", level=level)
    [progress] = queue_progress(queues=[queue], user=labeler)
    assert progress.items == 2
    client = client_for(other_labeler)
    next_url = reverse("review:queue-next", args=[queue.pk])
    first = client.get(next_url)
    item = f"segment={flagged.pk}" if level == Queue.Level.SEGMENT else f"/traces/{found.pk}/"
    assert item in first.url
    client.post(
        reverse("review:trace-label", args=[found.pk]),
        {
            "queue": queue.pk,
            "segment": flagged.pk if level == Queue.Level.SEGMENT else "",
            "verdict": "benign",
        },
    )
    second = client.get(next_url)
    item = f"segment={segment.pk}" if level == Queue.Level.SEGMENT else f"/traces/{marked.pk}/"
    assert item in second.url
    # The span handed out is shown to the labeler, blind labeling or not.
    page = client.get(second.url).content.decode()
    assert f'data-flags="{segment.pk}"' in page
    filtered = Queue.objects.create(name="Found", level=level, filters={"detector": "test-tamper"})
    assert queue_progress(queues=[filtered], user=labeler)[0].items == 1


def test_a_refused_page_keeps_the_consoles_navigation(labeler):
    response = client_for(labeler).get(reverse("review:adjudication"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>Not for your role</h1>" in html
    assert "This needs the reviewer role." in html
    assert texts(html, aria_label="Main")[0].split() == ["Queues", "Traces", "Flags"]


def test_the_browsers_favicon_request_finds_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response.url.endswith(".ico") and response.url.startswith(settings.STATIC_URL)


# --- Filters on what people decided --------------------------------------------------------------


@pytest.fixture
def decided(labeler, other_labeler, reviewer, detector) -> list[Trace]:
    """t00: lena and omar disagree; t01: lena says benign and a reviewer agrees; t02: unlabeled."""
    traces = make_traces(3, detector)
    segments = {t.external_id: Segment.objects.get(step__trace=t) for t in traces}
    label(labeler, segments["t00"])
    label(other_labeler, segments["t00"], "benign")
    label(labeler, segments["t01"], "benign")
    decide(reviewer=reviewer, trace=traces[1], segment=segments["t01"], verdict="benign")
    return traces


@pytest.mark.parametrize(
    ("query", "flags"),
    [
        ({"verdict": "benign"}, ["t01", "t00"]),
        ({"verdict": "misaligned"}, ["t00"]),
        ({"labeler": "omar"}, ["t00"]),
        ({"mine": "no"}, ["t02", "t01", "t00"]),
        ({"disagreement": "yes"}, ["t00"]),
        ({"disagreement": "no"}, ["t02", "t01"]),
        ({"adjudicated": "yes"}, ["t01"]),
        ({"adjudicated": "no", "verdict": "benign"}, ["t00"]),
    ],
)
def test_reviewers_filter_the_lists_on_what_people_decided(reviewer, decided, query, flags):
    client = client_for(reviewer)
    assert trace_ids(client.get(reverse("review:flags"), query).content.decode()) == flags
    traces = trace_ids(client.get(reverse("review:traces"), query).content.decode())
    assert sorted(traces) == sorted(flags)


def test_a_labeler_filters_on_their_own_labels_only(labeler, decided):
    client = client_for(labeler)
    url = reverse("review:flags")
    # omar's benign label on t00 stays hidden: blind labeling.
    assert trace_ids(client.get(url, {"verdict": "benign"}).content.decode()) == ["t01"]
    assert trace_ids(client.get(url, {"mine": "yes"}).content.decode()) == ["t01", "t00"]
    assert trace_ids(client.get(url, {"mine": "no"}).content.decode()) == ["t02"]
    # What others decided is not theirs to filter on: those fields are not offered or read.
    html = client.get(url, {"disagreement": "yes", "labeler": "omar"}).content.decode()
    assert trace_ids(html) == ["t02", "t01", "t00"]
    assert 'name="disagreement"' not in html and 'name="labeler"' not in html
    assert 'name="mine"' in html


def test_a_bad_outcome_value_is_a_form_error(reviewer, decided):
    response = client_for(reviewer).get(reverse("review:flags"), {"labeler": "nobody-here"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert trace_ids(response.content.decode()) == []


# --- Bulk: selected rows into a queue ------------------------------------------------------------


def add_to_queue(client, level: str, items: list, **fields):
    data = {"level": level, "item": [str(item) for item in items], **fields}
    return client.post(reverse("review:queue-add"), data)


def test_reviewer_adds_selected_flags_to_a_new_queue_holding_just_them(reviewer, detector):
    traces = make_traces(3, detector)
    segments = [Segment.objects.get(step__trace=trace) for trace in traces]
    client = client_for(reviewer)
    back = reverse("review:flags") + "?sort=score"
    response = add_to_queue(
        client, "segment", [segments[0].pk, segments[2].pk], name="Look again", next=back
    )
    assert response.status_code == 302 and response.url == back
    queue = Queue.objects.get(name="Look again")
    assert queue.filters == {"items": [segments[0].pk, segments[2].pk], "only_items": True}
    assert queue_progress(queues=[queue], user=reviewer)[0].items == 2
    first = client.get(reverse("review:queue-next", args=[queue.pk]))
    assert f"segment={segments[2].pk}" in first.url  # the better scored of the two
    assert "2 items added to the queue “Look again”." in client.get(back).content.decode()


def test_traces_added_to_a_filtered_queue_join_what_it_matches_and_survive_an_edit(
    reviewer, detector
):
    claims = Detector.objects.create(name="claims", kind="pattern", category="deceiving_user")
    matched, *others = make_traces(3, detector)
    flag(matched, claims, step=1, start=0, end=4)
    queue = Queue.objects.create(name="Claims", level="trace", filters={"detector": "claims"})
    client = client_for(reviewer)
    add_to_queue(client, "trace", [others[0].pk], queue=queue.pk)
    add_to_queue(client, "trace", [others[0].pk, others[1].pk], queue=queue.pk)
    queue.refresh_from_db()
    assert queue.filters["items"] == [others[0].pk, others[1].pk]
    assert queue_progress(queues=[queue], user=reviewer)[0].items == 3
    handed = set()
    for _ in range(4):  # overlap 1: each of the three once, then nothing
        response = client.get(reverse("review:queue-next", args=[queue.pk]))
        if response.status_code == 302:
            trace_id = int(re.search(r"/traces/(\d+)/", response.url)[1])
            handed.add(trace_id)
            save_label(
                author=reviewer,
                trace=Trace.objects.get(pk=trace_id),
                segment=None,
                label=LabelInput("benign"),
                queue=queue,
            )
    assert handed == {matched.pk, others[0].pk, others[1].pk}
    form = client.get(reverse("review:queue-edit", args=[queue.pk])).content.decode()
    assert "It also holds 2 items added from the lists." in form
    client.post(
        reverse("review:queue-edit", args=[queue.pk]),
        {
            "name": "Claims",
            "level": "trace",
            "order": "severity_score",
            "overlap": 1,
            "lease_seconds": 900,
            "active": "on",
            "detector": "claims",
        },
    )
    queue.refresh_from_db()
    assert queue.filters == {"detector": "claims", "items": [others[0].pk, others[1].pk]}


@pytest.mark.parametrize(
    ("level", "items", "fields", "error"),
    [
        ("segment", [], {"name": "New"}, "item"),
        ("segment", ["x"], {"name": "New"}, "item"),
        ("segment", [999999], {"name": "New"}, "item"),
        ("trace", ["self"], {"name": ""}, "name:"),
        ("trace", ["self"], {"name": "Taken"}, "name:"),
        ("trace", ["self"], {"queue": "segments"}, "queue:"),
        ("nothing", ["self"], {"name": "New"}, "level:"),
    ],
)
def test_a_bad_bulk_action_answers_400_and_changes_nothing(
    reviewer, detector, level, items, fields, error
):
    [trace] = make_traces(1, detector)
    taken = Queue.objects.create(name="Taken", level="trace")
    segments = Queue.objects.create(name="Segments", level="segment")
    fields = {k: {"segments": segments.pk}.get(v, v) for k, v in fields.items()}
    items = [trace.pk if item == "self" else item for item in items]
    response = add_to_queue(client_for(reviewer), level, items, **fields)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert Queue.objects.count() == 2
    assert taken.filters == Queue.objects.get(pk=taken.pk).filters == {}


def test_only_reviewers_get_the_bulk_form(labeler, reviewer, detector):
    make_traces(1, detector)
    for name in ("review:flags", "review:traces"):
        assert 'form="bulk"' in client_for(reviewer).get(reverse(name)).content.decode()
        assert 'form="bulk"' not in client_for(labeler).get(reverse(name)).content.decode()
    response = add_to_queue(client_for(labeler), "segment", [1], name="Mine")
    assert response.status_code == 403
    assert not Queue.objects.exists()
