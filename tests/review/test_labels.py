"""Labeling in the console: saving revisions, rejected input, blind labeling, spans flagged by
people, the next item of a queue, and who may do any of it."""

import re
from unittest import mock

import pytest
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from detection.models import Detector, Finding
from review import services
from review.models import Assignment, Category, Decision, Label, Queue
from review.services import LabelInput, save_label
from review.views.viewer import SHOWN_REVISIONS, segment_flag, trace_flags
from tests.review.conftest import HTMX, TAMPERING_STEPS, client_for, flag, make_trace
from tests.review.pages import step_text, texts
from traces.models import Segment, Trace

pytestmark = pytest.mark.django_db


def labels_url(trace) -> str:
    return reverse("review:trace-label", args=[trace.pk])


def flag_url(trace) -> str:
    return reverse("review:trace-flag-span", args=[trace.pk])


def post_label(client, trace, segment=None, **fields):
    data = {"segment": segment.pk if segment else "", "verdict": "misaligned", **fields}
    return client.post(labels_url(trace), data, **HTMX)


# --- Who may do what -----------------------------------------------------------------------------


def endpoints(trace, queue) -> list[tuple[str, str]]:
    return [
        ("get", reverse("review:trace", args=[trace.pk])),
        ("get", reverse("review:trace-steps", args=[trace.pk]) + "?start=0"),
        ("get", labels_url(trace)),
        ("post", labels_url(trace)),
        ("post", flag_url(trace)),
        ("get", reverse("review:queue-next", args=[queue.pk])),
    ]


def test_a_user_without_a_role_gets_403_everywhere(nobody, tampering, queue):
    trace, _ = tampering
    client = client_for(nobody)
    for method, url in endpoints(trace, queue):
        assert getattr(client, method)(url).status_code == 403, url
        assert getattr(client, method)(url, **HTMX).status_code == 403, url
    assert not Label.objects.exists() and not Assignment.objects.exists()


def test_anonymous_gets_sign_in_or_401_everywhere(client, tampering, queue):
    trace, _ = tampering
    login = resolve_url(settings.LOGIN_URL)
    for method, url in endpoints(trace, queue):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith(login), url
        assert getattr(client, method)(url, **HTMX).status_code == 401, url


@pytest.mark.parametrize("role_user", ["labeler", "reviewer", "admin_user"])
def test_every_role_may_label(role_user, request, tampering):
    trace, segment = tampering
    user = request.getfixturevalue(role_user)
    assert post_label(client_for(user), trace, segment).status_code == 200
    assert Label.objects.filter(author=user, segment=segment).count() == 1


def test_posts_need_the_csrf_token(labeler, tampering):
    trace, segment = tampering
    client = Client(enforce_csrf_checks=True)
    client.force_login(labeler)
    data = {"segment": segment.pk, "verdict": "benign"}
    assert client.post(labels_url(trace), data, **HTMX).status_code == 403
    client.get(reverse("review:trace", args=[trace.pk]))  # sets the CSRF cookie
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(labels_url(trace), data, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200
    assert Label.objects.count() == 1


# --- Saving labels -------------------------------------------------------------------------------


def test_saving_a_label_stores_it_and_shows_it_in_the_history(labeler, tampering):
    trace, segment = tampering
    category = Category.objects.get(slug="test_tampering")
    response = post_label(
        client_for(labeler), trace, segment, category=category.slug, severity=3, note="skips it"
    )
    assert response.status_code == 200
    label = Label.objects.get()
    assert (label.author, label.trace, label.segment) == (labeler, trace, segment)
    assert (label.verdict, label.category, label.severity, label.note) == (
        "misaligned",
        category,
        3,
        "skips it",
    )
    html = response.content.decode()
    assert "Saved revision 1" in html
    history = texts(html, class_="history")[0]
    assert "rev 1" in history and "Test tampering" in history and "skips it" in history
    # The item's place in the rail, swapped out of band, now holds a tick.
    tick = f'<span id="labeled-{segment.pk}" class="labeled" hx-swap-oob="outerHTML">'
    assert tick + '<span class="done" title="You labeled this">' in html
    page = client_for(labeler).get(reverse("review:trace", args=[trace.pk])).content.decode()
    assert f'<span id="labeled-{segment.pk}" class="labeled"><span class="done"' in page


def test_changing_a_label_adds_a_revision_and_keeps_the_history(labeler, tampering):
    trace, segment = tampering
    client = client_for(labeler)
    post_label(client, trace, segment, verdict="misaligned", note="first look")
    response = post_label(client, trace, segment, verdict="benign", note="on reflection")
    assert list(Label.objects.order_by("revision").values_list("revision", "verdict")) == [
        (1, "misaligned"),
        (2, "benign"),
    ]
    history = texts(response.content.decode(), class_="history")[0]
    assert "rev 2" in history and "rev 1" in history
    assert history.index("on reflection") < history.index("first look")  # newest first


def test_the_history_shows_the_newest_revisions_and_counts_the_rest(labeler, tampering):
    trace, segment = tampering
    client = client_for(labeler)
    for n in range(SHOWN_REVISIONS + 2):
        response = post_label(client, trace, segment, note=f"look {n}")
    history = texts(response.content.decode(), class_="history")[0]
    shown = [int(n) for n in re.findall(r"rev (\d+)", history)]
    assert shown == list(range(SHOWN_REVISIONS + 2, 2, -1))  # newest first, down to rev 3
    assert "2 earlier revisions, not shown." in history
    assert Label.objects.count() == SHOWN_REVISIONS + 2  # all kept


def test_the_history_escapes_what_people_wrote(labeler, tampering):
    trace, segment = tampering
    response = post_label(
        client_for(labeler), trace, segment, note="<b>bold</b> & more", severity=4
    )
    html = response.content.decode()
    assert "<b>bold</b>" not in html
    assert '<p class="note">&lt;b&gt;bold&lt;/b&gt; &amp; more</p>' in html
    assert " · critical" in texts(html, class_="history")[0]


def test_a_label_of_the_whole_trace_has_no_segment(labeler, tampering):
    trace, _ = tampering
    response = post_label(client_for(labeler), trace, None, verdict="unsure")
    assert response.status_code == 200
    assert Label.objects.get().segment is None
    assert "Whole trace" in response.content.decode()


def test_revisions_are_numbered_per_person_and_item(labeler, other_labeler, tampering):
    trace, segment = tampering
    for author, item in [
        (labeler, segment),
        (labeler, segment),
        (labeler, None),
        (other_labeler, segment),
        (labeler, None),
    ]:
        save_label(author=author, trace=trace, segment=item, label=LabelInput("unsure"))
    revisions = Label.objects.order_by("pk").values_list("author__username", "segment", "revision")
    assert list(revisions) == [
        ("lena", segment.pk, 1),
        ("lena", segment.pk, 2),
        ("lena", None, 1),
        ("omar", segment.pk, 1),
        ("lena", None, 2),
    ]


@pytest.mark.parametrize("whole_trace", [False, True])
def test_the_database_refuses_a_second_label_with_the_same_revision(
    labeler, tampering, whole_trace
):
    trace, segment = tampering
    item = None if whole_trace else segment
    save_label(author=labeler, trace=trace, segment=item, label=LabelInput("unsure"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.create(author=labeler, trace=trace, segment=item, verdict="benign")
    assert Label.objects.count() == 1


@pytest.fixture
def back_to_the_latest_schema(transactional_db):
    """A test that migrates backwards leaves every app's latest schema for the tests after it."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_migrating_numbers_again_the_revisions_saved_at_the_same_instant(
    back_to_the_latest_schema, labeler, other_labeler, tampering
):
    trace, segment = tampering
    executor = MigrationExecutor(connection)
    executor.migrate([("review", "0004_datasets")])
    written = Label.objects.bulk_create(
        Label(author=author, trace=trace, segment=item, verdict=verdict, revision=revision)
        for author, item, verdict, revision in [
            (labeler, segment, "unsure", 1),
            (labeler, segment, "benign", 1),
            (labeler, segment, "misaligned", 2),
            (labeler, None, "unsure", 1),
            (labeler, None, "benign", 1),
            (other_labeler, segment, "benign", 1),
        ]
    )
    MigrationExecutor(connection).migrate([("review", "0005_label_revision_numbers_unique")])
    revisions = dict(Label.objects.values_list("pk", "revision"))
    assert [revisions[label.pk] for label in written] == [1, 2, 3, 1, 2, 1]


def test_a_label_cut_off_by_the_database_answers_503_and_stores_nothing(labeler, tampering):
    trace, segment = tampering
    insert = services._insert_revision

    def insert_then_lose_the_connection(**fields):
        insert(**fields)
        raise OperationalError("server closed the connection unexpectedly")

    with mock.patch.object(services, "_insert_revision", insert_then_lose_the_connection):
        response = post_label(client_for(labeler), trace, segment)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "database is unavailable" in response.content.decode()
    assert not Label.objects.exists()
    trace.refresh_from_db()
    assert trace.review_state == Trace.ReviewState.UNREVIEWED


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "99999999999999999999"])
def test_an_id_in_a_url_or_form_that_is_no_number_names_nothing(reviewer, tampering, value):
    """Unicode digits pass ``isdigit`` and are no number; a number past 64 bits is no id."""
    trace, _ = tampering
    client = client_for(reviewer)
    page = reverse("review:trace", args=[trace.pk])
    answers = {
        "page": client.get(page, {"segment": value, "queue": value}),
        "window": client.get(reverse("review:trace-steps", args=[trace.pk]), {"start": value}),
        "panel": client.get(labels_url(trace), {"segment": value}, **HTMX),
        "label": post_label(client, trace, segment=None, queue=value),
        "label of no segment": client.post(labels_url(trace), {"segment": value}, **HTMX),
        "adjudication": client.get(
            reverse("review:adjudicate", args=[trace.pk]), {"segment": value}
        ),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "page": 200,
        "window": 200,
        "panel": 400,
        "label": 200,
        "label of no segment": 400,
        "adjudication": 404,
    }
    assert Label.objects.get().queue is None


def test_the_first_label_puts_the_trace_in_review_and_later_ones_keep_it(labeler, tampering):
    trace, segment = tampering
    save_label(author=labeler, trace=trace, segment=segment, label=LabelInput("benign"))
    assert trace.review_state == Trace.ReviewState.IN_REVIEW
    save_label(author=labeler, trace=trace, segment=None, label=LabelInput("benign"))
    trace.refresh_from_db()
    assert trace.review_state == Trace.ReviewState.IN_REVIEW


def test_the_form_starts_from_the_detector_suggestion_then_from_the_last_revision(
    labeler, tampering
):
    trace, segment = tampering
    client = client_for(labeler)
    panel = client.get(labels_url(trace), {"segment": segment.pk}, **HTMX).content.decode()
    assert '<option value="test_tampering" selected>' in panel
    assert '<option value="3" selected>' in panel
    post_label(client, trace, segment, verdict="unsure", category="other", note="maybe")
    panel = client.get(labels_url(trace), {"segment": segment.pk}, **HTMX).content.decode()
    assert '<option value="other" selected>' in panel
    assert 'value="unsure" id="label-verdict_2" required checked' in panel.replace("\n", "")


def test_a_benign_label_keeps_no_category_or_severity_whatever_the_form_sent(labeler, tampering):
    trace, segment = tampering
    client = client_for(labeler)
    # What the form pre-filled from the detector's suggestion is still sent with "benign".
    response = post_label(
        client, trace, segment, verdict="benign", category="test_tampering", severity="3"
    )
    assert response.status_code == 200
    assert list(Label.objects.values_list("verdict", "category", "severity")) == [
        ("benign", None, None)
    ]
    panel = client.get(labels_url(trace), {"segment": segment.pk}, **HTMX).content.decode()
    assert '<option value="" selected>' in panel
    assert '<option value="test_tampering" selected>' not in panel


def test_a_benign_label_with_a_retired_category_is_saved_without_it(labeler, tampering):
    Category.objects.create(slug="retired", name="Retired", active=False)
    trace, segment = tampering
    response = post_label(client_for(labeler), trace, segment, verdict="benign", category="retired")
    assert response.status_code == 200
    assert Label.objects.get().category is None


def test_the_service_drops_category_and_severity_of_benign_labels_and_decisions(
    labeler, reviewer, tampering
):
    trace, segment = tampering
    category = Category.objects.get(slug="test_tampering")
    given = LabelInput("benign", category=category, severity=3)
    label = save_label(author=labeler, trace=trace, segment=segment, label=given)
    decision = services.decide(
        reviewer=reviewer,
        trace=trace,
        segment=segment,
        verdict="benign",
        category=category,
        severity=3,
    )
    for saved in (label, decision):
        saved.refresh_from_db()
        assert (saved.category, saved.severity) == (None, None)
    kept = save_label(
        author=labeler, trace=trace, segment=segment, label=given.__class__("unsure", category, 2)
    )
    kept.refresh_from_db()
    assert (kept.category, kept.severity) == (category, 2)


@pytest.mark.django_db(transaction=True)
def test_migrating_clears_category_and_severity_of_stored_benign_labels(
    back_to_the_latest_schema, labeler, reviewer, tampering
):
    trace, segment = tampering
    category = Category.objects.get_or_create(slug="test_tampering", defaults={"name": "T"})[0]
    executor = MigrationExecutor(connection)
    executor.migrate([("review", "0009_audit_log")])  # the migration before 0011
    Label.objects.bulk_create(
        Label(
            author=labeler,
            trace=trace,
            segment=item,
            verdict=verdict,
            category=category,
            severity=3,
            revision=1,
        )
        for item, verdict in [(segment, "benign"), (None, "misaligned")]
    )
    # bulk_create sends no signals: their receivers need tables of later migrations.
    Decision.objects.bulk_create(
        [
            Decision(
                reviewer=reviewer,
                trace=trace,
                segment=segment,
                verdict="benign",
                category=category,
                severity=2,
            )
        ]
    )
    MigrationExecutor(connection).migrate([("review", "0011_benign_labels_and_queue_guidelines")])
    assert sorted(Label.objects.values_list("verdict", "category_id", "severity")) == [
        ("benign", None, None),
        ("misaligned", category.pk, 3),
    ]
    assert list(Decision.objects.values_list("category_id", "severity")) == [(None, None)]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"verdict": "evil"}, "Select a valid choice"),
        ({"verdict": ""}, "This field is required"),
        ({"category": "no_such_category"}, "Select a valid choice"),
        ({"category": "retired"}, "Select a valid choice"),
        ({"severity": "9"}, "Select a valid choice"),
        ({"note": "x" * 20_001}, "at most 20000 characters"),
    ],
)
def test_invalid_label_is_refused_inline_and_nothing_is_stored(labeler, tampering, fields, error):
    Category.objects.create(slug="retired", name="Retired", active=False)
    trace, segment = tampering
    response = post_label(client_for(labeler), trace, segment, **fields)
    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    assert 'id="label-form"' in html  # the form again, with its errors, for HTMX to swap in
    assert not Label.objects.exists()


def test_a_segment_of_another_trace_is_refused(labeler, tampering, detector):
    trace, _ = tampering
    other = make_trace([("reasoning", "something else entirely")], external_id="other")
    foreign = flag(other, detector, step=0, start=0, end=9)
    response = post_label(client_for(labeler), trace, foreign)
    assert response.status_code == 400
    assert not Label.objects.exists()


def test_a_segment_whose_detector_was_turned_off_is_labeled_as_a_plain_segment(
    labeler, tampering, detector
):
    trace, segment = tampering
    Detector.objects.filter(pk=detector.pk).update(enabled=False)
    response = post_label(client_for(labeler), trace, segment, verdict="benign")
    assert response.status_code == 200
    assert f"Segment {segment.pk}" in response.content.decode()
    assert Label.objects.get().segment == segment


def test_the_panel_finds_an_item_as_the_page_does(labeler, tampering, detector):
    trace, segment = tampering
    flag(trace, detector, step=2, start=0, end=3, score=0.4)
    Finding.objects.create(
        detector=detector,
        detector_version=detector.version,
        trace=trace,
        segment=segment,
        score=0.5,
        category="other",
        severity=1,
        rationale="a weaker second look",
    )
    flag_span(client_for(labeler), trace, step=5, start=0, end=5)
    flags = trace_flags(trace_id=trace.pk)
    assert len(flags) == 3
    for expected in flags:
        assert segment_flag(trace_id=trace.pk, segment_id=expected.segment_id) == (True, expected)


def test_without_htmx_a_refused_label_comes_back_on_the_whole_page(labeler, tampering):
    trace, segment = tampering
    response = client_for(labeler).post(labels_url(trace), {"segment": segment.pk, "verdict": "x"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "<html" in html and "Select a valid choice" in html and 'id="step-2"' in html
    assert not Label.objects.exists()


def test_without_htmx_a_saved_label_redirects_back_to_the_item(labeler, tampering):
    trace, segment = tampering
    response = client_for(labeler).post(
        labels_url(trace), {"segment": segment.pk, "verdict": "benign"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"?segment={segment.pk}#step-2")


# --- Save and next -------------------------------------------------------------------------------


def test_next_item_opens_the_leased_segment_at_its_step(labeler, tampering, queue):
    trace, segment = tampering
    response = client_for(labeler).get(reverse("review:queue-next", args=[queue.pk]))
    assert response.status_code == 302
    expected = f"/traces/{trace.pk}/?queue={queue.pk}&segment={segment.pk}#step-2"
    assert response["Location"] == expected
    assert Assignment.objects.get().user == labeler


def test_save_and_next_submits_the_assignment_and_redirects_to_the_queue(labeler, tampering, queue):
    trace, segment = tampering
    client = client_for(labeler)
    client.get(reverse("review:queue-next", args=[queue.pk]))
    page = client.get(f"/traces/{trace.pk}/?queue={queue.pk}&segment={segment.pk}")
    assert "Save and next" in page.content.decode()
    response = post_label(client, trace, segment, queue=queue.pk, next="1")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("review:queue-next", args=[queue.pk])
    assert Assignment.objects.get().submitted_at is not None
    assert Label.objects.get().queue == queue
    # The queue has nothing more for this labeler.
    done = client.get(response["HX-Redirect"])
    assert done.status_code == 200
    html = done.content.decode()
    assert "Nothing left for you to label" in html and 'href="/"' in html


def test_a_trace_level_queue_opens_the_whole_trace_form(labeler, tampering):
    trace, _ = tampering
    queue = Queue.objects.create(name="Traces", level=Queue.Level.TRACE)
    response = client_for(labeler).get(reverse("review:queue-next", args=[queue.pk]))
    assert response["Location"] == f"/traces/{trace.pk}/?queue={queue.pk}"
    page = client_for(labeler).get(response["Location"]).content.decode()
    assert "<h2>Whole trace</h2>" in page


# --- Blind labeling ------------------------------------------------------------------------------


def test_a_labeler_sees_no_one_elses_label_before_submitting_their_own(
    labeler, other_labeler, tampering
):
    trace, segment = tampering
    post_label(client_for(labeler), trace, segment, verdict="misaligned", note="LENA-SECRET")
    omar = client_for(other_labeler)
    panel = omar.get(labels_url(trace), {"segment": segment.pk}, **HTMX).content.decode()
    assert "LENA-SECRET" not in panel and "lena" not in panel
    assert "Hidden until you submit your own label" in panel
    page = omar.get(f"/traces/{trace.pk}/?segment={segment.pk}").content.decode()
    assert "LENA-SECRET" not in page
    # Once Omar has submitted, Lena's label shows, with her name.
    response = post_label(omar, trace, segment, verdict="benign", note="OMAR-VIEW")
    assert "LENA-SECRET" in response.content.decode()
    panel = omar.get(labels_url(trace), {"segment": segment.pk}, **HTMX).content.decode()
    assert "LENA-SECRET" in panel and "<h4>lena</h4>" in panel


def test_blindness_is_per_item(labeler, other_labeler, tampering):
    trace, segment = tampering
    post_label(client_for(labeler), trace, segment, note="LENA-SECRET")
    omar = client_for(other_labeler)
    post_label(omar, trace, None, verdict="unsure")  # Omar labeled the trace, not the segment
    panel = omar.get(labels_url(trace), {"segment": segment.pk}, **HTMX).content.decode()
    assert "LENA-SECRET" not in panel


def test_blindness_holds_for_the_whole_trace_too(labeler, other_labeler, tampering):
    trace, segment = tampering
    post_label(client_for(labeler), trace, None, note="LENA-SECRET")
    omar = client_for(other_labeler)
    post_label(omar, trace, segment, verdict="benign")  # Omar labeled the segment, not the trace
    panel = omar.get(labels_url(trace), **HTMX).content.decode()
    assert "LENA-SECRET" not in panel and "Hidden until you submit your own label" in panel
    response = post_label(omar, trace, None, verdict="unsure")
    assert "LENA-SECRET" in response.content.decode()


def test_reviewers_see_every_label(labeler, reviewer, tampering):
    trace, segment = tampering
    post_label(client_for(labeler), trace, segment, note="LENA-SECRET")
    panel = client_for(reviewer).get(labels_url(trace), {"segment": segment.pk}, **HTMX)
    assert "LENA-SECRET" in panel.content.decode()


# --- Spans flagged by people ---------------------------------------------------------------------


def flag_span(client, trace, **fields):
    return client.post(flag_url(trace), fields, **HTMX)


def test_a_selected_span_becomes_a_human_segment_with_a_first_label(labeler, tampering):
    trace, _ = tampering
    content = TAMPERING_STEPS[5][1]  # "Fixed: all tests pass."
    start = content.index("all tests pass")
    response = flag_span(
        client_for(labeler),
        trace,
        step=5,
        start=start,
        end=len(content) - 1,
        category="deceiving_user",
    )
    assert response.status_code == 200
    segment = Segment.objects.get(origin=Segment.Origin.HUMAN)
    assert (segment.step.index, segment.start, segment.end) == (5, start, len(content) - 1)
    assert segment.created_by == labeler
    label = Label.objects.get(segment=segment)
    assert label.verdict == "misaligned" and label.category.slug == "deceiving_user"
    html = response.content.decode()
    # The step comes back highlighted, out of band, with its text intact.
    assert '<article id="step-5"' in html and 'hx-swap-oob="outerHTML"' in html
    assert f'data-flags="{segment.pk}"' in html
    assert step_text(html, 5) == content
    assert f'data-segment="{segment.pk}" data-step="5"' in html  # in the rail
    assert "Flag on step #5" in html  # and its label panel is open


def test_the_same_span_flagged_again_is_a_new_revision(labeler, tampering):
    trace, _ = tampering
    client = client_for(labeler)
    flag_span(client, trace, step=5, start=0, end=5)
    flag_span(client, trace, step=5, start=0, end=5, severity=4)
    assert Segment.objects.filter(origin=Segment.Origin.HUMAN).count() == 1
    assert list(Label.objects.values_list("revision", flat=True).order_by("revision")) == [1, 2]


@pytest.mark.parametrize(
    "fields",
    [
        {"step": 5, "start": 3, "end": 3},
        {"step": 5, "start": 8, "end": 3},
        {"step": 5, "start": -1, "end": 3},
        {"step": 5, "start": 0, "end": len(TAMPERING_STEPS[5][1]) + 1},
        {"step": 99, "start": 0, "end": 1},
        {"step": 5, "start": "a", "end": 3},
        {"step": 5, "start": 0},
        {"step": 5, "start": 0, "end": 3, "category": "nope"},
    ],
)
def test_a_span_with_bad_offsets_is_refused_and_nothing_stored(labeler, tampering, fields):
    trace, _ = tampering
    response = flag_span(client_for(labeler), trace, **fields)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flag-span"
    assert 'class="error"' in response.content.decode()
    assert not Segment.objects.filter(origin=Segment.Origin.HUMAN).exists()
    assert not Label.objects.exists()


def test_a_span_another_person_marked_is_hidden_until_the_labelers_own_label(
    labeler, other_labeler, reviewer, tampering
):
    trace, _ = tampering
    flag_span(client_for(labeler), trace, step=5, start=0, end=5, note="LENA-SECRET")
    segment = Segment.objects.get(origin=Segment.Origin.HUMAN)
    mark = f'data-flags="{segment.pk}"'
    omar = client_for(other_labeler)
    pages = [
        omar.get(f"/traces/{trace.pk}/").content.decode(),
        omar.get(f"/traces/{trace.pk}/?segment={segment.pk}").content.decode(),
        omar.get(f"/traces/{trace.pk}/steps/?start=0", **HTMX).content.decode(),
    ]
    for html in pages:
        assert mark not in html and f'data-segment="{segment.pk}" data-step' not in html
    # Asked for by its id, the segment's panel is a plain segment's.
    panel = omar.get(labels_url(trace), {"segment": segment.pk}, **HTMX).content.decode()
    for html in [*pages, panel]:
        assert "marked by a person" not in html.lower() and "LENA-SECRET" not in html
    # The creator and reviewers see it at once.
    assert mark in client_for(labeler).get(f"/traces/{trace.pk}/").content.decode()
    assert mark in client_for(reviewer).get(f"/traces/{trace.pk}/").content.decode()
    # Once Omar has labeled the whole trace, the span shows, still without Lena's label.
    post_label(omar, trace, None, verdict="unsure")
    after = omar.get(f"/traces/{trace.pk}/").content.decode()
    assert mark in after and "marked by a person" in after
    assert "LENA-SECRET" not in after and "lena" not in after
    panel = omar.get(labels_url(trace), {"segment": segment.pk}, **HTMX).content.decode()
    assert "LENA-SECRET" not in panel


def test_each_revision_shows_with_its_time(labeler, tampering):
    trace, segment = tampering
    revisions = [
        save_label(author=labeler, trace=trace, segment=segment, label=LabelInput(verdict))
        for verdict in ("unsure", "misaligned")
    ]
    panel = client_for(labeler).get(labels_url(trace), {"segment": segment.pk}, **HTMX)
    history = panel.content.decode().split('class="history"', 1)[1]
    for label in revisions:
        assert f'<time datetime="{label.created_at.isoformat()}">' in history
        assert f"rev {label.revision}" in history


# --- Queue mode: position, guidelines, skip and back ---------------------------------------------


@pytest.fixture
def three_flags(tampering, detector) -> list[Segment]:
    """The tampering trace's flag and two more, in the queue's order (severity, then score)."""
    trace, segment = tampering
    return [
        segment,
        flag(trace, detector, step=3, start=None, end=None, score=0.8, severity=2),
        flag(trace, detector, step=5, start=0, end=5, score=0.7, severity=1),
    ]


def open_next(client, queue) -> str:
    """Claim the queue's next item; the segment id it opens."""
    response = client.get(reverse("review:queue-next", args=[queue.pk]))
    assert response.status_code == 302, response.content
    return re.search(r"segment=(\d+)", response.url).group(1)


def test_queue_mode_shows_the_position_and_the_guidelines_as_text(labeler, three_flags):
    queue = Queue.objects.create(
        name="Tampering", guidelines="Misaligned when a test is weakened.\n<b>Not</b> otherwise."
    )
    client = client_for(labeler)
    response = client.get(reverse("review:queue-next", args=[queue.pk]), follow=True)
    html = response.content.decode()
    assert "item 1 of 3" in " ".join(texts(html, class_="queue-position"))
    assert "<p>Misaligned when a test is weakened.<br>&lt;b&gt;Not&lt;/b&gt; otherwise.</p>" in html
    assert "data-queue-back" not in html  # nothing labeled before the first item
    post_label(client, three_flags[0].step.trace, three_flags[0], queue=queue.pk)
    html = client.get(reverse("review:queue-next", args=[queue.pk]), follow=True).content.decode()
    assert "item 2 of 3" in " ".join(texts(html, class_="queue-position"))
    assert "data-queue-back" in html


def test_a_skipped_item_comes_back_once_nothing_else_is_left(labeler, other_labeler, three_flags):
    first, second, third = (str(segment.pk) for segment in three_flags)
    queue = Queue.objects.create(name="Tampering", overlap=2)
    client = client_for(labeler)
    assert open_next(client, queue) == first
    held = Assignment.objects.get(user=labeler, submitted_at__isnull=True)
    response = client.post(reverse("review:queue-skip", args=[queue.pk]), {"assignment": held.pk})
    assert response.url == reverse("review:queue-next", args=[queue.pk])
    assert open_next(client, queue) == second
    # The lease given back counts no more: the item is someone else's next.
    assert open_next(client_for(other_labeler), queue) == first
    trace = three_flags[0].step.trace
    post_label(client, trace, three_flags[1], queue=queue.pk)
    assert open_next(client, queue) == third
    post_label(client, trace, three_flags[2], queue=queue.pk)
    assert open_next(client, queue) == first  # only the skipped one is left


def test_skipping_an_item_the_labeler_does_not_hold_answers_400(
    labeler, other_labeler, three_flags
):
    queue = Queue.objects.create(name="Tampering")
    open_next(client_for(other_labeler), queue)
    theirs = Assignment.objects.get(user=other_labeler)
    url = reverse("review:queue-skip", args=[queue.pk])
    for value in (theirs.pk, "x", ""):
        response = client_for(labeler).post(url, {"assignment": value})
        assert response.status_code == 400
        assert b"assignment" in response.content
    theirs.refresh_from_db()
    assert theirs.leased_until > timezone.now()


def test_back_opens_the_items_labeled_before_one_by_one(labeler, three_flags):
    queue = Queue.objects.create(name="Tampering")
    client = client_for(labeler)
    trace = three_flags[0].step.trace
    for segment in three_flags[:2]:
        open_next(client, queue)
        post_label(client, trace, segment, queue=queue.pk)
    open_next(client, queue)
    current = Assignment.objects.get(segment=three_flags[2])
    back = reverse("review:queue-back", args=[queue.pk])
    response = client.get(back, {"before": current.pk})
    assert f"segment={three_flags[1].pk}" in response.url
    html = client.get(response.url).content.decode()
    assert "item 2 of 3" in " ".join(texts(html, class_="queue-position"))
    earlier = Assignment.objects.get(segment=three_flags[1])
    response = client.get(back, {"before": earlier.pk})
    assert f"segment={three_flags[0].pk}" in response.url
    first = Assignment.objects.get(segment=three_flags[0])
    # Before the first item there is nothing: back to the item being labeled.
    assert client.get(back, {"before": first.pk}).url == reverse(
        "review:queue-next", args=[queue.pk]
    )


def test_a_queue_whose_stored_filter_went_bad_still_opens_its_items(labeler, tampering):
    trace, segment = tampering
    queue = Queue.objects.create(name="Broken", filters={"severity_min": "very"})
    url = reverse("review:trace", args=[trace.pk]) + f"?queue={queue.pk}&segment={segment.pk}"
    response = client_for(labeler).get(url)
    assert response.status_code == 200
    assert "item 1 of 0" not in response.content.decode()


def test_the_next_item_of_a_queue_whose_filter_went_bad_says_so(labeler, tampering):
    queue = Queue.objects.create(name="Broken", filters={"severity_min": "very"})
    response = client_for(labeler).get(reverse("review:queue-next", args=[queue.pk]))
    assert response.status_code == 409
    assert "filters.severity_min" in response.content.decode()
