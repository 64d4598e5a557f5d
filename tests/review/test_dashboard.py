"""The dashboard's figures on a set labeled through the factories, where each is known by hand."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from review import dashboard
from review.models import Label, Queue
from tests.review.conftest import TAMPERING_STEPS, flag, make_trace, make_user
from tests.review.datasets import label
from traces.models import Segment, Trace
from traces.roles import LABELER

pytestmark = pytest.mark.django_db


@dataclass
class Rated:
    trace: Trace
    agreed: Segment  # both misaligned, test tampering (in the queue)
    split: Segment  # benign against misaligned, reward hacking (in the queue)
    benign: Segment  # both benign, given outside the queue; lena first said misaligned
    queue: Queue


@pytest.fixture(name="rated")
def rated_fixture(detector, labeler, other_labeler) -> Rated:
    """Lena and Omar on three flagged spans. Kappa = (2/3 - 4/9) / (1 - 4/9) = 0.4; alpha over
    the three items = 1 - 5 * 2 / (36 - 18) = 4/9; in the queue (two items) alpha = 0."""
    trace = make_trace(TAMPERING_STEPS, searchable=False)
    agreed = flag(trace, detector, step=2, start=4, end=10)
    split = flag(trace, detector, step=3, start=None, end=None)
    benign = flag(trace, detector, step=5, start=0, end=6)
    queue = Queue.objects.create(name="Tampering", overlap=2)
    label(labeler, trace, agreed, "misaligned", "test_tampering")
    label(other_labeler, trace, agreed, "misaligned", "test_tampering")
    Label.objects.filter(segment=agreed).update(queue=queue)
    label(labeler, trace, split, "benign")
    label(other_labeler, trace, split, "misaligned", "reward_hacking")
    Label.objects.filter(segment=split).update(queue=queue)
    label(labeler, trace, benign, "misaligned", "sabotage")
    label(labeler, trace, benign, "benign")
    label(other_labeler, trace, benign, "benign")
    label(labeler, trace, None, "misaligned")  # one rater: no pair
    return Rated(trace, agreed, split, benign, queue)


def test_overall_alpha_counts_each_labelers_latest_verdict(rated):
    figures = dashboard.dashboard()
    assert figures.overall.alpha.value == pytest.approx(4 / 9)
    assert figures.overall.alpha.items == 3


def test_pair_kappa_and_alpha(rated, labeler, other_labeler):
    (pair,) = dashboard.dashboard().pairs
    assert pair.name == "lena & omar"
    assert pair.kappa.value == pytest.approx(0.4)
    assert pair.kappa.items == 3
    assert pair.alpha.value == pytest.approx(4 / 9)


def test_queue_alpha_uses_the_labels_given_in_it(rated):
    (queue,) = dashboard.dashboard().queues
    assert (queue.name, queue.key) == ("Tampering", rated.queue.pk)
    assert queue.alpha.value == pytest.approx(0.0)
    assert queue.alpha.items == 2


def test_category_alpha_is_one_against_the_rest(rated):
    figures = {row.key: row.alpha for row in dashboard.dashboard().categories}
    # Test tampering: both filed the first span under it, neither the others.
    assert figures["test_tampering"].value == pytest.approx(1.0)
    assert figures["test_tampering"].items == 3
    # Reward hacking: Omar alone, on one span: 1 - 5 * 2 / (36 - 26) = 0.
    assert figures["reward_hacking"].value == pytest.approx(0.0)
    # Sabotage was lena's first thought on the benign span, replaced by her later revision.
    assert "sabotage" not in figures


def test_a_third_labeler_makes_alpha_span_three_pairs(rated, labeler):
    third = make_user("tess", LABELER)
    label(third, rated.trace, rated.agreed, "misaligned", "test_tampering")
    figures = dashboard.dashboard()
    assert len(figures.pairs) == 3
    assert [p.kappa.items for p in figures.pairs] == [3, 1, 1]
    # Units: (m,m,m), (b,m), (b,b): n_m = 4, n_b = 3, disagreeing pairs 2 over n = 7.
    assert figures.overall.alpha.value == pytest.approx(1 - 6 * 2 / (49 - 25))


def test_labels_per_day_by_category(rated):
    figures = dashboard.dashboard()
    today = figures.days[-1]
    assert today == timezone.localdate() and len(figures.days) == dashboard.DAYS
    counts = {series.name: series.values[-1] for series in figures.labels_per_day}
    assert counts == {
        "Test tampering": 2,
        "Reward hacking": 1,
        dashboard.UNCATEGORISED: 1,
        dashboard.BENIGN: 3,
    }
    assert all(v == 0 for series in figures.labels_per_day for v in series.values[:-1])


def test_burndown_counts_arrivals_less_items_done(rated):
    now = timezone.now()
    Trace.objects.filter(pk=rated.trace.pk).update(ingested_at=now - timedelta(days=3))
    Label.objects.filter(segment=rated.agreed).update(created_at=now - timedelta(days=1))
    (line,) = dashboard.dashboard().burndown
    assert line.name == "Tampering"
    # Three spans arrive three days ago; the first has its two labelers yesterday, the others today.
    assert line.values[-5:] == [0, 3, 3, 2, 0]


def test_precision_per_detector_version(rated, detector):
    figures = dashboard.dashboard()
    assert figures.versions == [detector.version]
    segment_line = {s.name: s.values for s in figures.precision["segment"]}
    # The agreed span is misaligned (tp), the benign one benign (fp); the split one is a tie.
    assert segment_line[detector.name] == [0.5]


def test_nothing_labeled_gives_no_figures(db):
    figures = dashboard.dashboard()
    assert figures.overall.alpha.value is None and figures.overall.alpha.items == 0
    assert figures.pairs == figures.queues == figures.categories == []
