"""Celery tasks: thin shells around detection.services.

Every task is idempotent and acknowledged late, so a message redelivered after a worker died
does the same work again without duplicating anything; the sweep re-enqueues traces whose
message was lost (a broker outage at ingest, a worker killed mid-scan).
"""

import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from detection import services
from detection.models import Detector

logger = logging.getLogger(__name__)

TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


def enqueue(task, *args) -> bool:
    """Send a task; when the broker is unreachable, log it and leave the work to the sweep."""
    try:
        task.delay(*args)
    except Exception:
        if task.app.conf.task_always_eager:  # in-process: a failure here is a real error
            raise
        logger.warning(
            "could not enqueue %s%s; the sweep will retry", task.name, args, exc_info=True
        )
        return False
    return True


def enqueue_detection(trace_ids: list[int]) -> int:
    """Queue traces for detection a batch per message (one message per trace made publishing
    the slowest part of bulk ingest); returns how many were queued."""
    size = settings.TRACEWATCH_DETECT_BATCH
    batches = [trace_ids[i : i + size] for i in range(0, len(trace_ids), size)]
    return sum(len(batch) for batch in batches if enqueue(detect_traces, batch))


@shared_task(
    soft_time_limit=settings.TRACEWATCH_DETECT_SOFT_TIME_LIMIT,
    time_limit=settings.TRACEWATCH_DETECT_SOFT_TIME_LIMIT + 30,
    **TASK_OPTIONS,
)
def detect_traces(trace_ids: list[int]) -> int:
    """Run the enabled detectors on each trace; returns how many were scanned."""
    built = services.BuiltDetectors()
    for done, trace_id in enumerate(trace_ids):
        try:
            services.detect_trace(trace_id=trace_id, built=built)
        except SoftTimeLimitExceeded:
            services.mark_failed(trace_id, "detection took longer than its time limit")
            enqueue_detection(trace_ids[done + 1 :])
            return done
    return len(trace_ids)


@shared_task(
    soft_time_limit=settings.TRACEWATCH_DETECT_SOFT_TIME_LIMIT * 10,
    time_limit=settings.TRACEWATCH_DETECT_SOFT_TIME_LIMIT * 10 + 60,
    **TASK_OPTIONS,
)
def rescan_batch(detector_id: int, trace_ids: list[int]) -> int:
    """Re-run one detector over a batch of traces."""
    detector = Detector.objects.filter(pk=detector_id).first()
    if detector is None:
        return 0
    built = services.BuiltDetectors()
    for trace_id in trace_ids:
        services.detect_trace(trace_id=trace_id, detectors=[detector], built=built)
    return len(trace_ids)


@shared_task(**TASK_OPTIONS)
def rescan(detector_id: int, batch_size: int = 500) -> int:
    """Fan a detector's new version out over every trace, in batches."""
    batches = 0
    for trace_ids in services.trace_id_batches(batch_size):
        enqueue(rescan_batch, detector_id, trace_ids)
        batches += 1
    return batches


@shared_task(**TASK_OPTIONS)
def sweep() -> int:
    """Re-enqueue traces left pending, or running past the time limit, and detectors due to be
    tried again after a transient failure (run by Celery beat); returns the traces sent."""
    now = timezone.now()
    trace_ids = services.stalled_traces(
        pending_before=now - timedelta(seconds=settings.TRACEWATCH_SWEEP_PENDING_AFTER),
        running_before=now - timedelta(seconds=settings.TRACEWATCH_SWEEP_RUNNING_AFTER),
        limit=settings.TRACEWATCH_SWEEP_LIMIT,
    )
    sent = enqueue_detection(trace_ids)
    if trace_ids:
        logger.info("sweep re-enqueued %d of %d stalled traces", sent, len(trace_ids))
    retries = services.due_retries(
        now=now,
        lease=timedelta(seconds=settings.TRACEWATCH_SWEEP_RUNNING_AFTER),
        limit=settings.TRACEWATCH_SWEEP_LIMIT,
    )
    size = settings.TRACEWATCH_DETECT_BATCH
    for detector_id, ids in retries.items():
        for batch in (ids[i : i + size] for i in range(0, len(ids), size)):
            if enqueue(rescan_batch, detector_id, batch):
                sent += len(batch)
    return sent
