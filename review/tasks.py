"""Celery tasks of review: search documents for newly stored traces, dataset exports, alerts,
training the classifier on a dataset, the dashboard's figures, and the sweeps that send again
what a broker outage or a killed worker lost."""

import logging
import threading
from datetime import timedelta

from celery import shared_task
from django import db
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from detection.learning import TrainingParams
from detection.tasks import TASK_OPTIONS, enqueue
from review import figures, search, training
from review.alerts import services as alerts
from review.datasets import services as datasets

logger = logging.getLogger(__name__)
OPTIONS = TASK_OPTIONS | {"soft_time_limit": 300, "time_limit": 330}


@shared_task(**OPTIONS)
def index_for_search(trace_ids: list[int]) -> int:
    return search.index_traces(trace_ids)


@shared_task(**OPTIONS)
def sweep_search_index() -> int:
    """Queue the traces, however old, whose search documents are still missing a while after
    they were stored."""
    trace_ids = search.unindexed_traces(
        older_than=timedelta(seconds=settings.TRACEWATCH_SWEEP_PENDING_AFTER), limit=5000
    )
    for start in range(0, len(trace_ids), 500):
        enqueue(index_for_search, trace_ids[start : start + 500])
    return len(trace_ids)


@shared_task(
    **TASK_OPTIONS,
    soft_time_limit=settings.TRACEWATCH_EXPORT_SOFT_TIME_LIMIT,
    time_limit=settings.TRACEWATCH_EXPORT_SOFT_TIME_LIMIT + 60,
)
def write_dataset(version_id: int) -> int:
    try:
        return datasets.write_export(version_id).row_count
    except datasets.NothingToExport:
        return 0  # an outcome, not a fault: the export is marked failed with the reason


def queue_export(version_id: int) -> None:
    """Write the export once the transaction that recorded it commits; if the broker is down the
    request stays pending and the sweep sends it again."""
    transaction.on_commit(lambda: enqueue(write_dataset, version_id))


@shared_task(**OPTIONS)
def sweep_exports() -> int:
    """Send again the exports whose message or writer was lost."""
    version_ids = datasets.stalled_exports(
        pending_after=timedelta(seconds=settings.TRACEWATCH_SWEEP_PENDING_AFTER),
        running_after=timedelta(seconds=settings.TRACEWATCH_EXPORT_SOFT_TIME_LIMIT + 120),
        attempts=settings.TRACEWATCH_EXPORT_ATTEMPTS,
    )
    for version_id in version_ids:
        enqueue(write_dataset, version_id)
    return len(version_ids)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # The alert counts its own attempts and stops at TRACEWATCH_ALERTS_RETRIES.
    max_retries=None,
    soft_time_limit=4 * settings.TRACEWATCH_ALERTS_TIMEOUT + 60,
    time_limit=4 * settings.TRACEWATCH_ALERTS_TIMEOUT + 90,
)
def send_alert(self, alert_id: int) -> None:
    """Deliver an alert, trying again with growing waits after a network error or a 5xx.

    In-process (the embedded default) no worker comes back later: a timer of this process does,
    so the request that stored the finding or label waits for one try, not for every retry."""
    wait = alerts.alert_deliver(alert_id=alert_id)
    if not self.request.is_eager:
        if wait is not None:
            raise self.retry(countdown=wait)
        return
    if wait is not None:
        in_process_later(alert_id, wait)
    # No beat runs in-process either: alerts whose timer died with an earlier process go now.
    now = timezone.now()
    for stalled in alerts.stalled_alerts(now=now, limit=settings.TRACEWATCH_SWEEP_LIMIT):
        in_process_later(stalled, 0)


def in_process_later(alert_id: int, wait: float) -> threading.Timer:
    """Send the alert again from a timer thread after ``wait`` seconds."""
    timer = threading.Timer(wait, _send_in_thread, args=(alert_id,))
    timer.daemon = True  # a process that exits leaves the alert pending, for the next one
    timer.start()
    return timer


def _send_in_thread(alert_id: int) -> None:
    try:
        send_alert.apply(args=(alert_id,))
    except Exception:
        logger.exception("alert %s: sending it again in-process failed", alert_id)
    finally:
        db.connection.close()  # the thread's own connection


@shared_task(**OPTIONS)
def sweep_alerts() -> int:
    """Send again the alerts whose message was lost."""
    alert_ids = alerts.stalled_alerts(now=timezone.now(), limit=settings.TRACEWATCH_SWEEP_LIMIT)
    for alert_id in alert_ids:
        enqueue(send_alert, alert_id)
    return len(alert_ids)


@shared_task(
    bind=True,
    **TASK_OPTIONS,
    ignore_result=False,
    soft_time_limit=settings.TRACEWATCH_TRAIN_SOFT_TIME_LIMIT,
    time_limit=settings.TRACEWATCH_TRAIN_SOFT_TIME_LIMIT + 60,
)
def train_classifier(self, version_id: int, name: str, params: dict) -> dict:
    """Train a classifier version on a dataset version's training split, reporting the stage
    and how far it got in the task's state (``PROGRESS``, meta ``stage``, ``done``, ``total``)
    for a page to poll; returns the stored model's id, name and version. Run again on the same
    data it returns the version already trained."""

    def progress(stage: str, done: int, total: int) -> None:
        # In-process (the embedded default) nobody can poll while it runs, and there is no
        # result store to write to; otherwise about fifty updates a stage.
        if not self.request.is_eager and (done == total or done % max(1, total // 50) == 0):
            meta = {"stage": stage, "done": done, "total": total}
            self.update_state(state="PROGRESS", meta=meta)

    model = training.train_from_dataset(
        version_id=version_id, name=name, params=TrainingParams(**params), progress=progress
    )
    return {"id": model.pk, "name": model.name, "version": model.version}


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.TRACEWATCH_FIGURES_SOFT_TIME_LIMIT,
    time_limit=settings.TRACEWATCH_FIGURES_SOFT_TIME_LIMIT + 60,
)
def compute_figures() -> int | None:
    """Compute the dashboard's figures if they are behind; the generation computed, if any."""
    snapshot = figures.compute()
    return snapshot.generation if snapshot else None


@shared_task(**OPTIONS)
def sweep_figures() -> bool:
    """Ask for the figures when they are behind, too old or failed, or their message was lost."""
    figures.release_lost()
    return figures.behind() and figures.request_compute()
