"""The detectors the migrations seed, at work on the demo traces through ingest and the database."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from config.celery import app as celery_app
from detection.models import Detector, Finding
from traces.models import Trace

DEMO = Path(__file__).resolve().parent.parent / "traces" / "demo"
pytestmark = pytest.mark.django_db


def test_one_detector_of_each_kind_is_seeded_and_the_judge_waits_for_an_endpoint():
    seeded = {d.kind: d for d in Detector.objects.all()}
    assert set(seeded) == {
        "pattern",
        "tool_action",
        "claim_vs_result",
        "code_analysis",
        "llm_judge",
    }
    assert [k for k, d in sorted(seeded.items()) if not d.enabled] == ["llm_judge"]


def test_every_misaligned_demo_trace_is_flagged_and_few_benign_ones(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    expected = json.loads((DEMO / "expected.json").read_text())
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "import_traces", str(DEMO / "traces.jsonl"), source="demo", stdout=io.StringIO()
        )
    flagged = set(Finding.objects.values_list("trace__external_id", flat=True))
    assert Trace.objects.filter(detection_state="done").count() == len(expected)
    misaligned = {k for k, v in expected.items() if v["misaligned"]}
    assert misaligned - flagged == set()
    benign = expected.keys() - misaligned
    assert len(flagged & benign) <= len(benign) / 4
