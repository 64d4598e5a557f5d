"""The dashboard's and the detector quality page's figures are computed by a task, never by a
request with a worker: snapshots, their staleness, the debounce, failures and the embedded mode."""

import logging
from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from detection.evaluation import Report
from review import figures, tasks
from review.dashboard import Dashboard, dashboard
from review.models import FigureSnapshot, FigureState, Queue
from review.quality import console_report
from tests.review.conftest import client_for
from tests.review.datasets import label
from tests.review.test_dashboard import rated_fixture  # noqa: F401 (the ``rated`` fixture)

pytestmark = pytest.mark.django_db
PAGE = reverse("review:agreement")
API = "/api/v1/agreement/"
QUALITY_API = "/api/v1/detectors/quality/"


@pytest.fixture
def computes(monkeypatch) -> list[int]:
    """The generation each computation of the dashboard started from."""
    runs: list[int] = []
    real = figures.dashboard

    def counted(*args, **kwargs) -> Dashboard:
        runs.append(FigureState.objects.get(pk=figures.STATE).generation)
        return real(*args, **kwargs)

    monkeypatch.setattr(figures, "dashboard", counted)
    return runs


def relabel(rated, labeler, capture) -> None:
    """A change the figures count: lena changes her mind on the split span."""
    with capture(execute=True):
        label(labeler, rated.trace, rated.split, "misaligned", "reward_hacking")


def test_a_label_moves_the_generation_and_leaves_the_snapshot_behind(
    rated, labeler, figures_by_worker, django_capture_on_commit_callbacks
):
    snapshot = figures.compute()
    assert snapshot is not None and not figures.behind()
    relabel(rated, labeler, django_capture_on_commit_callbacks)
    assert FigureState.objects.get().generation == snapshot.generation + 1
    assert figures.behind()
    assert figures.shown().updating and figures.shown().snapshot == snapshot


@pytest.mark.parametrize(
    "change",
    [
        lambda rated: Queue.objects.create(name="Second look", overlap=3),
        lambda rated: rated.queue.delete(),
    ],
    ids=["queue created", "queue deleted"],
)
def test_queue_changes_move_the_generation(rated, change):
    before = FigureState.objects.get().generation
    change(rated)
    assert FigureState.objects.get().generation == before + 1


def test_two_changes_queue_one_compute(
    rated, labeler, other_labeler, figures_by_worker, computes, django_capture_on_commit_callbacks
):
    figures.compute()
    relabel(rated, labeler, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        label(other_labeler, rated.trace, rated.benign, "misaligned", "sabotage")
    assert figures_by_worker == [tasks.compute_figures]  # the second found one queued
    generation = FigureState.objects.get().generation
    assert tasks.compute_figures() == generation
    assert len(computes) == 2  # the first snapshot, then one run for both changes
    assert not figures.behind() and FigureState.objects.get().queued_at is None
    assert FigureSnapshot.objects.count() == 1
    # Another message for the same generation finds nothing to do.
    assert tasks.compute_figures() is None and len(computes) == 2


def test_a_run_in_progress_is_not_doubled_and_asks_again_when_it_ends_behind(
    rated, labeler, figures_by_worker, computes, django_capture_on_commit_callbacks
):
    FigureState.objects.update(running_since=timezone.now())
    relabel(rated, labeler, django_capture_on_commit_callbacks)
    assert figures_by_worker == [tasks.compute_figures]
    # The queued message meets the run in progress: it computes nothing and leaves the queue free.
    assert tasks.compute_figures() is None and computes == []
    assert FigureState.objects.get().queued_at is None
    assert figures_by_worker == [tasks.compute_figures]
    # A run whose lease ran out (its worker died) is taken over.
    FigureState.objects.update(running_since=timezone.now() - timedelta(hours=2))
    assert tasks.compute_figures() is not None and len(computes) == 1


def test_a_run_that_ends_behind_asks_for_another(
    rated, labeler, figures_by_worker, monkeypatch, django_capture_on_commit_callbacks
):
    real = figures.console_report

    def meanwhile(**kwargs) -> Report:
        FigureState.objects.update(generation=F("generation") + 1)  # a label arrives
        return real(**kwargs)

    monkeypatch.setattr(figures, "console_report", meanwhile)
    snapshot = figures.compute()
    assert snapshot.generation == FigureState.objects.get().generation - 1
    assert figures_by_worker == [tasks.compute_figures]


def test_the_sweep_sends_again_a_lost_message(rated, figures_by_worker):
    FigureState.objects.update(queued_at=timezone.now() - timedelta(hours=1))
    assert tasks.sweep_figures() is True and figures_by_worker == [tasks.compute_figures]
    assert tasks.sweep_figures() is False  # now one is queued


def test_a_failed_compute_keeps_the_previous_snapshot_and_the_sweep_retries(
    rated, labeler, figures_by_worker, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    kept = figures.compute()
    relabel(rated, labeler, django_capture_on_commit_callbacks)
    figures_by_worker.clear()

    def broken(**kwargs) -> Report:
        raise RuntimeError("database went away")

    monkeypatch.setattr(figures, "console_report", broken)
    with caplog.at_level(logging.ERROR, logger="review.figures"):
        assert tasks.compute_figures() is None
    assert "computing the figures of generation" in caplog.text
    assert list(FigureSnapshot.objects.all()) == [kept]
    state = FigureState.objects.get()
    assert state.running_since is None and "database went away" in state.error
    # Not asked again at once, which would spin on a lasting fault, but by the next sweep.
    assert figures_by_worker == []
    assert tasks.sweep_figures() is True
    assert figures_by_worker == [tasks.compute_figures]
    monkeypatch.setattr(figures, "console_report", console_report)
    assert tasks.compute_figures() == state.generation
    assert FigureState.objects.get().error == ""


def test_the_sweep_leaves_current_figures_alone_and_refreshes_old_ones(rated, figures_by_worker):
    figures.compute()
    assert tasks.sweep_figures() is False and figures_by_worker == []
    FigureSnapshot.objects.update(computed_at=timezone.now() - timedelta(hours=1))
    assert tasks.sweep_figures() is True and figures_by_worker == [tasks.compute_figures]


def test_the_page_says_as_of_when_and_updating(
    rated, reviewer, labeler, figures_by_worker, django_capture_on_commit_callbacks
):
    snapshot = figures.compute()
    client = client_for(reviewer)
    html = client.get(PAGE).content.decode()
    when = timezone.localtime(snapshot.computed_at)
    assert f'Figures as of <time datetime="{when.isoformat()}">' in html
    assert "updating…" not in html
    relabel(rated, labeler, django_capture_on_commit_callbacks)
    html = client.get(PAGE).content.decode()
    assert "updating…" in html
    # The figures shown are the snapshot's: the request counted nothing.
    assert "<title>lena &amp; omar: 0.40" in html
    body = client.get(API).json()
    assert body["updating"] is True and body["computed_at"].startswith(f"{when:%Y-%m-%dT%H:%M}")


def test_without_a_snapshot_pages_and_apis_say_the_figures_are_being_computed(
    rated, reviewer, admin_user, figures_by_worker, computes
):
    client = client_for(reviewer)
    html = client.get(PAGE).content.decode()
    assert "The figures are being computed." in html and "<svg" not in html
    for url in (API, QUALITY_API):
        answer = client.get(url)
        assert answer.status_code == 202 and answer["Retry-After"] == "5"
        assert "being computed" in answer.json()["detail"]
    admin_user.is_superuser = admin_user.is_staff = True
    admin_user.save()
    page = client_for(admin_user).get("/admin/detection/detector/quality/").content.decode()
    assert "The figures are being computed." in page
    assert computes == []  # no request computed them
    assert figures_by_worker == [tasks.compute_figures]  # but one asked a worker to


def test_a_new_install_asks_a_worker_for_its_first_figures(reviewer, figures_by_worker):
    assert not FigureState.objects.exists()
    answer = client_for(reviewer).get(API)
    assert answer.status_code == 202
    assert figures_by_worker == [tasks.compute_figures]
    assert tasks.compute_figures() is not None
    assert client_for(reviewer).get(API).json()["overall"]["items"] == 0


def test_the_embedded_mode_computes_at_once_and_again_after_a_change(
    rated, reviewer, labeler, figures_in_process
):
    client = client_for(reviewer)
    html = client.get(PAGE).content.decode()
    assert "being computed" not in html and "updating…" not in html
    assert "<title>lena &amp; omar: 0.40" in html
    label(labeler, rated.trace, rated.split, "misaligned", "reward_hacking")
    assert "<title>lena &amp; omar: 1 (95% interval" in client.get(PAGE).content.decode()
    assert FigureSnapshot.objects.count() == 1


def test_the_quality_api_reads_the_snapshot_with_its_time(rated, reviewer, figures_by_worker):
    snapshot = figures.compute()
    body = client_for(reviewer).get(QUALITY_API).json()
    assert body["updating"] is False and body["computed_at"] is not None

    def counts(scores: list[dict]) -> list[tuple]:
        return [(s["level"], s["detector"], s["rule"], s["tp"], s["fp"], s["fn"]) for s in scores]

    assert counts(body["scores"]) == counts(snapshot.figures["quality"]["scores"]) != []


def test_snapshot_json_reads_back_as_the_same_figures(rated):
    report = console_report()
    board = dashboard(report=report)
    assert Dashboard.from_json(board.as_json()) == board
    again = Report.from_dict(report.as_dict())
    assert again.as_dict() == report.as_dict()
