"""Making alerts and delivering them.

An alert row is made in the transaction that stored its finding or label, with the exact body
it will send, under a unique (rule, key): a rescan, a retried task or a second save that meets
the same item finds the row there and makes nothing. It is sent once that transaction commits,
so a rollback sends nothing. Delivery claims the alert for a while before each attempt and marks
each channel done as soon as it succeeds, so a delivered alert, or channel, is never sent again.
"""

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.client import HTTPException

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from detection.models import Finding
from detection.selectors import current_findings
from review.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRefused, post, sign
from review.datasets.rows import item_final_label
from review.models import Alert, AlertDelivery, AlertRule, Verdict
from traces.models import Segment, Severity, Step, Trace

logger = logging.getLogger(__name__)

# Answers that may pass if the webhook is tried again later.
_TRANSIENT_STATUS = {408, 425, 429}


def _severity_name(value: int | None) -> str | None:
    return None if value is None else Severity(value).label


def _rules(event: str) -> list[AlertRule]:
    return list(
        AlertRule.objects.filter(enabled=True, trigger__in=[event, AlertRule.Trigger.BOTH])
        .select_related("category")
        .order_by("pk")
    )


def _link(trace_id: int, step_index: int | None) -> str:
    path = reverse("review:trace", args=[trace_id])
    anchor = f"#step-{step_index}" if step_index is not None else ""
    return f"{settings.TRACEWATCH_BASE_URL}{path}{anchor}"


def _trace_json(trace: Trace) -> dict:
    return {
        "id": trace.pk,
        "external_id": trace.external_id,
        "source": trace.source.slug,
        "agent": trace.agent,
        "model": trace.model,
        "url": _link(trace.pk, None),
    }


def _matches(
    rule: AlertRule, *, source_id: int, severity: int, category: str | None, detector_ids: set[int]
) -> bool:
    """Whether an item of this severity and category, on a trace of this source, flagged by
    these detectors, passes the rule's threshold and filters."""
    return (
        severity >= rule.min_severity
        and (rule.source_id is None or rule.source_id == source_id)
        and (rule.category is None or rule.category.slug == category)
        and (rule.detector_id is None or rule.detector_id in detector_ids)
    )


def _new_alert(
    rule: AlertRule, *, event: str, key: str, trace: Trace, severity: int, about: dict
) -> Alert:
    """An unsaved alert with its body: everything from a trace goes in as JSON strings."""
    uid = uuid.uuid4()
    now = timezone.now()
    body = {
        "id": str(uid),
        "event": event,
        "created_at": now.isoformat(),
        "rule": {
            "id": rule.pk,
            "name": rule.name,
            "min_severity": _severity_name(rule.min_severity),
        },
        "trace": _trace_json(trace),
        event: about,
    }
    return Alert(
        uid=uid,
        rule=rule,
        event=event,
        key=key,
        trace=trace,
        severity=severity,
        body=json.dumps(body, ensure_ascii=True, separators=(",", ":")),
        due_at=now + timedelta(seconds=settings.TRACEWATCH_SWEEP_PENDING_AFTER),
    )


def _record(alerts: list[Alert]) -> list[int]:
    """Store the alerts not made before and send each once the transaction commits."""
    if not alerts:
        return []
    Alert.objects.bulk_create(alerts, ignore_conflicts=True)
    made = list(
        Alert.objects.filter(uid__in=[alert.uid for alert in alerts]).values_list("pk", flat=True)
    )
    if made:
        transaction.on_commit(lambda: send_later(made), robust=True)
    return made


def send_later(alert_ids: Sequence[int]) -> None:
    """Queue the alerts' delivery; an alert the broker did not take is sent by the sweep."""
    from detection.tasks import enqueue
    from review.tasks import send_alert

    for alert_id in alert_ids:
        enqueue(send_alert, alert_id)


def alert_findings(*, trace_id: int, findings: Sequence[Finding]) -> list[int]:
    """Make the alerts that newly stored findings call for; returns the new alerts' ids.

    A finding is the detector's evidence under one of its rules: the same span flagged again,
    by a rescan or a later version of the detector, is the same finding and alerts no more."""
    rules = _rules(Alert.Event.FINDING)
    if not rules:
        return []
    lowest = min(rule.min_severity for rule in rules)
    findings = [finding for finding in findings if finding.severity >= lowest]
    if not findings:
        return []
    trace = Trace.objects.select_related("source").get(pk=trace_id)
    step_index = dict(
        Step.objects.filter(pk__in={finding.segment.step_id for finding in findings}).values_list(
            "pk", "index"
        )
    )
    alerts = []
    for finding in findings:
        segment = finding.segment
        index = step_index[segment.step_id]
        about = {
            "id": finding.pk,
            "detector": finding.detector.name,
            "detector_id": finding.detector_id,
            "version": finding.detector_version,
            "rule": finding.rule,
            "category": finding.category,
            "severity": _severity_name(finding.severity),
            "score": finding.score,
            "rationale": finding.rationale,
            "segment": {
                "id": segment.pk,
                "step_index": index,
                "start": segment.start,
                "end": segment.end,
            },
            "url": _link(trace_id, index),
        }
        key = f"finding:{finding.detector_id}:{segment.pk}:{finding.rule}"
        severity = finding.severity
        alerts += [
            _new_alert(
                rule,
                event=Alert.Event.FINDING,
                key=key,
                trace=trace,
                severity=severity,
                about=about,
            )
            for rule in rules
            if _matches(
                rule,
                source_id=trace.source_id,
                severity=severity,
                category=finding.category,
                detector_ids={finding.detector_id},
            )
        ]
    return _record(alerts)


def alert_label(*, trace_id: int, segment_id: int | None) -> list[int]:
    """Make the alerts an item's final label calls for, now that it may have changed; returns
    the new alerts' ids.

    The final label is the one exports give (a decision, else the majority, else the only
    label). An item alerts once per rule, the first time its final label is misaligned at or
    above the rule's severity; later labels on it do not alert again."""
    rules = _rules(Alert.Event.LABEL)
    if not rules:
        return []
    found = item_final_label(trace_id=trace_id, segment_id=segment_id)
    if found is None:
        return []
    final, labelers = found
    if final.verdict != Verdict.MISALIGNED or final.severity is None:
        return []
    trace = Trace.objects.select_related("source").get(pk=trace_id)
    flagged_by: set[int] = set()
    if any(rule.detector_id is not None for rule in rules):
        findings = current_findings([trace_id])
        if segment_id is not None:
            findings = findings.filter(segment_id=segment_id)
        flagged_by = set(findings.values_list("detector_id", flat=True))
    segment = None
    if segment_id is not None:
        segment = (
            Segment.objects.filter(pk=segment_id).values("start", "end", "step__index").first()
        )
    about = {
        "level": "trace" if segment_id is None else "segment",
        "verdict": final.verdict,
        "category": final.category,
        "severity": _severity_name(final.severity),
        "source": final.source,
        "agreement": final.agreement,
        "labelers": labelers,
        "segment": None
        if segment is None
        else {
            "id": segment_id,
            "step_index": segment["step__index"],
            "start": segment["start"],
            "end": segment["end"],
        },
        "url": _link(trace_id, segment["step__index"] if segment else None),
    }
    key = f"label:{trace_id}:{segment_id if segment_id is not None else 'trace'}"
    severity = final.severity
    alerts = [
        _new_alert(
            rule, event=Alert.Event.LABEL, key=key, trace=trace, severity=severity, about=about
        )
        for rule in rules
        if _matches(
            rule,
            source_id=trace.source_id,
            severity=severity,
            category=final.category,
            detector_ids=flagged_by,
        )
    ]
    return _record(alerts)


# --- Delivery -------------------------------------------------------------------------------


@dataclass
class Attempt:
    ok: bool
    transient: bool = False
    status_code: int | None = None
    error: str = ""


def _webhook(alert: Alert) -> Attempt:
    body = alert.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tracewatch-Alerts/1",
        TIMESTAMP_HEADER: str(int(time.time())),
        SIGNATURE_HEADER: sign(body, alert.rule.secret),
    }
    try:
        status = post(
            alert.rule.webhook_url,
            body,
            headers,
            timeout=settings.TRACEWATCH_ALERTS_TIMEOUT,
            allow_private=settings.TRACEWATCH_ALERTS_ALLOW_PRIVATE,
        )
    except WebhookRefused as exc:
        return Attempt(ok=False, error=str(exc))
    except (OSError, HTTPException) as exc:
        return Attempt(ok=False, transient=True, error=f"{type(exc).__name__}: {exc}")
    return Attempt(
        ok=200 <= status < 300,
        transient=status >= 500 or status in _TRANSIENT_STATUS,
        status_code=status,
    )


def email_text(alert: Alert) -> tuple[str, str]:
    """The e-mail's subject and plain-text body. The subject holds nothing from a trace; in the
    body each value from one is a quoted JSON string, so no line of it can pose as another."""
    body = json.loads(alert.body)
    about = body[alert.event]
    severity = _severity_name(alert.severity)
    subject = f"[Tracewatch] {severity} {alert.event} on trace {alert.trace_id}: {alert.rule.name}"
    lines = [
        f"Alert {body['id']} from rule {json.dumps(alert.rule.name)}.",
        f"Link: {about['url']}",
        "",
        *(f"trace.{name}: {json.dumps(value)}" for name, value in body["trace"].items()),
        *(
            f"{alert.event}.{name}: {json.dumps(value)}"
            for name, value in about.items()
            if name != "url"
        ),
    ]
    return " ".join(subject.split()), "\n".join(lines) + "\n"


def _email(alert: Alert) -> Attempt:
    subject, text = email_text(alert)
    message = EmailMessage(subject, text, to=alert.rule.recipients)
    try:
        message.send()
    except OSError as exc:  # smtplib's errors are OSErrors
        return Attempt(ok=False, transient=True, error=f"{type(exc).__name__}: {exc}")
    return Attempt(ok=True)


def retry_wait(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` failed ones: doubling from
    ``TRACEWATCH_ALERTS_RETRY_AFTER``, up to an hour."""
    return min(settings.TRACEWATCH_ALERTS_RETRY_AFTER * 2 ** (attempts - 1), 3600)


def _try(alert: Alert, channel: str, send) -> Attempt:
    started = timezone.now()
    clock = time.monotonic()
    attempt = send(alert)
    AlertDelivery.objects.create(
        alert=alert,
        channel=channel,
        attempt=alert.attempts,
        started_at=started,
        duration_ms=round((time.monotonic() - clock) * 1000),
        status_code=attempt.status_code,
        error=attempt.error,
        ok=attempt.ok,
    )
    if not attempt.ok:
        logger.warning(
            "alert %s: %s attempt %d failed: %s",
            alert.pk,
            channel,
            alert.attempts,
            attempt.error or attempt.status_code,
        )
    return attempt


def alert_deliver(*, alert_id: int) -> int | None:
    """Try once more to deliver what the alert has not yet delivered, logging every attempt.

    Returns the seconds to wait before trying again, or None when there is nothing more to do:
    delivered, failed for good, out of tries, or being sent by another worker right now."""
    now = timezone.now()
    hold = now + timedelta(seconds=2 * settings.TRACEWATCH_ALERTS_TIMEOUT + 60)
    claimed = (
        Alert.objects.filter(pk=alert_id, state=Alert.State.PENDING)
        .filter(Q(sending_until__isnull=True) | Q(sending_until__lt=now))
        .update(sending_until=hold, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    alert = Alert.objects.select_related("rule").get(pk=alert_id)
    done: dict[str, datetime] = {}
    failures: list[Attempt] = []
    channels = []
    if alert.rule.recipients and alert.email_sent_at is None:
        channels.append((AlertDelivery.Channel.EMAIL, "email_sent_at", _email))
    if alert.rule.webhook_url and alert.webhook_sent_at is None:
        channels.append((AlertDelivery.Channel.WEBHOOK, "webhook_sent_at", _webhook))
    for channel, field, send in channels:
        attempt = _try(alert, channel, send)
        if attempt.ok:
            done[field] = timezone.now()
        else:
            failures.append(attempt)
    update: dict = {**done, "sending_until": None}
    wait = None
    if not failures:
        update |= {"state": Alert.State.DELIVERED, "error": ""}
    else:
        update["error"] = "; ".join(
            failure.error or f"answered {failure.status_code}" for failure in failures
        )
        if all(failure.transient for failure in failures) and (
            alert.attempts <= settings.TRACEWATCH_ALERTS_RETRIES
        ):
            wait = retry_wait(alert.attempts)
            due = wait + settings.TRACEWATCH_SWEEP_PENDING_AFTER
            update["due_at"] = timezone.now() + timedelta(seconds=due)
        else:
            update["state"] = Alert.State.FAILED
    Alert.objects.filter(pk=alert_id).update(**update)
    return wait


def stalled_alerts(*, now: datetime, limit: int) -> list[int]:
    """Pending alerts past their due time and held by no sender: their message was lost (the
    broker down when they were made, a worker killed). Their due time moves on, so the sweep
    sends each once per period."""
    stalled = Alert.objects.filter(state=Alert.State.PENDING, due_at__lt=now).filter(
        Q(sending_until__isnull=True) | Q(sending_until__lt=now)
    )
    ids = list(stalled.order_by("due_at").values_list("pk", flat=True)[:limit])
    Alert.objects.filter(pk__in=ids).update(
        due_at=now + timedelta(seconds=settings.TRACEWATCH_SWEEP_PENDING_AFTER)
    )
    return ids
