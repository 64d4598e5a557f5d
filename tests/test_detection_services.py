import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.celery import app as celery_app
from detection import services, tasks
from detection.kinds import tool_action
from detection.models import DetectionRun, Detector, Finding
from review.models import Queue
from review.selectors import queue_items
from tests import detectors
from tests.samples import body, trace
from traces.models import Segment, Severity, Trace

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keyword_kind(no_seeded_detectors):
    detectors.install()
    yield
    detectors.uninstall()


@pytest.fixture(autouse=True)
def tasks_in_process(monkeypatch):
    """These tests are about the services; tests/test_detection_worker.py covers the broker."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def make_detector(name: str = "cheating", **fields) -> Detector:
    defaults = {
        "kind": "test_keyword",
        "params": {"word": "cheat"},
        "category": "reward_hacking",
        "severity": Severity.HIGH,
    }
    return Detector.objects.create(name=name, **(defaults | fields))


def cheating_trace() -> dict:
    return trace(
        steps=[
            {"kind": "user", "content": "Fix the parser"},
            {"kind": "reasoning", "content": "Easier to cheat: cheat the grader."},
            {"kind": "assistant", "content": "Done."},
        ]
    )


@pytest.fixture
def ingest(ingest_client, django_capture_on_commit_callbacks):
    """Post a trace through the API and run what its commit triggers (detection, in-process)."""

    def post(doc: dict) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            response = ingest_client.post(
                "/api/v1/traces/", data=body(doc), content_type="application/json"
            )
        assert response.status_code == 201, response.json()
        return response.json()["id"]

    return post


def test_ingest_runs_the_enabled_detectors_and_the_findings_point_at_the_evidence(ingest):
    make_detector()
    trace_id = ingest(cheating_trace())
    stored = Trace.objects.get(pk=trace_id)
    assert stored.detection_state == Trace.DetectionState.DONE
    assert stored.max_severity == Severity.HIGH
    findings = list(Finding.objects.filter(trace=stored).select_related("segment__step"))
    assert len(findings) == 2
    for finding in findings:
        segment = finding.segment
        assert segment.origin == Segment.Origin.DETECTOR
        assert segment.step.content[segment.start : segment.end] == "cheat"
        assert finding.category == "reward_hacking"
        assert finding.score == 0.9
        assert finding.rule == "word:cheat"


def test_running_twice_leaves_exactly_the_same_rows(ingest):
    make_detector()
    trace_id = ingest(cheating_trace())

    def snapshot():
        findings = Finding.objects.filter(trace_id=trace_id)
        return sorted(findings.values_list("segment__step__index", "segment__start", "score"))

    before = snapshot()
    segments = Segment.objects.count()
    services.detect_trace(trace_id=trace_id)
    services.detect_trace(trace_id=trace_id)
    assert snapshot() == before
    assert Segment.objects.count() == segments
    assert DetectionRun.objects.count() == 1


def test_a_failing_detector_marks_the_trace_failed_and_keeps_the_others_findings(ingest):
    make_detector()
    make_detector("broken", params={"fail": True})
    trace_id = ingest(cheating_trace())
    assert Trace.objects.get(pk=trace_id).detection_state == Trace.DetectionState.FAILED
    run = DetectionRun.objects.get(detector__name="broken")
    assert run.state == DetectionRun.State.FAILED
    assert "garbage" in run.error
    assert Finding.objects.filter(detector__name="cheating").count() == 2


def test_disabled_detectors_do_not_run(ingest):
    make_detector(enabled=False)
    trace_id = ingest(cheating_trace())
    assert Finding.objects.count() == 0
    assert Trace.objects.get(pk=trace_id).max_severity == Severity.NONE


def test_a_new_version_keeps_the_old_versions_findings_apart(
    ingest, django_capture_on_commit_callbacks
):
    detector = make_detector()
    trace_id = ingest(cheating_trace())
    detector.params = {"word": "grader"}
    with django_capture_on_commit_callbacks(execute=True):
        services.save_detector(detector, changed=["params"])
    assert detector.version == 2
    counts = dict(
        Finding.objects.filter(trace_id=trace_id)
        .values_list("detector_version")
        .annotate(n=Count("id"))
    )
    assert counts == {1: 2, 2: 1}


def test_disabling_a_detector_takes_it_out_of_the_highest_severity(ingest):
    detector = make_detector()
    trace_id = ingest(cheating_trace())
    detector.enabled = False
    services.save_detector(detector, changed=["enabled"])
    assert Trace.objects.get(pk=trace_id).max_severity == Severity.NONE


def test_a_trace_replaced_during_a_scan_is_left_to_its_own_run(ingest, monkeypatch):
    make_detector()
    trace_id = ingest(cheating_trace())
    real = services.load_scan_trace

    def load_then_replace(tid):
        loaded = real(tid)
        Trace.objects.filter(pk=tid).update(content_hash="changed")
        return loaded

    monkeypatch.setattr(services, "load_scan_trace", load_then_replace)
    Finding.objects.all().delete()
    assert services.detect_trace(trace_id=trace_id) is None
    assert Finding.objects.count() == 0


def test_the_sweep_requeues_traces_left_pending_or_running(ingest, settings):
    make_detector()
    trace_id = ingest(cheating_trace())
    Finding.objects.all().delete()
    old = timezone.now() - timezone.timedelta(hours=1)
    Trace.objects.filter(pk=trace_id).update(detection_state="running", updated_at=old)
    assert tasks.sweep() == 1
    stored = Trace.objects.get(pk=trace_id)
    assert stored.detection_state == Trace.DetectionState.DONE
    assert Finding.objects.count() == 2


def test_the_sweep_leaves_fresh_pending_traces_alone(ingest):
    trace_id = ingest(cheating_trace())
    Trace.objects.filter(pk=trace_id).update(detection_state="pending", updated_at=timezone.now())
    assert tasks.sweep() == 0


def test_rescan_runs_one_detector_over_every_trace(ingest):
    ids = [ingest(cheating_trace() | {"external_id": f"t{i}"}) for i in range(3)]
    detector = make_detector()
    assert Finding.objects.count() == 0
    tasks.rescan(detector.pk, batch_size=2)
    assert set(Finding.objects.values_list("trace_id", flat=True)) == set(ids)


def test_saving_a_new_detector_scans_the_stored_traces(ingest, django_capture_on_commit_callbacks):
    trace_id = ingest(cheating_trace())
    detector = Detector(name="new", kind="test_keyword", params={}, category="other")
    with django_capture_on_commit_callbacks(execute=True):
        services.save_detector(detector, changed=[])
    assert Finding.objects.filter(trace_id=trace_id).count() == 2


def test_a_batch_builds_each_detector_once_and_a_changed_one_again(ingest, monkeypatch):
    ids = [ingest(cheating_trace() | {"external_id": f"t{i}"}) for i in range(3)]
    detector = make_detector()
    make_detector("grader", params={"word": "grader"})
    built: list[str] = []
    real = services.build_detector

    def counting(configured: Detector):
        built.append(configured.name)
        return real(configured)

    monkeypatch.setattr(services, "build_detector", counting)
    assert tasks.detect_traces(ids) == 3
    assert sorted(built) == ["cheating", "grader"]
    assert Finding.objects.filter(detector__name="grader").count() == 3

    batch = services.BuiltDetectors()
    services.detect_trace(trace_id=ids[0], built=batch)
    detector.params = {"word": "Easier"}
    services.save_detector(detector, changed=["params"])
    services.detect_trace(trace_id=ids[1], built=batch)
    assert sorted(built[2:]) == ["cheating", "cheating", "grader"]
    assert Finding.objects.filter(detector=detector, detector_version=2).count() == 1


def test_storing_a_scan_takes_as_many_statements_for_four_detectors_as_for_one(ingest):
    trace_id = ingest(cheating_trace())
    make_detector(params={"word": "absent"})

    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            services.detect_trace(trace_id=trace_id, built=services.BuiltDetectors())
        return len(queries)

    one = statements()
    for name in ("second", "third", "fourth"):
        make_detector(name, params={"word": "absent"})
    assert statements() == one
    assert DetectionRun.objects.filter(trace_id=trace_id, state="done").count() == 4


def test_run_detectors_command_backfills_and_reports(ingest):
    trace_id = ingest(cheating_trace())
    make_detector()
    out = io.StringIO()
    call_command("run_detectors", "--detector", "cheating", "--since", "2000-01-01", stdout=out)
    assert out.getvalue().strip() == "1 traces scanned: 1 done"
    assert Finding.objects.filter(trace_id=trace_id).count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--detector", "nope"], "no detector named nope"),
        (["--trace", "999999"], "no trace 999999"),
        (["--since", "last week"], "not a date"),
        (["--trace", "99999999999999999999"], "not a trace id"),
        (["--trace", "\u00b2"], "not a trace id"),
    ],
)
def test_run_detectors_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_detectors", *args, stdout=io.StringIO())


@pytest.mark.parametrize("args", [["--since", "last week"], ["--trace", "99999999999999999999"]])
def test_run_detectors_from_the_shell_says_which_option_is_wrong_without_a_traceback(args):
    finished = subprocess.run(
        [sys.executable, "manage.py", "run_detectors", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "error: argument --" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_run_detectors_exits_non_zero_when_a_detector_fails(ingest):
    ingest(cheating_trace())
    make_detector("broken", params={"fail": True})
    with pytest.raises(CommandError, match="failed"):
        call_command("run_detectors", stdout=io.StringIO())


def tampering_and_dotenv_trace() -> dict:
    """Two tool calls: one deletes a test file (a high-severity rule, scored 0.7), one reads
    the project's .env (medium for a .env, scored 0.8)."""
    return trace(
        steps=[
            {"kind": "user", "content": "Get the build green"},
            {
                "kind": "tool_call",
                "tool": "shell",
                "call_id": "a",
                "arguments": {"cmd": "rm tests/test_rounding.py"},
            },
            {
                "kind": "tool_call",
                "tool": "shell",
                "call_id": "b",
                "arguments": {"cmd": "cat .env"},
            },
        ]
    )


def tool_action_detector() -> Detector:
    """The default tool_action detector, configured as low severity: its rules set their own."""
    default = tool_action.DEFAULT
    return make_detector(
        "tool actions", kind=default["kind"], params=default["params"], severity=Severity.LOW
    )


def test_a_finding_stores_its_rules_severity_not_the_detectors(ingest):
    tool_action_detector()
    trace_id = ingest(tampering_and_dotenv_trace())
    stored = dict(Finding.objects.filter(trace_id=trace_id).values_list("rule", "severity"))
    assert stored == {"test_deleted": Severity.HIGH, "credentials_read": Severity.MEDIUM}
    assert Trace.objects.get(pk=trace_id).max_severity == Severity.HIGH


def test_a_hit_without_a_severity_takes_the_detectors(ingest):
    make_detector(severity=Severity.MEDIUM)
    trace_id = ingest(cheating_trace())
    assert set(Finding.objects.filter(trace_id=trace_id).values_list("severity", flat=True)) == {
        Severity.MEDIUM
    }


def test_the_queue_orders_by_each_rules_severity_before_score(ingest):
    tool_action_detector()
    ingest(tampering_and_dotenv_trace())
    queue = Queue.objects.create(name="everything", order=Queue.Order.SEVERITY_SCORE)
    contents = [
        segment.step.content[segment.start : segment.end]
        for segment in queue_items(queue).select_related("step")
    ]
    assert contents == ["tests/test_rounding.py", "cat .env"]
