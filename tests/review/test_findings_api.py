"""Findings and the spans people flagged, pulled by a pipeline through the API."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from detection.models import Detector, Finding
from review.services import LabelInput, decide, save_label
from tests.conftest import token_client
from tests.review.conftest import TAMPERING_STEPS, flag, make_trace
from traces.models import ApiToken, Segment, Step

pytestmark = pytest.mark.django_db


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def found(detector) -> dict[str, Segment]:
    """Findings of two detectors on two traces, of every severity order and score."""
    claims = Detector.objects.create(name="claims", kind="claim_vs_result", category="deception")
    first = make_trace(TAMPERING_STEPS, searchable=False)
    second = make_trace(TAMPERING_STEPS, external_id="run-2", searchable=False)
    return {
        "high": flag(first, detector, step=2, start=0, end=7, score=0.6, severity=3, rule="skip"),
        "high_best": flag(first, detector, step=3, start=None, end=None, score=0.9, severity=3),
        "critical": flag(second, claims, step=5, start=0, end=5, score=0.5, severity=4, rule="c"),
        "low": flag(second, detector, step=2, start=4, end=9, score=0.99, severity=1),
    }


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["segment"] for row in response.json()["results"]]


def test_findings_come_most_severe_then_best_scored_first(read_client, found):
    assert ids(read_client.get("/api/v1/findings/")) == [
        found[name].pk for name in ("critical", "high_best", "high", "low")
    ]
    newest = ids(read_client.get("/api/v1/findings/", {"ordering": "score"}))
    assert newest == [found[name].pk for name in ("low", "high_best", "high", "critical")]


def test_a_finding_says_where_its_evidence_is(read_client, found, detector):
    (row,) = read_client.get("/api/v1/findings/", {"rule": "skip"}).json()["results"]
    finding = Finding.objects.get(segment=found["high"])
    assert row == {
        "id": finding.pk,
        "trace": finding.trace_id,
        "segment": found["high"].pk,
        "step": 2,
        "start": 0,
        "end": 7,
        "detector": "test-tamper",
        "detector_version": 1,
        "current": True,
        "rule": "skip",
        "category": "test_tampering",
        "severity": 3,
        "score": 0.6,
        "rationale": "The agent comments out the assertion.",
        "created_at": row["created_at"],
    }
    assert read_client.get(f"/api/v1/findings/{finding.pk}/").json() == row
    assert read_client.get("/api/v1/findings/999999/").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"detector": "claims"}, ["critical"]),
        ({"rule": "c"}, ["critical"]),
        ({"category": "test_tampering", "min_severity": "2"}, ["high_best", "high"]),
        ({"min_severity": "4"}, ["critical"]),
        ({"min_score": "0.9"}, ["high_best", "low"]),
        ({"detector_version": "2"}, []),
    ],
)
def test_findings_are_filtered(read_client, found, query, expected):
    assert ids(read_client.get("/api/v1/findings/", query)) == [found[n].pk for n in expected]


def test_findings_of_one_trace_since_a_moment(read_client, found):
    trace = found["critical"].step.trace_id
    assert set(ids(read_client.get("/api/v1/findings/", {"trace": trace}))) == {
        found["critical"].pk,
        found["low"].pk,
    }
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert ids(read_client.get("/api/v1/findings/", {"created_after": later})) == []


def test_findings_of_an_older_detector_version_are_not_current(read_client, found, detector):
    detector.version = 2
    detector.save()
    body = read_client.get("/api/v1/findings/", {"current": "true"}).json()
    assert [row["segment"] for row in body["results"]] == [found["critical"].pk]
    older = ids(read_client.get("/api/v1/findings/", {"current": "false", "detector_version": 1}))
    assert set(older) == {found[n].pk for n in ("high_best", "high", "low")}


def test_findings_with_and_without_a_final_label(
    read_client, found, labeler, other_labeler, reviewer
):
    def label(user, name, verdict):
        segment = found[name]
        trace = segment.step.trace
        save_label(author=user, trace=trace, segment=segment, label=LabelInput(verdict))

    label(labeler, "high", "misaligned")  # the only label: final
    label(labeler, "low", "benign")  # a tie: no final label
    label(other_labeler, "low", "misaligned")
    label(labeler, "critical", "benign")  # a tie settled by a reviewer: final
    label(other_labeler, "critical", "unsure")
    decide(
        reviewer=reviewer,
        trace=found["critical"].step.trace,
        segment=found["critical"],
        verdict="benign",
    )
    labeled = ids(read_client.get("/api/v1/findings/", {"labeled": "true"}))
    assert labeled == [found["critical"].pk, found["high"].pk]
    unlabeled = ids(read_client.get("/api/v1/findings/", {"labeled": "false"}))
    assert unlabeled == [found["high_best"].pk, found["low"].pk]


def test_findings_come_in_pages_with_a_cursor(read_client, found):
    first = read_client.get("/api/v1/findings/", {"page_size": 3}).json()
    second = read_client.get(first["next"]).json()
    assert [row["segment"] for row in first["results"] + second["results"]] == [
        found[name].pk for name in ("critical", "high_best", "high", "low")
    ]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"trace": "abc"}, "trace"),
        ({"trace": str(2**70)}, "trace"),
        ({"detector_version": "0"}, "detector_version"),
        ({"detector_version": str(2**40)}, "detector_version"),
        ({"category": "not a slug"}, "category"),
        ({"min_severity": "9"}, "min_severity"),
        ({"min_score": "high"}, "min_score"),
        ({"min_score": "nan"}, "min_score"),
        ({"min_score": "2"}, "min_score"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"labeled": "maybe"}, "labeled"),
        ({"current": "2"}, "current"),
        ({"ordering": "id"}, "ordering"),
        ({"rule": "x" * 101}, "rule"),
    ],
)
def test_a_bad_filter_answers_400_naming_it(read_client, found, query, parameter):
    response = read_client.get("/api/v1/findings/", query)
    assert response.status_code == 400
    assert list(response.json()) == [parameter]


def test_reading_findings_needs_a_role_or_a_read_token(found, labeler, nobody, ingest_client):
    assert APIClient().get("/api/v1/findings/").status_code == 401
    assert api_as(nobody).get("/api/v1/findings/").status_code == 403
    assert ingest_client.get("/api/v1/findings/").status_code == 403
    assert len(ids(api_as(labeler).get("/api/v1/findings/"))) == 4
    assert len(ids(token_client(ApiToken.Scope.ADMIN).get("/api/v1/findings/"))) == 4


def test_the_findings_list_runs_the_same_queries_however_many(
    read_client, found, django_assert_max_num_queries
):
    with django_assert_max_num_queries(3):
        read_client.get("/api/v1/findings/", {"labeled": "false"})


# --- spans people marked ------------------------------------------------------------------------


@pytest.fixture
def marked(found, labeler) -> Segment:
    step = Step.objects.get(trace=found["high"].step.trace, index=2)
    segment = Segment.objects.create(
        step=step, start=4, end=10, origin=Segment.Origin.HUMAN, created_by=labeler
    )
    save_label(author=labeler, trace=step.trace, segment=segment, label=LabelInput("misaligned"))
    return segment


def test_spans_people_marked_are_listed_as_flags_not_findings(read_client, marked, labeler):
    (row,) = read_client.get("/api/v1/flags/").json()["results"]
    assert row == {
        "id": marked.pk,
        "trace": marked.step.trace_id,
        "step": 2,
        "start": 4,
        "end": 10,
        "text": TAMPERING_STEPS[2][1][4:10],
        "marked_by": labeler.username,
        "created_at": row["created_at"],
    }
    assert marked.pk not in ids(read_client.get("/api/v1/findings/"))
    assert read_client.get(f"/api/v1/flags/{marked.pk}/").json() == row
    assert read_client.get("/api/v1/flags/", {"labeled": "false"}).json()["results"] == []
    other = make_trace(TAMPERING_STEPS, external_id="run-3", searchable=False)
    assert read_client.get("/api/v1/flags/", {"trace": other.pk}).json()["results"] == []


def test_flags_are_read_by_reviewers_and_tokens_not_labelers(marked, labeler, reviewer):
    assert api_as(labeler).get("/api/v1/flags/").status_code == 403
    assert api_as(reviewer).get("/api/v1/flags/").status_code == 200
    response = api_as(reviewer).get("/api/v1/flags/", {"labeled": "sometimes"})
    assert (response.status_code, list(response.json())) == (400, ["labeled"])
