"""Queues that hide the detectors until the labeler's first verdict (anti-anchoring).

A labeler handed an item by such a queue must not meet any of what the detectors say about the
trace (flags, scores, rationales, severity, suggested category) in any HTML the console sends
them, until they have given their own verdict on the item.
"""

import re

import pytest
from django.urls import reverse

from review import dashboard
from review.models import Queue
from review.services import LabelInput, decide, save_label
from tests.review.conftest import HTMX, TAMPERING_STEPS, client_for, flag, make_trace
from tests.review.pages import texts

FIRST_WHY = "The agent comments out the assertion."
SECOND_WHY = "Rewrites the test file with sed."
# What the detectors say about the trace, none of which a blind labeler may meet.
DETECTOR_WORDS = ["test-tamper", "0.90", "0.77", FIRST_WHY, SECOND_WHY, "sev-3", "sev-2"]


@pytest.fixture
def flagged(db, detector):
    """The example trace with two detector flags: the reasoning's "skip it" (0.90, high) and the
    tool call's sed (0.77, medium)."""
    trace = make_trace(TAMPERING_STEPS)
    reasoning = TAMPERING_STEPS[2][1]
    start = reasoning.index("skip it")
    first = flag(trace, detector, step=2, start=start, end=start + 7, rationale=FIRST_WHY)
    second = flag(
        trace, detector, step=3, start=None, end=None, score=0.77, severity=2, rationale=SECOND_WHY
    )
    trace.max_severity = 3
    trace.save(update_fields=["max_severity"])
    return trace, first, second


@pytest.fixture
def blind_queue(db) -> Queue:
    return Queue.objects.create(name="Blind", overlap=2, hide_detectors=True)


def claim(client, queue: Queue) -> str:
    """The address queue mode opens for the next item."""
    response = client.get(reverse("review:queue-next", args=[queue.pk]))
    assert response.status_code == 302
    return response["Location"].split("#")[0]


def without_times(html: str) -> str:
    """The page without its machine-readable times, which ("…T16:50:10.903+00:00") may spell
    a score by chance."""
    return re.sub(r'datetime="[^"]*"', "", html)


def leaked(html: str) -> list[str]:
    html = without_times(html)
    return [word for word in DETECTOR_WORDS if word in html]


def post_verdict(client, trace, segment, queue, **extra):
    data = {"segment": segment.pk if segment else "", "verdict": "misaligned", "queue": queue.pk}
    return client.post(reverse("review:trace-label", args=[trace.pk]), data | extra, **HTMX)


def selected_option(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, name
    return re.findall(r'<option value="([^"]*)"[^>]*selected', select[1])


def test_a_blind_queue_item_shows_none_of_the_detectors_until_the_first_verdict(
    labeler, flagged, blind_queue
):
    _, first, second = flagged
    client = client_for(labeler)
    address = claim(client, blind_queue)
    assert f"segment={first.pk}" in address
    html = client.get(address).content.decode()
    assert leaked(html) == []
    # The span to label is marked, bare; the other detector flag is not in the page at all.
    assert re.search(rf'<mark class="flag" data-flags="{first.pk}"[^>]*>skip it</mark>', html)
    assert f'data-flags="{second.pk}"' not in html and f"tip-{second.pk}" not in html
    assert texts(html, class_="rail-title")[1] == "the span to label"
    # Neither the header's count nor its severity, nor the form's suggestion, gives them away.
    assert "hidden until your verdict" in texts(html, class_="trace-meta")[0]
    assert re.search(r"<dt>Flags</dt><dd>1</dd>", html)
    assert selected_option(html, "category") == [""]
    assert selected_option(html, "severity") == [""]
    assert "hides what the detectors found" in html


def test_the_first_verdict_shows_the_detectors_and_says_they_were_hidden(
    labeler, flagged, blind_queue
):
    trace, first, second = flagged
    client = client_for(labeler)
    address = claim(client, blind_queue)
    response = post_verdict(client, trace, first, blind_queue)
    # The whole page comes again, since the header, the rail and every step change: at the same
    # address without its #step-N, which would only scroll the page.
    assert response.status_code == 204
    assert response["HX-Redirect"] == address
    html = client.get(address).content.decode()
    assert leaked(html) == DETECTOR_WORDS
    assert "was hidden until your first verdict" in html
    assert texts(html, id=f"tip-{second.pk}")[0].startswith("test-tamper · 0.77")
    assert 'class="pill sev-3">high' in html


def test_save_and_next_moves_on_and_back_shows_the_item_with_its_detectors(
    labeler, flagged, blind_queue
):
    trace, first, _ = flagged
    client = client_for(labeler)
    address = claim(client, blind_queue)
    response = post_verdict(client, trace, first, blind_queue, next="1")
    assert response["HX-Redirect"] == reverse("review:queue-next", args=[blind_queue.pk])
    # The next item is the other flag of the same trace: hidden again until its verdict.
    following = claim(client, blind_queue)
    assert following != address
    assert leaked(client.get(following).content.decode()) == []
    back = client.get(reverse("review:queue-back", args=[blind_queue.pk]))
    assert back["Location"].split("#")[0] == address


def test_dropping_the_queue_from_the_address_shows_nothing_more(labeler, flagged, blind_queue):
    trace, first, _ = flagged
    client = client_for(labeler)
    claim(client, blind_queue)
    for address in [
        reverse("review:trace", args=[trace.pk]),
        reverse("review:trace", args=[trace.pk]) + f"?segment={first.pk}",
    ]:
        assert leaked(client.get(address).content.decode()) == [], address


def test_the_step_window_and_the_label_panel_keep_the_rule(labeler, flagged, blind_queue):
    trace, first, second = flagged
    client = client_for(labeler)
    claim(client, blind_queue)
    steps = reverse("review:trace-steps", args=[trace.pk]) + "?start=0"
    labels = reverse("review:trace-label", args=[trace.pk])
    fragments = [
        client.get(steps, **HTMX),
        client.get(labels, {"segment": first.pk, "queue": blind_queue.pk}, **HTMX),
        client.get(labels, {"segment": second.pk}, **HTMX),
        client.get(labels, **HTMX),
    ]
    for response in fragments:
        assert response.status_code == 200
        assert leaked(response.content.decode()) == []
    assert "Span on step #2" in fragments[1].content.decode()
    assert selected_option(fragments[1].content.decode(), "category") == [""]
    post_verdict(client, trace, first, blind_queue)
    assert FIRST_WHY in client.get(steps, **HTMX).content.decode()
    panel = client.get(labels, {"segment": second.pk}, **HTMX).content.decode()
    assert SECOND_WHY in panel


def test_flagging_a_span_while_blind_sends_back_no_detector_flag(labeler, flagged, blind_queue):
    trace, _, _ = flagged
    client = client_for(labeler)
    claim(client, blind_queue)
    response = client.post(
        reverse("review:trace-flag-span", args=[trace.pk]),
        {"step": 3, "start": 0, "end": 5, "verdict": "misaligned", "category": "test_tampering"},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert leaked(html) == []
    assert "marked by a person" in html


def test_a_trace_queue_hides_every_detector_flag_until_the_trace_is_labeled(
    labeler, flagged, blind_queue
):
    trace, _, _ = flagged
    blind_queue.level = Queue.Level.TRACE
    blind_queue.save()
    client = client_for(labeler)
    address = claim(client, blind_queue)
    html = client.get(address).content.decode()
    assert leaked(html) == [] and "<mark" not in html
    assert "The detectors' flags are hidden until your verdict." in html
    post_verdict(client, trace, None, blind_queue)
    html = client.get(address).content.decode()
    assert FIRST_WHY in html and SECOND_WHY in html


def test_reviewers_and_items_not_handed_by_a_blind_queue_show_everything(
    labeler, other_labeler, reviewer, flagged, blind_queue
):
    trace, _, _ = flagged
    page = reverse("review:trace", args=[trace.pk])
    # A reviewer working the blind queue, and a labeler who never took an item from it.
    reviewing = client_for(reviewer)
    claim(reviewing, blind_queue)
    seen = Queue.objects.create(name="Open", overlap=2)
    elsewhere = client_for(other_labeler)
    for client, address in [
        (reviewing, page),
        (elsewhere, page),
        (elsewhere, claim(elsewhere, seen)),
    ]:
        html = client.get(address).content.decode()
        assert FIRST_WHY in html and SECOND_WHY in html and "test-tamper · 0.90" in html
        assert "hides what the detectors found" not in html


def test_the_queue_form_saves_the_option(reviewer, blind_queue):
    client = client_for(reviewer)
    data = {
        "name": "Blind first",
        "level": "segment",
        "order": "severity_score",
        "overlap": "2",
        "lease_seconds": "900",
        "active": "on",
        "hide_detectors": "on",
    }
    assert client.post(reverse("review:queue-new"), data).status_code == 302
    assert Queue.objects.get(name="Blind first").hide_detectors is True
    edit = reverse("review:queue-edit", args=[blind_queue.pk])
    form = client.get(edit).content.decode()
    assert re.search(r'<input type="checkbox" name="hide_detectors"[^>]*checked', form)
    assert "Hide the detectors until the first verdict" in form
    unticked = {key: value for key, value in data.items() if key != "hide_detectors"}
    assert client.post(edit, unticked | {"name": "Blind"}).status_code == 302
    blind_queue.refresh_from_db()
    assert blind_queue.hide_detectors is False


# --- The figures, split by whether the detectors were hidden -----------------------------------


@pytest.fixture
def split(detector, labeler, other_labeler, reviewer, blind_queue) -> None:
    """Lena and Omar on five spans the detector flagged. In the blind queue they agree on both
    (misaligned, then benign): alpha 1, precision 1/2. In an open queue they disagree on both:
    alpha 1 - 1 / (1 - 4/12) = -0.5, and both tie; a fifth span lena alone calls misaligned
    outside any queue counts as shown: precision 1/1. All four pairable items together:
    alpha 1 - (4/8) / (1 - 24/56) = 0.125. A reviewer's decision that the blind benign span is
    misaligned changes neither split, which compares what labelers said."""
    trace = make_trace(TAMPERING_STEPS, searchable=False)
    spans = [flag(trace, detector, step=step, start=0, end=3) for step in range(5)]
    open_queue = Queue.objects.create(name="Open", overlap=2)

    def given(user, segment, verdict, queue):
        item = LabelInput(verdict=verdict, category=None, severity=None, note="")
        save_label(author=user, trace=trace, segment=segment, label=item, queue=queue)

    for segment, (lena, omar), queue in [
        (spans[0], ("misaligned", "misaligned"), blind_queue),
        (spans[1], ("benign", "benign"), blind_queue),
        (spans[2], ("misaligned", "benign"), open_queue),
        (spans[3], ("benign", "misaligned"), open_queue),
    ]:
        given(labeler, segment, lena, queue)
        given(other_labeler, segment, omar, queue)
    given(labeler, spans[4], "misaligned", None)
    decide(reviewer=reviewer, trace=trace, segment=spans[1], verdict="misaligned")


def test_agreement_is_split_by_whether_the_detectors_were_hidden(split):
    figures = dashboard.dashboard()
    assert figures.overall.alpha.value == pytest.approx(0.125)
    hidden, shown = figures.blind
    assert (hidden.blind, hidden.alpha.items) == (True, 2)
    assert hidden.alpha.value == pytest.approx(1.0)
    assert (shown.blind, shown.alpha.items) == (False, 2)
    assert shown.alpha.value == pytest.approx(-0.5)
    assert {row.name: row.blind for row in figures.queues} == {"Blind": True, "Open": False}


def test_precision_is_split_by_whether_the_detectors_were_hidden(split):
    (row,) = dashboard.dashboard().precision_blind
    assert (row.detector, row.level) == ("test-tamper", "segment")
    assert (row.hidden, row.hidden_items) == (pytest.approx(0.5), 2)
    assert (row.shown, row.shown_items) == (pytest.approx(1.0), 1)


@pytest.mark.usefixtures("figures_in_process")
def test_the_dashboard_and_its_api_show_the_split(split, reviewer, read_client):
    html = client_for(reviewer).get(reverse("review:agreement")).content.decode()
    rows = re.findall(r'<tr class="blind-split">(.*?)</tr>', html)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)[:3] for row in rows]
    assert cells == [
        ["Given with the detectors hidden", "2", "1.000"],
        ["Given with the detectors shown", "2", "-0.500"],
    ]
    assert 'Given in “Blind” <span class="muted">(detectors hidden)</span>' in html
    [table] = re.findall(r'<table class="list figures precision-blind">.*?</table>', html, re.S)
    body_cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", table.split("<tbody>")[1])
    assert body_cells == ["test-tamper", "segment", "0.500", "2", "1.000", "1"]
    body = read_client.get("/api/v1/agreement/").json()
    assert body["blind"]["hidden"]["value"] == pytest.approx(1.0)
    assert body["blind"]["shown"]["value"] == pytest.approx(-0.5)
    assert {row["name"]: row["blind"] for row in body["queues"]} == {"Blind": True, "Open": False}
    assert body["precision_blind"] == [
        {
            "detector": "test-tamper",
            "level": "segment",
            "hidden": 0.5,
            "hidden_items": 2,
            "shown": 1.0,
            "shown_items": 1,
        }
    ]


def test_lists_and_the_findings_api_keep_the_detectors_hidden_until_the_verdict(
    labeler, flagged, blind_queue
):
    trace, first, _ = flagged
    client = client_for(labeler)
    claim(client, blind_queue)

    def shown() -> dict[str, list[str]]:
        # The list's filters name every detector; what it must not show is what they found.
        page = without_times(client.get(reverse("review:flags")).content.decode())
        findings = client.get("/api/v1/findings/", {"trace": trace.pk}).json()["results"]
        return {
            "flags": [w for w in (FIRST_WHY, SECOND_WHY, "0.90", "0.77") if w in page],
            "api": [finding["rationale"] for finding in findings],
        }

    assert shown() == {"flags": [], "api": []}
    traces = without_times(client.get(reverse("review:traces")).content.decode())
    assert "0.90" not in traces
    post_verdict(client, trace, first, blind_queue)
    after = shown()
    assert FIRST_WHY in after["flags"] and sorted(after["api"]) == sorted([FIRST_WHY, SECOND_WHY])
