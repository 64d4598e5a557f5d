"""Adjudication: which items disagree, who may settle them, what the reviewer sees, and that a
decision is recorded append-only and takes the item out of the queue."""

import re

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from review.models import Category, Decision, Label
from review.selectors import open_disagreements
from review.services import LabelInput, decide, save_label
from tests.review.conftest import HTMX, client_for, flag, make_trace, make_user
from tests.review.pages import texts
from traces.models import Segment, Trace
from traces.roles import LABELER

pytestmark = pytest.mark.django_db


def category(slug: str) -> Category:
    return Category.objects.get(slug=slug)


def label(user, segment: Segment | None, verdict: str, cat: str | None = None, **more) -> Label:
    trace = segment.step.trace if segment else more.pop("trace")
    return save_label(
        author=user,
        trace=trace,
        segment=segment,
        label=LabelInput(verdict=verdict, category=category(cat) if cat else None, **more),
    )


def open_items() -> list[tuple[int, int | None]]:
    return [(row["trace"], row["segment"]) for row in open_disagreements()]


def decide_url(segment: Segment) -> str:
    return reverse("review:adjudicate", args=[segment.step.trace_id]) + f"?segment={segment.pk}"


# --- Access --------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_sign_in(client, tampering):
    _, segment = tampering
    for url in [reverse("review:adjudication"), decide_url(segment)]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")
    assert client.post(decide_url(segment), {"verdict": "benign"}, **HTMX).status_code == 401
    assert not Decision.objects.exists()


@pytest.mark.parametrize("fixture", ["nobody", "labeler"])
def test_users_without_the_reviewer_role_are_refused(request, fixture, tampering):
    _, segment = tampering
    client = client_for(request.getfixturevalue(fixture))
    assert client.get(reverse("review:adjudication")).status_code == 403
    assert client.get(decide_url(segment)).status_code == 403
    assert client.post(decide_url(segment), {"verdict": "benign"}).status_code == 403
    assert not Decision.objects.exists()


@pytest.mark.parametrize("fixture", ["reviewer", "admin_user"])
def test_reviewers_and_admins_adjudicate(request, fixture, tampering):
    _, segment = tampering
    client = client_for(request.getfixturevalue(fixture))
    assert client.get(reverse("review:adjudication")).status_code == 200
    assert client.get(decide_url(segment)).status_code == 200


# --- What disagrees ------------------------------------------------------------------------------


def test_two_labelers_who_disagree_are_listed(labeler, other_labeler, reviewer, tampering):
    trace, segment = tampering
    label(labeler, segment, "misaligned", "test_tampering", severity=3)
    label(other_labeler, segment, "benign", note="Skipping a flaky test was asked for.")
    assert open_items() == [(trace.pk, segment.pk)]
    html = client_for(reviewer).get(reverse("review:adjudication")).content.decode()
    assert decide_url(segment).replace("&", "&amp;") in html
    summary = texts(html, class_="label-summary")[0]
    assert "lena: Misaligned · Test tampering · high" in " ".join(summary.split())
    assert "omar: Benign" in summary


def test_labelers_who_agree_are_not_listed(labeler, other_labeler, tampering):
    _, segment = tampering
    label(labeler, segment, "misaligned", "test_tampering")
    label(other_labeler, segment, "misaligned", "test_tampering", severity=2)
    assert open_items() == []


def test_a_single_label_is_not_a_disagreement(labeler, tampering):
    _, segment = tampering
    label(labeler, segment, "unsure")
    assert open_items() == []


def test_misaligned_labels_naming_different_categories_disagree(labeler, other_labeler, tampering):
    trace, segment = tampering
    label(labeler, segment, "misaligned", "test_tampering")
    label(other_labeler, segment, "misaligned", "reward_hacking")
    assert open_items() == [(trace.pk, segment.pk)]


def test_unsure_against_misaligned_disagrees(labeler, other_labeler, tampering):
    _, segment = tampering
    label(labeler, segment, "misaligned", "test_tampering")
    label(other_labeler, segment, "unsure")
    assert len(open_items()) == 1


def test_only_each_labelers_latest_revision_counts(labeler, other_labeler, tampering):
    trace, segment = tampering
    label(labeler, segment, "benign")
    label(other_labeler, segment, "misaligned", "test_tampering")
    assert open_items() == [(trace.pk, segment.pk)]
    label(labeler, segment, "misaligned", "test_tampering")  # revision 2 agrees
    assert open_items() == []
    label(other_labeler, segment, "benign")  # and now the other changes their mind
    assert open_items() == [(trace.pk, segment.pk)]


def test_whole_trace_labels_are_an_item_of_their_own(labeler, other_labeler, tampering):
    trace, segment = tampering
    label(labeler, None, "misaligned", "test_tampering", trace=trace)
    label(other_labeler, None, "benign", trace=trace)
    label(labeler, segment, "benign")
    label(other_labeler, segment, "benign")
    assert open_items() == [(trace.pk, None)]


def test_a_decision_takes_the_item_out_and_a_later_label_brings_it_back(
    labeler, other_labeler, reviewer, tampering
):
    trace, segment = tampering
    label(labeler, segment, "misaligned", "test_tampering")
    label(other_labeler, segment, "benign")
    decide(reviewer=reviewer, trace=trace, segment=segment, verdict="benign")
    assert open_items() == []
    label(labeler, segment, "misaligned", "reward_hacking")  # still disagrees, after the decision
    assert open_items() == [(trace.pk, segment.pk)]


def test_items_come_most_severe_first(labeler, other_labeler, detector):
    traces = [make_trace([("reasoning", "skip the test")], external_id=f"r{i}") for i in range(3)]
    segments = [flag(t, detector, step=0, start=0, end=4) for t in traces]
    for segment, severity in zip(segments, [2, 4, 3], strict=True):
        label(labeler, segment, "misaligned", "test_tampering", severity=severity)
        label(other_labeler, segment, "benign")
    assert [s for _, s in open_items()] == [segments[1].pk, segments[2].pk, segments[0].pk]


def test_queue_queries_do_not_grow_with_items(
    labeler, other_labeler, reviewer, detector, django_assert_max_num_queries
):
    def disagree_on(count: int, first: int) -> None:
        for i in range(first, first + count):
            trace = make_trace([("reasoning", "skip the test")], external_id=f"r{i}")
            segment = flag(trace, detector, step=0, start=0, end=4)
            label(labeler, segment, "misaligned", "test_tampering")
            label(other_labeler, segment, "benign")
            label(labeler, None, "misaligned", "test_tampering", trace=trace)
            label(other_labeler, None, "unsure", trace=trace)

    client = client_for(reviewer)
    disagree_on(2, 0)
    client.get(reverse("review:adjudication"))
    with django_assert_max_num_queries(10) as few:
        client.get(reverse("review:adjudication"))
    disagree_on(10, 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("review:adjudication"))
    assert len(response.context["rows"]) == 24


# --- Deciding -------------------------------------------------------------------------------------


def test_decide_page_shows_labels_side_by_side_with_the_marked_evidence(
    labeler, other_labeler, reviewer, tampering
):
    _, segment = tampering
    label(labeler, segment, "misaligned", "test_tampering", severity=3, note="Skips the test.")
    label(other_labeler, segment, "benign", note="<b>asked</b> for it")
    html = client_for(reviewer).get(decide_url(segment)).content.decode()
    cards = texts(html, class_="label-card")
    assert len(cards) == 2
    assert "lena" in cards[0] and "Test tampering" in cards[0] and "Skips the test." in cards[0]
    assert "omar" in cards[1] and "Benign" in cards[1]
    assert "&lt;b&gt;asked&lt;/b&gt; for it" in html
    assert 'so <mark class="flag-span">skip it</mark>.</pre>' in html, (
        "the flagged span is marked in the step's text"
    )
    assert "test-tamper" in html and "The agent comments out the assertion." in html


def test_evidence_is_escaped(labeler, other_labeler, reviewer, detector):
    text = "<script>alert(1)</script> then <img src=x onerror=alert(2)> done"
    trace = make_trace([("reasoning", text)])
    segment = flag(trace, detector, step=0, start=text.index("<img"), end=text.index(" done"))
    label(labeler, segment, "misaligned", "sabotage")
    label(other_labeler, segment, "benign")
    html = client_for(reviewer).get(decide_url(segment)).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert '<mark class="flag-span">&lt;img src=x onerror=alert(2)&gt;</mark>' in html


def test_whole_trace_item_shows_the_traces_flags(labeler, other_labeler, reviewer, tampering):
    trace, _ = tampering
    label(labeler, None, "misaligned", "test_tampering", trace=trace)
    label(other_labeler, None, "benign", trace=trace)
    url = reverse("review:adjudicate", args=[trace.pk])
    html = client_for(reviewer).get(url).content.decode()
    assert "as a whole" in html
    assert '<mark class="flag-span">skip it</mark>' in html
    assert len(texts(html, class_="label-card")) == 2


def test_recording_a_decision_is_final_and_marks_the_trace_reviewed(
    labeler, other_labeler, reviewer, tampering
):
    trace, segment = tampering
    label(labeler, segment, "misaligned", "test_tampering")
    label(other_labeler, segment, "benign")
    client = client_for(reviewer)
    response = client.post(
        decide_url(segment),
        {
            "verdict": "misaligned",
            "category": category("test_tampering").pk,
            "severity": "4",
            "note": "Commented-out assertion.",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("review:adjudication")  # nothing else is open
    decision = Decision.objects.get()
    assert (decision.reviewer, decision.trace, decision.segment) == (reviewer, trace, segment)
    assert (decision.verdict, decision.category.slug, decision.severity) == (
        "misaligned",
        "test_tampering",
        4,
    )
    assert decision.note == "Commented-out assertion."
    trace.refresh_from_db()
    assert trace.review_state == Trace.ReviewState.REVIEWED
    assert open_items() == []
    html = client.get(reverse("review:adjudication")).content.decode()
    assert "Nothing to adjudicate" in html and "Decision recorded." in html


def test_after_deciding_the_reviewer_goes_to_the_next_item(
    labeler, other_labeler, reviewer, detector
):
    segments = []
    for i in range(2):
        trace = make_trace([("reasoning", "skip the test")], external_id=f"r{i}")
        segments.append(flag(trace, detector, step=0, start=0, end=4))
        label(labeler, segments[-1], "misaligned", "test_tampering")
        label(other_labeler, segments[-1], "benign")
    response = client_for(reviewer).post(decide_url(segments[0]), {"verdict": "benign"})
    assert response["Location"] == decide_url(segments[1])


def test_decisions_are_append_only_and_the_latest_stands(
    labeler, other_labeler, reviewer, admin_user, tampering
):
    _, segment = tampering
    label(labeler, segment, "misaligned", "test_tampering")
    label(other_labeler, segment, "benign")
    client_for(reviewer).post(decide_url(segment), {"verdict": "benign"})
    client_for(admin_user).post(
        decide_url(segment), {"verdict": "misaligned", "category": category("sabotage").pk}
    )
    assert list(Decision.objects.order_by("pk").values_list("verdict", flat=True)) == [
        "benign",
        "misaligned",
    ]
    html = client_for(reviewer).get(decide_url(segment)).content.decode()
    standing = texts(html, class_="decisions")[0]
    assert re.search(r"Standing:\s+ada — Misaligned · Sabotage", standing)
    assert "not awaiting adjudication" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "This field is required."),
        ({"verdict": "maybe"}, "Select a valid choice."),
        ({"verdict": "misaligned"}, "A misaligned verdict needs a category."),
        ({"verdict": "misaligned", "category": "999999"}, "Select a valid choice."),
        ({"verdict": "benign", "severity": "7"}, "Select a valid choice."),
    ],
)
def test_a_bad_decision_shows_errors_and_stores_nothing(
    labeler, other_labeler, reviewer, tampering, data, message
):
    trace, segment = tampering
    label(labeler, segment, "misaligned", "test_tampering")
    label(other_labeler, segment, "benign")
    response = client_for(reviewer).post(decide_url(segment), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Decision.objects.exists()
    trace.refresh_from_db()
    assert trace.review_state != Trace.ReviewState.REVIEWED


def test_a_benign_decision_drops_category_and_severity(reviewer, tampering):
    _, segment = tampering
    client_for(reviewer).post(
        decide_url(segment),
        {"verdict": "benign", "category": category("sabotage").pk, "severity": "3"},
    )
    decision = Decision.objects.get()
    assert (decision.category, decision.severity) == (None, None)


def test_a_segment_of_another_trace_or_a_bad_id_is_404(reviewer, tampering, detector):
    _, segment = tampering
    other = make_trace([("reasoning", "fine")], external_id="other")
    url = reverse("review:adjudicate", args=[other.pk])
    client = client_for(reviewer)
    assert client.get(f"{url}?segment={segment.pk}").status_code == 404
    assert client.post(f"{url}?segment={segment.pk}", {"verdict": "benign"}).status_code == 404
    assert client.get(f"{url}?segment=abc").status_code == 404
    assert client.get(reverse("review:adjudicate", args=[999999])).status_code == 404
    assert not Decision.objects.exists()


def test_decide_service_refuses_a_segment_of_another_trace(reviewer, tampering):
    _, segment = tampering
    other = make_trace([("reasoning", "fine")], external_id="other")
    with pytest.raises(ValueError, match="not part of trace"):
        decide(reviewer=reviewer, trace=other, segment=segment, verdict="benign")


def test_labels_of_a_third_labeler_show_up_too(labeler, other_labeler, reviewer, tampering):
    _, segment = tampering
    third = make_user("ines", LABELER)
    label(labeler, segment, "misaligned", "test_tampering")
    label(other_labeler, segment, "misaligned", "test_tampering")
    label(third, segment, "benign")
    html = client_for(reviewer).get(decide_url(segment)).content.decode()
    assert len(texts(html, class_="label-card")) == 3


def test_the_decision_page_links_the_next_open_item_and_lists_its_keys(
    labeler, other_labeler, reviewer, tampering, detector
):
    trace, segment = tampering
    other = flag(trace, detector, step=3, start=None, end=None, severity=2)
    for item in (segment, other):
        label(labeler, item, "misaligned", "test_tampering")
        label(other_labeler, item, "benign")
    client = client_for(reviewer)
    html = client.get(decide_url(segment)).content.decode()
    assert f'href="{decide_url(other).replace("&", "&amp;")}" data-next-item' in html
    assert "Next item, without deciding this one" in html
    label(other_labeler, other, "misaligned", "test_tampering")  # now they agree
    assert "data-next-item" not in client.get(decide_url(segment)).content.decode()
