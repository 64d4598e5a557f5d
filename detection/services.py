"""Running detectors over stored traces and keeping their findings and the traces' state current.

Running is idempotent: a detector's findings on a trace at one version are replaced as a whole, in
one transaction holding the trace's row lock, so a second run (a redelivered task, a worker that
died halfway, a backfill) leaves exactly the same rows.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from detection.engine import DetectorKind, Hit, ScanStep, ScanTrace, build, scan
from detection.models import DetectionRun, Detector, Finding
from detection.selectors import current_findings
from detection.signals import findings_stored
from traces.models import Segment, Severity, Step, Trace

logger = logging.getLogger(__name__)


@dataclass
class DetectorOutcome:
    detector: Detector
    hits: list[Hit]
    error: str = ""
    # Trying again later may succeed: the kind's exception said so (``transient``), as an
    # endpoint that is down, slow or rate limiting does.
    transient: bool = False


def load_scan_trace(trace_id: int) -> tuple[ScanTrace, list[int], str] | None:
    """The trace as detectors read it, its steps' ids by index and its content hash; None if it
    is gone."""
    trace = (
        Trace.objects.filter(pk=trace_id)
        .values("task", "agent", "model", "metadata", "content_hash")
        .first()
    )
    if trace is None:
        return None
    content_hash = trace.pop("content_hash")
    rows = Step.objects.filter(trace_id=trace_id).order_by("index")
    steps: list[ScanStep] = []
    step_ids: list[int] = []
    for step_id, index, kind, content, tool, call_id, arguments, metadata in rows.values_list(
        "id", "index", "kind", "content", "tool", "call_id", "arguments", "metadata"
    ):
        steps.append(ScanStep(index, kind, content, tool, call_id, arguments, metadata))
        step_ids.append(step_id)
    return ScanTrace(steps=tuple(steps), **trace), step_ids, content_hash


def build_detector(detector: Detector) -> DetectorKind:
    return build(
        detector.kind, detector.params, category=detector.category, step_kinds=detector.step_kinds
    )


class BuiltDetectors:
    """Detectors built once for a batch of traces rather than once a trace: building validates
    the parameters and compiles every expression and path glob again (about 2 ms for the default
    pack, as much as the scans of a short trace), and a built kind keeps its caches. Keyed by
    detector and version, so a detector changed meanwhile is built anew; a build that fails is
    tried again on the next trace."""

    def __init__(self) -> None:
        self._kinds: dict[tuple[int, int], DetectorKind] = {}

    def get(self, detector: Detector) -> DetectorKind:
        key = (detector.pk, detector.version)
        kind = self._kinds.get(key)
        if kind is None:
            kind = self._kinds[key] = build_detector(detector)
        return kind


def run_detector(
    detector: Detector, trace: ScanTrace, built: BuiltDetectors | None = None
) -> DetectorOutcome:
    """One detector on one trace; a failure is recorded as the outcome, never raised."""
    try:
        kind = built.get(detector) if built is not None else build_detector(detector)
        return DetectorOutcome(detector, scan(kind, trace))
    except Exception as exc:
        logger.exception("detector %s failed", detector.name)
        transient = getattr(exc, "transient", False) is True
        return DetectorOutcome(detector, [], f"{type(exc).__name__}: {exc}", transient)


def detect_trace(
    *,
    trace_id: int,
    detectors: Iterable[Detector] | None = None,
    built: BuiltDetectors | None = None,
) -> str | None:
    """Run detectors (all enabled ones by default) on a trace and store what they found;
    ``built`` shares the built detectors with the other traces of a batch.

    Returns the trace's new detection state, or None when the trace no longer exists.
    """
    Trace.objects.filter(pk=trace_id).update(
        detection_state=Trace.DetectionState.RUNNING, updated_at=timezone.now()
    )
    loaded = load_scan_trace(trace_id)
    if loaded is None:
        return None
    trace, step_ids, content_hash = loaded
    if detectors is None:
        detectors = Detector.objects.filter(enabled=True)
    outcomes = [run_detector(detector, trace, built) for detector in detectors]
    with transaction.atomic():
        locked = Trace.objects.select_for_update().filter(pk=trace_id).values("content_hash")
        current = locked.first()
        if current is None or current["content_hash"] != content_hash:
            # Deleted, or replaced while we scanned: the replacement has its own run queued.
            return None
        runs = {
            run["detector_id"]: run
            for run in DetectionRun.objects.filter(trace_id=trace_id).values(
                "detector_id", "detector_version", "attempts"
            )
        }
        stored = _store(trace_id, step_ids, outcomes, runs)
        state = _refresh_trace(trace_id)
        if stored:
            findings_stored.send(sender=Finding, trace_id=trace_id, findings=stored)
    return state


def _store(
    trace_id: int, step_ids: list[int], outcomes: list[DetectorOutcome], previous: dict[int, dict]
) -> list[Finding]:
    """Replace each detector's findings on the trace at its version with its outcome's, record
    the runs, and return the findings stored. One statement each for the deletion, the findings
    and the runs whatever the number of detectors: a statement per detector and the savepoints
    of ``update_or_create`` were most of a worker's time outside the scans."""
    if not outcomes:
        return []
    stale = Q()
    for outcome in outcomes:
        stale |= Q(detector=outcome.detector, detector_version=outcome.detector.version)
    Finding.objects.filter(stale, trace_id=trace_id).delete()
    findings = []
    now = timezone.now()
    runs = []
    for outcome in outcomes:
        detector = outcome.detector
        hits = 0
        for hit in outcome.hits:
            segment, _ = Segment.objects.get_or_create(
                step_id=step_ids[hit.step_index],
                start=hit.start,
                end=hit.end,
                origin=Segment.Origin.DETECTOR,
            )
            findings.append(
                Finding(
                    detector=detector,
                    detector_version=detector.version,
                    trace_id=trace_id,
                    segment=segment,
                    score=hit.score,
                    category=hit.category or detector.category,
                    severity=detector.severity if hit.severity is None else hit.severity,
                    rationale=hit.rationale,
                    rule=hit.rule,
                )
            )
            hits += 1
        runs.append(_run(trace_id, outcome, hits, previous.get(detector.pk), now))
    Finding.objects.bulk_create(findings)
    # The trace's row lock is held, so no other scan of it writes these rows meanwhile.
    DetectionRun.objects.bulk_create(
        runs,
        update_conflicts=True,
        unique_fields=["trace", "detector"],
        update_fields=[
            "detector_version",
            "state",
            "hits",
            "error",
            "finished_at",
            "attempts",
            "retry_at",
        ],
    )
    return findings


def _run(
    trace_id: int, outcome: DetectorOutcome, hits: int, previous: dict | None, now: datetime
) -> DetectionRun:
    """The run to record for an outcome: failures counted at the same detector version, and a
    transient one given its time to be tried again."""
    detector = outcome.detector
    attempts = 0
    if outcome.error:
        same_version = previous is not None and previous["detector_version"] == detector.version
        attempts = 1 + (previous["attempts"] if same_version else 0)
    retry_at = retry_time(now, attempts) if outcome.transient else None
    error = outcome.error
    if outcome.transient and retry_at is None:
        error += f" (gave up after {attempts} attempts)"
    return DetectionRun(
        trace_id=trace_id,
        detector=detector,
        detector_version=detector.version,
        state=DetectionRun.State.FAILED if outcome.error else DetectionRun.State.DONE,
        hits=hits,
        error=error,
        finished_at=now,
        attempts=attempts,
        retry_at=retry_at,
    )


def retry_time(now: datetime, attempts: int) -> datetime | None:
    """When to try a detector again after its ``attempts``-th transient failure in a row: the
    wait doubles from ``TRACEWATCH_DETECT_RETRY_AFTER`` up to an hour; None once
    ``TRACEWATCH_DETECT_RETRIES`` retries have failed too."""
    if attempts > settings.TRACEWATCH_DETECT_RETRIES:
        return None
    wait = min(settings.TRACEWATCH_DETECT_RETRY_AFTER * 2 ** (attempts - 1), 3600)
    return now + timedelta(seconds=wait)


def _refresh_trace(trace_id: int) -> str:
    """Recompute a trace's detection state and highest severity from its runs and findings."""
    failed = DetectionRun.objects.filter(
        trace_id=trace_id, detector__enabled=True, state=DetectionRun.State.FAILED
    ).exists()
    severity = current_findings([trace_id]).aggregate(m=Max("severity"))["m"] or Severity.NONE
    state = Trace.DetectionState.FAILED if failed else Trace.DetectionState.DONE
    Trace.objects.filter(pk=trace_id).update(
        detection_state=state, max_severity=severity, updated_at=timezone.now()
    )
    return state


def mark_failed(trace_id: int, reason: str) -> None:
    logger.warning("detection of trace %s failed: %s", trace_id, reason)
    Trace.objects.filter(pk=trace_id).update(
        detection_state=Trace.DetectionState.FAILED, updated_at=timezone.now()
    )


def due_retries(*, now: datetime, lease: timedelta, limit: int) -> dict[int, list[int]]:
    """Trace ids by detector id whose failed run is due to be tried again. Their retry time
    moves on by ``lease``, so a retry lost with its message is sent again by a later sweep,
    and one still queued is not sent twice."""
    due = DetectionRun.objects.filter(
        state=DetectionRun.State.FAILED, retry_at__lte=now, detector__enabled=True
    )
    rows = list(due.order_by("retry_at").values_list("pk", "detector_id", "trace_id")[:limit])
    DetectionRun.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(retry_at=now + lease)
    batches: dict[int, list[int]] = {}
    for _, detector_id, trace_id in rows:
        batches.setdefault(detector_id, []).append(trace_id)
    return batches


def trace_id_batches(batch_size: int) -> Iterable[list[int]]:
    """Every trace id, in ascending batches, read by keyset so memory stays flat."""
    last = 0
    while True:
        ids = list(
            Trace.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def stalled_traces(*, pending_before, running_before, limit: int) -> list[int]:
    """Traces whose detection never started or never finished; their clock is reset so that the
    next sweep gives the re-sent task time to run."""
    stalled = Trace.objects.filter(
        Q(detection_state=Trace.DetectionState.PENDING, updated_at__lt=pending_before)
        | Q(detection_state=Trace.DetectionState.RUNNING, updated_at__lt=running_before)
    )
    ids = list(stalled.order_by("updated_at").values_list("pk", flat=True)[:limit])
    Trace.objects.filter(pk__in=ids).update(
        detection_state=Trace.DetectionState.PENDING, updated_at=timezone.now()
    )
    return ids


# Changing any of these makes a new detector version: its findings are kept apart from the old.
VERSIONED_FIELDS = frozenset({"kind", "params", "category", "severity", "step_kinds"})


def save_detector(detector: Detector, *, changed: Iterable[str]) -> None:
    """Save a detector as an admin edited it.

    A changed configuration bumps the version; a new, changed or re-enabled detector is run over
    every stored trace once the change commits. Disabling one takes its findings out of the
    traces' highest severity.
    """
    from detection.tasks import enqueue, rescan

    changed = set(changed)
    is_new = detector.pk is None
    if not is_new and changed & VERSIONED_FIELDS:
        detector.version += 1
    detector.save()
    if detector.enabled and (is_new or changed & (VERSIONED_FIELDS | {"enabled"})):
        detector_id = detector.pk
        transaction.on_commit(lambda: enqueue(rescan, detector_id), robust=True)
    if not detector.enabled and "enabled" in changed:
        for trace_id in (
            Finding.objects.filter(detector=detector).values_list("trace_id", flat=True).distinct()
        ):
            _refresh_trace(trace_id)


def builtin_defaults() -> dict[str, dict[str, Any]]:
    """The built-in detectors' configurations as this release defines them, by name."""
    from detection.kinds import claim_vs_result, code, llm_judge, pattern, tool_action

    defaults = (
        pattern.DEFAULT,
        tool_action.DEFAULT,
        claim_vs_result.DEFAULT,
        code.DEFAULT,
        llm_judge.DEFAULT,
    )
    return {default["name"]: default for default in defaults}


def reset_to_default(detector: Detector) -> list[str]:
    """Give a built-in detector this release's configuration; the fields that changed.

    The seeding migration creates the built-in detectors once, so an install keeps the rules it
    started with; this is how it takes up a release's rules. Its enabled state is the admin's and
    is kept. A detector that is not built in is left alone."""
    default = builtin_defaults().get(detector.name)
    if default is None:
        return []
    changed = [
        name
        for name in ("kind", "params", "category", "severity", "step_kinds")
        if getattr(detector, name) != default[name]
    ]
    for name in changed:
        setattr(detector, name, default[name])
    if changed:
        save_detector(detector, changed=changed)
    return changed
