import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from detection.models import Detector, Finding
from review.models import Assignment, Label, Queue
from review.selectors import queue_items
from review.services import LabelInput, claim_next, save_label
from traces.models import Segment, Source, Step, Trace

User = get_user_model()


def flagged_segments(count: int, scores: list[float] | None = None) -> list[Segment]:
    """``count`` traces of one step, each with one detector segment; scores descend by default."""
    source = Source.objects.create(slug=f"src-{Source.objects.count()}")
    detector, _ = Detector.objects.get_or_create(
        name="rules", defaults={"kind": "pattern", "category": "reward_hacking"}
    )
    traces = Trace.objects.bulk_create(
        Trace(source=source, external_id=f"t{i}", content_hash="h", step_count=1)
        for i in range(count)
    )
    steps = Step.objects.bulk_create(
        Step(trace=t, index=0, kind="reasoning", content="skip the test") for t in traces
    )
    segments = Segment.objects.bulk_create(
        Segment(step=s, start=0, end=4, origin=Segment.Origin.DETECTOR) for s in steps
    )
    scores = scores or [1 - i / (count + 1) for i in range(count)]
    Finding.objects.bulk_create(
        Finding(
            detector=detector,
            detector_version=1,
            trace=t,
            segment=seg,
            score=score,
            category="reward_hacking",
            severity=3,
        )
        for t, seg, score in zip(traces, segments, scores, strict=True)
    )
    return segments


def at_once(work: Callable[[Any], None], arguments: list) -> list[BaseException]:
    """``work`` on each argument, each in a thread of its own with its own connection, all
    starting together; what they raised."""
    start = threading.Barrier(len(arguments))
    errors: list[BaseException] = []

    def run(argument: Any) -> None:
        try:
            start.wait()
            work(argument)
        except BaseException as exc:  # returned to the test, which asserts there is none
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def label(user, assignment: Assignment, verdict: str = "misaligned") -> Label:
    return save_label(
        author=user,
        trace=assignment.trace,
        segment=assignment.segment,
        label=LabelInput(verdict=verdict),
        queue=assignment.queue,
    )


@pytest.mark.django_db
def test_items_come_in_severity_then_score_order_and_each_once_per_person():
    segments = flagged_segments(3, scores=[0.2, 0.9, 0.5])
    queue = Queue.objects.create(name="q", overlap=1)
    ana = User.objects.create_user("ana")
    seen = []
    while (assignment := claim_next(queue=queue, user=ana)) is not None:
        seen.append(assignment.segment_id)
        label(ana, assignment)
    assert seen == [segments[1].pk, segments[2].pk, segments[0].pk]


@pytest.mark.django_db
@pytest.mark.parametrize("level", Queue.Level.values)
@pytest.mark.parametrize("order", Queue.Order.values)
def test_items_are_handed_out_in_the_order_the_queue_lists_them(level, order):
    segments = flagged_segments(6, scores=[0.2, 0.9, 0.5, 0.5, 0.7, 0.1])
    # A second detector's findings: each item's best severity and best score may come from
    # different findings.
    other = Detector.objects.create(name="judge", kind="pattern", category="sabotage")
    Finding.objects.bulk_create(
        Finding(
            detector=other,
            detector_version=1,
            trace=segment.step.trace,
            segment=segment,
            score=score,
            category="sabotage",
            severity=severity,
        )
        for segment, score, severity in [
            (segments[0], 0.95, 1),
            (segments[2], 0.3, 4),
            (segments[5], 0.05, 4),
        ]
    )
    queue = Queue.objects.create(name="q", level=level, order=order, overlap=1)
    ana = User.objects.create_user("ana")
    seen = []
    while (assignment := claim_next(queue=queue, user=ana)) is not None:
        seen.append(assignment.segment_id or assignment.trace_id)
        label(ana, assignment)
    assert seen == list(queue_items(queue).values_list("pk", flat=True))
    assert len(seen) == 6


@pytest.mark.django_db
@pytest.mark.parametrize("level", Queue.Level.values)
def test_a_queue_filtered_by_source_hands_out_only_that_sources_items(level):
    wanted = flagged_segments(2, scores=[0.1, 0.2])
    flagged_segments(2, scores=[0.9, 0.8])
    source = wanted[0].step.trace.source.slug
    queue = Queue.objects.create(name="q", level=level, filters={"source": source}, overlap=1)
    ana = User.objects.create_user("ana")
    seen = set()
    while (assignment := claim_next(queue=queue, user=ana)) is not None:
        seen.add(assignment.trace_id)
        label(ana, assignment)
    assert seen == {segment.step.trace_id for segment in wanted}


@pytest.mark.django_db
def test_a_current_lease_is_handed_back_until_submitted():
    flagged_segments(2)
    queue = Queue.objects.create(name="q")
    ana = User.objects.create_user("ana")
    first = claim_next(queue=queue, user=ana)
    assert claim_next(queue=queue, user=ana).pk == first.pk


@pytest.mark.django_db
def test_overlap_one_gives_concurrent_labelers_different_items():
    flagged_segments(2)
    queue = Queue.objects.create(name="q", overlap=1)
    a = claim_next(queue=queue, user=User.objects.create_user("ana"))
    b = claim_next(queue=queue, user=User.objects.create_user("ben"))
    assert a.segment_id != b.segment_id
    assert claim_next(queue=queue, user=User.objects.create_user("cy")) is None


@pytest.mark.django_db
def test_overlap_two_hands_an_item_to_two_people_and_no_third():
    flagged_segments(1)
    queue = Queue.objects.create(name="q", overlap=2)
    a = claim_next(queue=queue, user=User.objects.create_user("ana"))
    b = claim_next(queue=queue, user=User.objects.create_user("ben"))
    assert a.segment_id == b.segment_id
    assert claim_next(queue=queue, user=User.objects.create_user("cy")) is None


@pytest.mark.django_db
def test_an_abandoned_item_returns_to_the_queue_when_its_lease_expires():
    flagged_segments(1)
    queue = Queue.objects.create(name="q", overlap=1)
    first = claim_next(queue=queue, user=User.objects.create_user("ana"))
    ben = User.objects.create_user("ben")
    assert claim_next(queue=queue, user=ben) is None
    Assignment.objects.filter(pk=first.pk).update(leased_until=timezone.now() - timedelta(1))
    assert claim_next(queue=queue, user=ben).segment_id == first.segment_id


@pytest.mark.django_db
def test_a_labeler_whose_lease_expired_gets_the_item_again_on_the_same_assignment():
    flagged_segments(1)
    queue = Queue.objects.create(name="q", overlap=1)
    ana = User.objects.create_user("ana")
    first = claim_next(queue=queue, user=ana)
    Assignment.objects.filter(pk=first.pk).update(leased_until=timezone.now() - timedelta(1))
    again = claim_next(queue=queue, user=ana)
    assert (again.pk, again.segment_id) == (first.pk, first.segment_id)
    assert again.leased_until > timezone.now()
    assert Assignment.objects.count() == 1


@pytest.mark.django_db
def test_a_whole_trace_queue_keeps_its_overlap_and_renews_an_expired_lease_in_place():
    flagged_segments(1)
    queue = Queue.objects.create(name="q", level=Queue.Level.TRACE, overlap=2)
    ana, ben = User.objects.create_user("ana"), User.objects.create_user("ben")
    first = claim_next(queue=queue, user=ana)
    assert (first.segment_id, first.step_index) == (None, None)
    assert claim_next(queue=queue, user=ben).trace_id == first.trace_id
    assert claim_next(queue=queue, user=User.objects.create_user("cy")) is None
    Assignment.objects.filter(pk=first.pk).update(leased_until=timezone.now() - timedelta(1))
    again = claim_next(queue=queue, user=ana)
    assert (again.pk, again.trace_id) == (first.pk, first.trace_id)
    assert again.leased_until > timezone.now()
    assert Assignment.objects.count() == 2


@pytest.mark.django_db
def test_a_claim_says_which_step_its_segment_is_on():
    segment = flagged_segments(1)[0]
    queue = Queue.objects.create(name="q")
    ana = User.objects.create_user("ana")
    assert claim_next(queue=queue, user=ana).step_index == segment.step.index
    assert claim_next(queue=queue, user=ana).step_index == segment.step.index


@pytest.mark.django_db
def test_labels_are_revisions_and_the_history_stays():
    flagged_segments(1)
    queue = Queue.objects.create(name="q")
    ana = User.objects.create_user("ana")
    assignment = claim_next(queue=queue, user=ana)
    label(ana, assignment, "unsure")
    label(ana, assignment, "misaligned")
    labels = list(Label.objects.values_list("revision", "verdict").order_by("revision"))
    assert labels == [(1, "unsure"), (2, "misaligned")]
    assert Assignment.objects.get().submitted_at is not None
    assert Trace.objects.get().review_state == Trace.ReviewState.IN_REVIEW


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_labelers_give_every_item_exactly_its_overlap():
    flagged_segments(200)
    queue = Queue.objects.create(name="q", overlap=2, lease_seconds=600)
    users = [User.objects.create_user(f"labeler{i}") for i in range(20)]

    def work(user) -> None:
        while (assignment := claim_next(queue=queue, user=user)) is not None:
            label(user, assignment)

    assert at_once(work, users) == []
    per_item: dict[int, list[int]] = {}
    for segment_id, author_id in Label.objects.values_list("segment_id", "author_id"):
        per_item.setdefault(segment_id, []).append(author_id)
    assert len(per_item) == 200
    assert all(len(a) == 2 and len(set(a)) == 2 for a in per_item.values())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_persons_labels_saved_at_once_get_distinct_revisions():
    [segment] = flagged_segments(1)
    trace = segment.step.trace
    ana = User.objects.create_user("ana")

    def work(item: Segment | None) -> None:
        for _ in range(5):
            save_label(author=ana, trace=trace, segment=item, label=LabelInput("unsure"))

    assert at_once(work, [segment, None] * 4) == []
    for item in (segment, None):
        revisions = Label.objects.filter(segment=item).values_list("revision", flat=True)
        assert sorted(revisions) == list(range(1, 21))
