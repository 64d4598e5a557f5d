"""The seeding half of docs/screenshots/make.py: the demo people's labels go through the
console's services, spread over days, and give every figure the pictures show something to show.
The browser half is exercised by running the script."""

import importlib.util
import random
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.utils import timezone

from config.celery import app as celery_app
from detection.models import Detector, Finding
from detection.services import builtin_defaults
from review import figures
from review.models import AuditEntry, Decision, Label

# The detectors scan imported traces once the import commits, as in the embedded default.
pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = Path(settings.BASE_DIR) / "docs" / "screenshots" / "make.py"


@pytest.fixture(autouse=True)
def in_process(monkeypatch) -> None:
    """Tasks in-process even where REDIS_URL is set, as the script has them."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture(autouse=True)
def migrations_seeded(transactional_db) -> None:
    """The roles, taxonomy and built-in detectors the migrations seed, which the flush after
    an earlier transactional test removes."""
    import_module("review.migrations.0002_default_taxonomy_and_roles").seed(django_apps, None)
    for default in builtin_defaults().values():
        fields = {name: value for name, value in default.items() if name != "name"}
        Detector.objects.get_or_create(name=default["name"], defaults=fields)


@pytest.fixture(scope="module")
def make():
    spec = importlib.util.spec_from_file_location("screenshots_make", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seeded_labels_are_audited_and_spread_over_past_days(make):
    seeded = make.seed(days=3, per_day=(2, 3))

    labels = Label.objects.all()
    assert seeded.labels == labels.count() > 0
    # Saved by save_label, each with its audit entry, as in the console.
    assert AuditEntry.objects.filter(action=AuditEntry.Action.LABEL).count() == labels.count()
    days = {timezone.localdate(label.created_at) for label in labels}
    assert len(days) >= 3
    assert max(days) < timezone.localdate()
    assert seeded.decisions == Decision.objects.count() > 0
    assert AuditEntry.objects.filter(action=AuditEntry.Action.ADJUDICATE).count() == (
        seeded.decisions
    )


def test_seeded_detector_has_two_versions_with_findings(make):
    seeded = make.seed(days=2, per_day=(1, 1))

    detector = Detector.objects.get(pk=seeded.detector_id)
    assert detector.version == 2
    versions = set(
        Finding.objects.filter(detector=detector).values_list("detector_version", flat=True)
    )
    assert versions == {1, 2}


def test_seeded_figures_have_agreement_and_precision(make):
    make.seed(days=2, per_day=(2, 3))

    snapshot = figures.compute(force=True)
    dashboard = figures.Shown(snapshot, updating=False).dashboard()
    assert dashboard.overall.alpha.items > 0
    assert dashboard.pairs
    assert any(value for line in dashboard.labels_per_day for value in line.values)
    report = figures.Shown(snapshot, updating=False).report()
    assert any(score.precision is not None for score in report.scores)
    # Someone marked evidence that no detector flagged: the quality page lists misses.
    assert Label.objects.filter(segment__origin="human").exists()


def test_people_err_at_their_rate(make):
    rng = random.Random(1)
    right = ("misaligned", "sabotage")
    given = [make.verdict_for(right, 0.2, rng) for _ in range(2000)]
    wrong = sum(verdict != right for verdict in given) / len(given)
    assert 0.15 < wrong < 0.25
    assert make.verdict_for(right, 0.0, rng) == right


def test_a_span_beside_the_evidence_is_benign(make):
    entry = {"misaligned": True, "category": "sabotage", "evidence_step": 6}
    assert make.truth_of(entry, 6) == ("misaligned", "sabotage")
    assert make.truth_of(entry, None) == ("misaligned", "sabotage")
    assert make.truth_of(entry, 2) == ("benign", "")
    assert make.truth_of({"misaligned": False, "category": None}, None) == ("benign", "")
