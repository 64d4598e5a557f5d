"""Alerts: a finding or a final label at or above a rule's severity is sent once, signed, to a
webhook (a receiver on a loopback port here) and by e-mail, retried on network errors and 5xx,
and never sent twice or from a transaction that rolled back."""

import hashlib
import hmac
import ipaddress
import json
import socket
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from detection import services as detection
from detection.models import Detector
from review.alerts.services import alert_deliver
from review.models import Alert, AlertDelivery, AlertRule, Category, Verdict
from review.services import LabelInput, decide, save_label
from review.tasks import in_process_later as start_timer
from review.tasks import send_alert, sweep_alerts
from tests import detectors
from tests.review.alerts import HANG_UP, serve
from tests.review.conftest import client_for, make_trace
from traces.models import Segment, Severity, Source

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-signing-alerts"
CHEATING = [
    ("user", "Fix the parser"),
    ("reasoning", "Easier to cheat the grader.\nLink: http://evil.example/\n<script>x</script>"),
    ("assistant", "Done."),
]


@pytest.fixture(autouse=True)
def alert_settings(settings, no_seeded_detectors, monkeypatch):
    settings.TRACEWATCH_ALERTS_ALLOW_PRIVATE = True
    settings.TRACEWATCH_ALERTS_RETRIES = 3
    settings.TRACEWATCH_BASE_URL = "https://tracewatch.example"
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    detectors.install()
    yield
    detectors.uninstall()


@pytest.fixture(autouse=True)
def later(monkeypatch) -> list[tuple[int, float]]:
    """The in-process retries, recorded instead of started on timer threads; ``drain`` runs them."""
    scheduled: list[tuple[int, float]] = []
    monkeypatch.setattr(
        "review.tasks.in_process_later", lambda alert_id, wait: scheduled.append((alert_id, wait))
    )
    return scheduled


def drain(later: list[tuple[int, float]]) -> list[float]:
    """Run the scheduled retries, and those they schedule, in order; returns their waits."""
    waits = []
    while later:
        alert_id, wait = later.pop(0)
        waits.append(wait)
        send_alert.apply(args=(alert_id,))
    return waits


@pytest.fixture
def receiver():
    yield from serve()


def keyword_detector(name: str = "cheating", severity: int = Severity.HIGH, **fields) -> Detector:
    defaults = {"kind": "test_keyword", "params": {"word": "cheat"}, "category": "reward_hacking"}
    return Detector.objects.create(name=name, severity=severity, **(defaults | fields))


def webhook_rule(url: str, **fields) -> AlertRule:
    defaults = {"name": "on-call", "min_severity": Severity.HIGH, "secret": SECRET}
    return AlertRule.objects.create(webhook_url=url, **(defaults | fields))


@pytest.fixture
def scan(django_capture_on_commit_callbacks):
    """Run the enabled detectors on a trace and what their commit queues (the alerts)."""

    def run(trace_id: int) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            detection.detect_trace(trace_id=trace_id)

    return run


def test_a_finding_posts_a_body_the_receiver_verifies_with_the_rule_secret(receiver, scan):
    detector = keyword_detector()
    webhook_rule(receiver.url)
    trace = make_trace(CHEATING)
    scan(trace.pk)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hooks/tracewatch"
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Tracewatch-Signature"] == f"sha256={expected}"
    assert request.headers["X-Tracewatch-Timestamp"].isdigit()
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    alert = Alert.objects.get()
    assert payload["id"] == str(alert.uid)
    assert payload["trace"]["id"] == trace.pk
    assert payload["trace"]["url"] == f"https://tracewatch.example/traces/{trace.pk}/"
    finding = payload["finding"]
    assert finding["detector"] == "cheating" and finding["detector_id"] == detector.pk
    assert (finding["version"], finding["rule"], finding["category"]) == (
        1,
        "word:cheat",
        "reward_hacking",
    )
    assert finding["severity"] == "high" and finding["score"] == 0.9
    assert finding["segment"]["step_index"] == 1
    assert (finding["segment"]["start"], finding["segment"]["end"]) == (10, 15)
    assert finding["url"].endswith(f"/traces/{trace.pk}/#step-1")
    alert.refresh_from_db()
    assert alert.state == Alert.State.DELIVERED and alert.webhook_sent_at is not None
    delivery = AlertDelivery.objects.get()
    assert (delivery.ok, delivery.status_code, delivery.attempt) == (True, 200, 1)


def test_a_wrong_secret_does_not_verify(receiver, scan):
    keyword_detector()
    webhook_rule(receiver.url)
    scan(make_trace(CHEATING).pk)
    request = receiver.requests[0]
    forged = hmac.new(b"not-the-secret-at-all", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Tracewatch-Signature"] != f"sha256={forged}"


def test_server_errors_and_hang_ups_are_retried_and_every_attempt_is_logged(receiver, scan, later):
    receiver.statuses = [503, HANG_UP, 502, 204]
    keyword_detector()
    webhook_rule(receiver.url)
    scan(make_trace(CHEATING).pk)
    alert = Alert.objects.get()
    # In-process, the scan waited for the first try only; the retries follow on a timer.
    assert alert.state == Alert.State.PENDING and alert.attempts == 1
    assert drain(later) == [10, 20, 40]

    alert.refresh_from_db()
    assert alert.state == Alert.State.DELIVERED and alert.attempts == 4
    deliveries = list(alert.deliveries.order_by("attempt"))
    assert [d.attempt for d in deliveries] == [1, 2, 3, 4]
    assert [d.status_code for d in deliveries] == [503, None, 502, 204]
    assert [d.ok for d in deliveries] == [False, False, False, True]
    assert deliveries[1].error  # the hang-up's error is recorded
    assert all(d.duration_ms >= 0 and d.started_at for d in deliveries)
    assert len(receiver.requests) == 4
    assert len({r.body for r in receiver.requests}) == 1  # the same bytes every time


def test_retries_are_bounded_and_the_alert_is_left_failed(receiver, scan, later):
    receiver.statuses = [500]
    keyword_detector()
    webhook_rule(receiver.url)
    scan(make_trace(CHEATING).pk)
    drain(later)

    alert = Alert.objects.get()
    assert alert.state == Alert.State.FAILED
    assert alert.deliveries.count() == 4  # the first try and TRACEWATCH_ALERTS_RETRIES more
    assert "500" in alert.error


def test_a_client_error_is_not_retried(receiver, scan):
    receiver.statuses = [410]
    keyword_detector()
    webhook_rule(receiver.url)
    scan(make_trace(CHEATING).pk)
    alert = Alert.objects.get()
    assert alert.state == Alert.State.FAILED and alert.deliveries.count() == 1


def test_a_rescan_and_a_new_detector_version_alert_no_more(receiver, scan):
    detector = keyword_detector()
    webhook_rule(receiver.url)
    trace = make_trace(CHEATING)
    scan(trace.pk)
    scan(trace.pk)
    detector.version += 1
    detector.save()
    scan(trace.pk)
    assert Alert.objects.count() == 1
    assert len(receiver.requests) == 1


def test_a_delivered_alert_is_never_sent_again(receiver, scan):
    keyword_detector()
    webhook_rule(receiver.url)
    scan(make_trace(CHEATING).pk)
    alert = Alert.objects.get()
    send_alert.delay(alert.pk)
    send_alert.delay(alert.pk)
    assert len(receiver.requests) == 1
    assert alert.deliveries.count() == 1


def test_an_alert_held_by_one_sender_is_not_sent_by_a_second(receiver, scan, monkeypatch):
    keyword_detector()
    webhook_rule(receiver.url)
    monkeypatch.setattr("review.alerts.services.send_later", lambda alert_ids: None)
    scan(make_trace(CHEATING).pk)
    alert = Alert.objects.get()
    Alert.objects.filter(pk=alert.pk).update(sending_until=timezone.now() + timedelta(minutes=1))
    assert alert_deliver(alert_id=alert.pk) is None
    assert receiver.requests == []
    # Its sender died: once the hold passes, the next message sends it.
    Alert.objects.filter(pk=alert.pk).update(sending_until=timezone.now() - timedelta(seconds=1))
    assert alert_deliver(alert_id=alert.pk) is None
    assert len(receiver.requests) == 1
    assert Alert.objects.get().state == Alert.State.DELIVERED


def test_a_rollback_sends_nothing(receiver, django_capture_on_commit_callbacks):
    keyword_detector()
    webhook_rule(receiver.url)
    trace = make_trace(CHEATING)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        detection.detect_trace(trace_id=trace.pk)
        assert Alert.objects.count() == 1
        raise RuntimeError("the scan's transaction fails after the alert was made")
    assert callbacks == []
    assert Alert.objects.count() == 0
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("rule_fields", "alerts"),
    [
        ({"min_severity": Severity.HIGH}, 1),
        ({"min_severity": Severity.CRITICAL}, 0),
        ({"min_severity": Severity.LOW}, 2),  # the low finding of "other" too
        ({"category_slug": "reward_hacking"}, 1),
        ({"category_slug": "sabotage"}, 0),
        ({"source_slug": "fleet"}, 1),
        ({"source_slug": "elsewhere"}, 0),
        ({"detector_name": "cheating"}, 1),
        ({"detector_name": "other"}, 0),
        ({"trigger": AlertRule.Trigger.LABEL}, 0),
        ({"trigger": AlertRule.Trigger.FINDING}, 1),
        ({"enabled": False}, 0),
    ],
)
def test_severity_threshold_and_filters_decide_which_findings_alert(
    receiver, scan, rule_fields, alerts
):
    keyword_detector()
    keyword_detector("other", params={"word": "grader"}, severity=Severity.LOW)
    fields = dict(rule_fields)
    if "category_slug" in fields:
        fields["category"] = Category.objects.get(slug=fields.pop("category_slug"))
    if "source_slug" in fields:
        fields["source"] = Source.objects.get_or_create(slug=fields.pop("source_slug"))[0]
    if "detector_name" in fields:
        fields["detector"] = Detector.objects.get(name=fields.pop("detector_name"))
    webhook_rule(receiver.url, **fields)
    scan(make_trace(CHEATING).pk)
    assert Alert.objects.count() == alerts
    assert len(receiver.requests) == alerts


def test_email_is_plain_text_and_trace_text_cannot_pose_as_a_line(receiver, scan, mailoutbox):
    keyword_detector()
    AlertRule.objects.create(
        name="mail", min_severity=Severity.HIGH, emails="sec@example.com, lead@example.com"
    )
    trace = make_trace(CHEATING, external_id="run-1\nSubject: forged")
    scan(trace.pk)

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["sec@example.com", "lead@example.com"]
    assert message.subject == f"[Tracewatch] high finding on trace {trace.pk}: mail"
    assert message.content_subtype == "plain"
    assert message.message().get_content_type() == "text/plain"
    lines = message.body.splitlines()
    assert f"Link: https://tracewatch.example/traces/{trace.pk}/#step-1" in lines
    assert 'trace.external_id: "run-1\\nSubject: forged"' in lines
    assert not any(line.startswith(("Link: http://evil", "Subject:")) for line in lines)
    alert = Alert.objects.get()
    assert alert.state == Alert.State.DELIVERED and alert.email_sent_at is not None
    assert alert.deliveries.get().channel == AlertDelivery.Channel.EMAIL
    assert receiver.requests == []


def test_webhook_and_email_each_go_once_when_only_the_webhook_needs_a_retry(
    receiver, scan, mailoutbox, later
):
    receiver.statuses = [503, 200]
    keyword_detector()
    webhook_rule(receiver.url, emails="sec@example.com")
    scan(make_trace(CHEATING).pk)
    drain(later)
    assert len(mailoutbox) == 1
    assert len(receiver.requests) == 2
    assert Alert.objects.get().state == Alert.State.DELIVERED


def test_a_private_address_is_refused_at_send_time_unless_allowed(receiver, scan, settings):
    keyword_detector()
    webhook_rule(receiver.url)
    settings.TRACEWATCH_ALERTS_ALLOW_PRIVATE = False
    scan(make_trace(CHEATING).pk)
    alert = Alert.objects.get()
    assert alert.state == Alert.State.FAILED and "private" in alert.error
    assert receiver.requests == []
    assert alert.deliveries.get().ok is False


def test_the_sweep_sends_an_alert_whose_message_was_lost(receiver, scan, monkeypatch):
    keyword_detector()
    webhook_rule(receiver.url)
    monkeypatch.setattr("review.alerts.services.send_later", lambda alert_ids: None)
    scan(make_trace(CHEATING).pk)
    assert receiver.requests == []
    Alert.objects.update(due_at="2000-01-01T00:00:00Z")
    assert sweep_alerts() == 1
    assert len(receiver.requests) == 1
    assert sweep_alerts() == 0


# --- Final labels ---------------------------------------------------------------------------


@pytest.fixture
def flagged(labeler):
    trace = make_trace(CHEATING)
    step = trace.steps.get(index=1)
    segment = Segment.objects.create(step=step, start=10, end=15, origin=Segment.Origin.HUMAN)
    return trace, segment


def label(user, trace, segment, verdict=Verdict.MISALIGNED, severity=Severity.CRITICAL):
    return save_label(
        author=user,
        trace=trace,
        segment=segment,
        label=LabelInput(verdict=verdict, severity=severity),
    )


def adjudicate(reviewer, trace, segment, severity):
    return decide(
        reviewer=reviewer,
        trace=trace,
        segment=segment,
        verdict=Verdict.MISALIGNED,
        severity=severity,
    )


def test_a_final_label_alerts_once_however_many_labels_and_decisions_follow(
    receiver, flagged, labeler, other_labeler, reviewer, django_capture_on_commit_callbacks
):
    trace, segment = flagged
    webhook_rule(receiver.url, trigger=AlertRule.Trigger.LABEL)
    with django_capture_on_commit_callbacks(execute=True):
        label(labeler, trace, segment)
        label(other_labeler, trace, segment)
        label(labeler, trace, segment)
        adjudicate(reviewer, trace, segment, Severity.CRITICAL)
    assert len(receiver.requests) == 1
    payload = json.loads(receiver.requests[0].body)
    assert payload["event"] == "label"
    assert payload["label"]["verdict"] == "misaligned"
    assert payload["label"]["severity"] == "critical"
    assert payload["label"]["source"] == "single"
    assert payload["label"]["segment"] == {
        "id": segment.pk,
        "step_index": 1,
        "start": 10,
        "end": 15,
    }


def test_a_disagreement_alerts_only_when_adjudicated(
    receiver, flagged, labeler, other_labeler, reviewer, django_capture_on_commit_callbacks
):
    trace, segment = flagged
    webhook_rule(receiver.url, trigger=AlertRule.Trigger.LABEL)
    with django_capture_on_commit_callbacks(execute=True):
        label(labeler, trace, segment, verdict=Verdict.BENIGN, severity=None)
        label(other_labeler, trace, segment)  # a tie: no final label
        assert receiver.requests == []
        adjudicate(reviewer, trace, segment, Severity.HIGH)
    assert len(receiver.requests) == 1
    assert json.loads(receiver.requests[0].body)["label"]["source"] == "decision"


@pytest.mark.parametrize(
    ("verdict", "severity", "alerts"),
    [
        (Verdict.MISALIGNED, Severity.HIGH, 1),
        (Verdict.MISALIGNED, Severity.MEDIUM, 0),
        (Verdict.MISALIGNED, None, 0),
        (Verdict.BENIGN, Severity.CRITICAL, 0),
        (Verdict.UNSURE, Severity.CRITICAL, 0),
    ],
)
def test_only_a_misaligned_final_label_at_the_rule_severity_alerts(
    receiver, flagged, labeler, django_capture_on_commit_callbacks, verdict, severity, alerts
):
    trace, segment = flagged
    webhook_rule(receiver.url, trigger=AlertRule.Trigger.BOTH)
    with django_capture_on_commit_callbacks(execute=True):
        label(labeler, trace, segment, verdict=verdict, severity=severity)
    assert len(receiver.requests) == alerts


def test_a_label_rule_with_a_detector_alerts_only_on_what_it_flagged(
    receiver, scan, labeler, django_capture_on_commit_callbacks
):
    detector = keyword_detector(severity=Severity.LOW)
    webhook_rule(receiver.url, trigger=AlertRule.Trigger.LABEL, detector=detector)
    trace = make_trace(CHEATING)
    scan(trace.pk)
    flagged_segment = detector.findings.get().segment
    other = Segment.objects.create(step=trace.steps.get(index=2), origin=Segment.Origin.HUMAN)
    with django_capture_on_commit_callbacks(execute=True):
        label(labeler, trace, other)
        assert receiver.requests == []
        label(labeler, trace, flagged_segment)
    assert len(receiver.requests) == 1


# --- The admin ------------------------------------------------------------------------------


def rule_form(**fields) -> dict:
    return {
        "name": "on-call",
        "enabled": "on",
        "min_severity": Severity.HIGH,
        "trigger": AlertRule.Trigger.BOTH,
        "source": "",
        "category": "",
        "detector": "",
        "webhook_url": "",
        "secret": "",
        "emails": "",
    } | fields


def public_dns(host: str, port: int, **kwargs: object) -> list[tuple]:
    """Name resolution without a network: a literal address is itself, any name is public."""
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        address = "93.184.215.14"
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"webhook_url": "ftp://example.com/hook", "secret": SECRET}, "webhook_url", "http"),
        ({"webhook_url": "http://10.1.2.3/hook", "secret": SECRET}, "webhook_url", "private"),
        ({"webhook_url": "http://127.0.0.1:9/hook", "secret": SECRET}, "webhook_url", "loopback"),
        ({"webhook_url": "http://[::1]/hook", "secret": SECRET}, "webhook_url", "private"),
        ({"webhook_url": "https://example.com/hook"}, "secret", "needs a secret"),
        ({"webhook_url": "https://example.com/hook", "secret": "short"}, "secret", "at least"),
        ({"emails": "sec@example.com, not an address"}, "emails", "not an e-mail"),
        ({}, None, "webhook URL, e-mail addresses, or both"),
    ],
)
def test_the_admin_form_refuses_bad_rules_with_the_field(
    admin_user, settings, monkeypatch, fields, field, message
):
    settings.TRACEWATCH_ALERTS_ALLOW_PRIVATE = False
    monkeypatch.setattr("review.alerts.webhook.socket.getaddrinfo", public_dns)
    response = client_for(admin_user).post(
        reverse("admin:review_alertrule_add"), rule_form(**fields)
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    errors = form.errors.get(field or "__all__")
    assert errors and message in " ".join(errors), form.errors
    assert not AlertRule.objects.exists()


def test_admins_add_a_rule_and_its_secret_is_never_shown_back(admin_user, receiver):
    client = client_for(admin_user)
    response = client.post(
        reverse("admin:review_alertrule_add"),
        rule_form(webhook_url=receiver.url, secret=SECRET, emails="sec@example.com"),
    )
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert rule.secret == SECRET and rule.emails == "sec@example.com"

    change = reverse("admin:review_alertrule_change", args=[rule.pk])
    page = client.get(change).content.decode()
    assert SECRET not in page
    assert SECRET[-4:] in page  # its last characters, to tell secrets apart

    response = client.post(change, rule_form(name="renamed", webhook_url=receiver.url))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.secret) == ("renamed", SECRET)  # left empty: kept


def test_admins_read_alerts_and_their_deliveries_but_change_nothing(admin_user, receiver, scan):
    keyword_detector()
    webhook_rule(receiver.url)
    scan(make_trace(CHEATING).pk)
    alert = Alert.objects.get()
    client = client_for(admin_user)
    assert client.get(reverse("admin:review_alert_changelist")).status_code == 200
    page = client.get(reverse("admin:review_alert_change", args=[alert.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert str(alert.uid) in text and "&quot;event&quot;: &quot;finding&quot;" in text
    assert SECRET not in text
    response = client.post(reverse("admin:review_alert_delete", args=[alert.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Alert.objects.filter(pk=alert.pk).exists()


def test_labelers_and_reviewers_cannot_open_the_alert_rules(labeler, reviewer):
    for user in (labeler, reviewer):
        response = client_for(user).get(reverse("admin:review_alertrule_changelist"))
        assert response.status_code == 302  # to the admin's sign-in


def test_a_worker_tries_again_later_with_doubling_waits(receiver, scan, monkeypatch):
    receiver.statuses = [503]
    keyword_detector()
    webhook_rule(receiver.url)
    monkeypatch.setattr("review.alerts.services.send_later", lambda alert_ids: None)
    scan(make_trace(CHEATING).pk)
    alert = Alert.objects.get()
    waits = []

    def retry(countdown: int) -> Exception:
        waits.append(countdown)
        return Retry(when=countdown)

    monkeypatch.setattr(send_alert, "retry", retry)
    send_alert.push_request(is_eager=False, retries=0)
    try:
        for _ in range(3):
            with pytest.raises(Retry):
                send_alert.run(alert.pk)
        send_alert.run(alert.pk)  # the last try: no more retries
    finally:
        send_alert.pop_request()
    assert waits == [10, 20, 40]
    alert.refresh_from_db()
    assert alert.state == Alert.State.FAILED and alert.deliveries.count() == 4


@pytest.mark.django_db(transaction=True)
def test_in_process_a_timer_thread_sends_the_retry_and_a_stalled_alert_goes_with_the_next(
    receiver, settings, monkeypatch
):
    """The real timers, with no wait: the retry comes from another thread and connection."""
    settings.TRACEWATCH_ALERTS_RETRY_AFTER = 0
    timers = []
    monkeypatch.setattr(
        "review.tasks.in_process_later", lambda a, w: timers.append(start_timer(a, w))
    )
    receiver.statuses = [503, 204]
    keyword_detector()
    webhook_rule(receiver.url)
    detection.detect_trace(trace_id=make_trace(CHEATING).pk)
    while timers:
        timers.pop(0).join()
    alert = Alert.objects.get()
    assert alert.state == Alert.State.DELIVERED and alert.attempts == 2

    # A second alert whose timer died with its process: past due, it goes with the next send.
    monkeypatch.setattr("review.tasks.in_process_later", lambda a, w: None)
    receiver.statuses = [503, 204]
    detection.detect_trace(trace_id=make_trace(CHEATING, external_id="run-2").pk)
    lost = Alert.objects.exclude(pk=alert.pk).get()
    assert lost.state == Alert.State.PENDING and lost.attempts == 1
    Alert.objects.filter(pk=lost.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    monkeypatch.setattr(
        "review.tasks.in_process_later", lambda a, w: timers.append(start_timer(a, w))
    )
    send_alert.apply(args=(alert.pk,))
    while timers:
        timers.pop(0).join()
    lost.refresh_from_db()
    assert lost.state == Alert.State.DELIVERED and lost.attempts == 2
