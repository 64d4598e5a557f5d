"""The dashboard's and the detector quality page's figures, computed by a task and kept as a
snapshot, so that no request waits for them: at 100,000 labels they take seconds to compute.

Every change the figures depend on (a label, a decision, stored findings, a detector, a queue or
a category) moves a generation counter on in its own transaction, and asks for a computation once
it commits. At most one computation is queued and one runs: a request finds one queued and leaves
it be, and a run that ends behind the counter asks for the next. A failed run keeps the previous
snapshot, and the sweep asks again. In-process (the embedded default) there is no worker to ask,
so reading figures that are missing or behind computes them at once.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from detection.evaluation import Report
from review.dashboard import Dashboard, dashboard
from review.models import FigureSnapshot, FigureState
from review.quality import console_report

logger = logging.getLogger(__name__)

STATE = 1  # the primary key of the one FigureState row


def embedded() -> bool:
    """Whether tasks run in-process, where nothing computes the figures but the request."""
    return bool(current_app.conf.task_always_eager)


def _state() -> FigureState:
    state, _ = FigureState.objects.get_or_create(pk=STATE)
    return state


def figures_changed() -> None:
    """Move the generation on in the caller's transaction, and once it commits ask for the
    figures to be computed again."""
    if not FigureState.objects.filter(pk=STATE).update(generation=F("generation") + 1):
        _state()
        FigureState.objects.filter(pk=STATE).update(generation=F("generation") + 1)
    transaction.on_commit(request_compute)


def request_compute() -> bool:
    """Queue a computation unless one is queued already; True when a message was sent."""
    if embedded():
        return False  # the next read computes them
    from review.tasks import compute_figures, enqueue  # the task module imports this one

    now = timezone.now()
    if not FigureState.objects.filter(pk=STATE, queued_at__isnull=True).update(queued_at=now):
        return False
    if enqueue(compute_figures):
        return True
    FigureState.objects.filter(pk=STATE, queued_at=now).update(queued_at=None)
    return False  # the broker is unreachable: the sweep asks again


def latest() -> FigureSnapshot | None:
    """The snapshot of the newest inputs (a run that outlived its lease cannot hide a newer)."""
    return FigureSnapshot.objects.order_by("-generation", "-computed_at", "-pk").first()


def _stale(snapshot: FigureSnapshot | None, generation: int, now: datetime) -> bool:
    """Behind the inputs, or old enough that what no signal reports (traces arriving in a queue,
    a labeler renamed, the day turning) may have changed the figures."""
    if snapshot is None or snapshot.generation < generation:
        return True
    max_age = timedelta(seconds=settings.TRACEWATCH_FIGURES_MAX_AGE)
    computed_on = timezone.localdate(snapshot.computed_at)
    return snapshot.computed_at < now - max_age or computed_on != timezone.localdate(now)


def compute(*, force: bool = False) -> FigureSnapshot | None:
    """Compute the figures and keep them as the new snapshot, unless another run is computing or
    the newest snapshot is still current; then ask for another run if changes arrived meanwhile.
    A failure is logged and recorded on the state, the previous snapshot stays (the sweep tries
    again), and None is returned."""
    now = timezone.now()
    lease = timedelta(seconds=settings.TRACEWATCH_FIGURES_SOFT_TIME_LIMIT + 120)
    _state()
    # Taking the run clears the queued mark, so a change from now on queues the next run.
    taken = (
        FigureState.objects.filter(pk=STATE)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=now - lease))
        .update(running_since=now, queued_at=None)
    )
    if not taken:
        # The run in progress asks for another when it ends behind the inputs.
        FigureState.objects.filter(pk=STATE).update(queued_at=None)
        return None
    mine = FigureState.objects.filter(pk=STATE, running_since=now)
    generation = FigureState.objects.values_list("generation", flat=True).get(pk=STATE)
    if not force and not _stale(latest(), generation, now):
        mine.update(running_since=None)
        return None
    started = time.perf_counter()
    try:
        report = console_report()
        figures = {"dashboard": dashboard(report=report).as_json(), "quality": report.as_dict()}
    except Exception as exc:
        logger.exception("computing the figures of generation %s failed", generation)
        mine.update(
            running_since=None, failed_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"
        )
        return None
    with transaction.atomic():
        snapshot = FigureSnapshot.objects.create(
            generation=generation,
            computed_at=timezone.now(),
            duration_ms=round((time.perf_counter() - started) * 1000),
            figures=figures,
        )
        kept = latest()
        FigureSnapshot.objects.exclude(pk=kept.pk if kept else snapshot.pk).delete()
        mine.update(running_since=None, failed_at=None, error="")
    if snapshot.generation < _state().generation:
        request_compute()
    return snapshot


def behind() -> bool:
    """Whether the figures need computing again: behind the inputs, too old, or missing."""
    generation = _state().generation
    return _stale(latest(), generation, timezone.now())


def release_lost() -> None:
    """Forget a queued run whose message was lost (a broker outage, a purged queue), so that
    the sweep can queue another."""
    lost = timezone.now() - timedelta(seconds=settings.TRACEWATCH_SWEEP_PENDING_AFTER)
    FigureState.objects.filter(pk=STATE, queued_at__lt=lost).update(queued_at=None)


@dataclass(frozen=True)
class Shown:
    """What a page or the API shows: the newest snapshot, if any, and whether newer figures are
    on their way."""

    snapshot: FigureSnapshot | None
    updating: bool

    @property
    def computed_at(self) -> datetime | None:
        return self.snapshot.computed_at if self.snapshot else None

    def dashboard(self) -> Dashboard | None:
        return Dashboard.from_json(self.snapshot.figures["dashboard"]) if self.snapshot else None

    def report(self) -> Report | None:
        return Report.from_dict(self.snapshot.figures["quality"]) if self.snapshot else None


def shown() -> Shown:
    """The figures to show. In-process, missing or stale ones are computed first, as nothing
    else will; with a worker, a missing snapshot asks for one and the page says so."""
    state = FigureState.objects.filter(pk=STATE).first()
    generation = state.generation if state else 0
    snapshot = latest()
    stale = _stale(snapshot, generation, timezone.now())
    if stale and embedded():
        return Shown(compute() or latest(), updating=False)
    if snapshot is None and (state is None or state.queued_at is None):
        _state()  # a new install, where nothing has changed yet
        request_compute()
    return Shown(snapshot, updating=snapshot is not None and snapshot.generation < generation)
