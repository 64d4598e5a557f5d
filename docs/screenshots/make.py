"""Make the README's screenshots of the agreement dashboard and the detectors' quality pages.

    .venv/bin/python docs/screenshots/make.py            # needs the test extras and Chromium
    .venv/bin/python docs/screenshots/make.py --out /tmp/shots

Everything happens in a throwaway SQLite database in a temporary folder, never the checkout's
``var/``: it migrates, imports the demo traces as ``./tw start`` does (the detectors scan them
in-process), creates a few demo people (three labelers, a reviewer, an admin) and has them work
two queues over the last days through the console's own services (``claim_next``,
``save_label``, ``decide``), so that audit entries and figures come about as for real labels. The
people and their labels are made up for the pictures: each labeler follows the demo traces'
ground truth (``traces/demo/expected.json``) with an error rate of their own, a seeded random
draw, so the charts have shape and the same checkout makes the same pictures. Halfway through,
an admin drops the pattern detector's noisiest rule, so its precision has a second version to
compare. Then it computes the figures, serves the console with ``manage.py runserver`` on a free
loopback port (always stopped), signs in as the admin and saves full-page PNGs of a 1440 px wide
window with Playwright and Debian's Chromium (``/usr/bin/chromium``), drawn at a smaller scale
when that keeps a picture under ``BUDGET_BYTES``; the detector's page from below its form, which
would otherwise fill the picture.
"""

import argparse
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1440, "height": 900}
# Chromium's PNGs are kept under this size by drawing the page at a smaller scale if need be.
BUDGET_BYTES = 300_000
SCALES = (1, 0.8, 0.7, 0.6)
# The demo people: labelers with how often each strays from the ground truth, then the others.
LABELERS = (("alice", 0.05), ("bruno", 0.1), ("chiara", 0.2))
REVIEWER = "dana"
ADMIN = "admin"


def configure(folder: Path) -> None:
    """Point Django at a new SQLite database and var folder under ``folder``, with tasks
    in-process, whatever the environment says."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{folder / 'tracewatch.sqlite3'}",
            "TRACEWATCH_VAR_DIR": str(folder),
            "TRACEWATCH_EXPORT_DIR": str(folder / "exports"),
            "DEBUG": "1",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)


if __name__ == "__main__":
    # Django reads its settings once: the throwaway folder's, before anything imports Django.
    WORKDIR = Path(tempfile.mkdtemp(prefix="tracewatch-screenshots-"))
    configure(WORKDIR)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import AbstractBaseUser, Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from detection.kinds.pattern import DEFAULT as PATTERNS  # noqa: E402
from detection.models import Detector, Finding  # noqa: E402
from detection.services import save_detector  # noqa: E402
from review import figures  # noqa: E402
from review.management.commands.setup_demo import DEMO_SOURCE, DEMO_TRACES  # noqa: E402
from review.models import Category, Label, Queue, Verdict  # noqa: E402
from review.services import (  # noqa: E402
    LabelInput,
    claim_next,
    decide,
    queue_add_items,
    save_label,
)
from traces import roles  # noqa: E402
from traces.models import Segment, Severity, Step, Trace  # noqa: E402


@dataclass(frozen=True)
class Seeded:
    """What the pictures need from the seeded database."""

    admin: str
    password: str
    detector_id: int
    labels: int
    decisions: int


@contextmanager
def at(moment: datetime) -> Iterator[None]:
    """Run as if it were ``moment``: what the services stamp (labels, decisions, audit entries,
    traces' arrival) takes that time, so the charts over days have days to show."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def truth_of(entry: dict[str, Any], step_index: int | None) -> tuple[str, str]:
    """(verdict, category slug) of an item by the demo's ground truth ``entry`` for its trace: a
    whole trace as the entry says; a span misaligned only at the step the entry names as the
    evidence, so the flags beside the evidence count as false positives."""
    misaligned = entry["misaligned"] and step_index in (None, entry.get("evidence_step"))
    return (Verdict.MISALIGNED, entry["category"]) if misaligned else (Verdict.BENIGN, "")


def verdict_for(right: tuple[str, str], error_rate: float, rng: random.Random) -> tuple[str, str]:
    """A labeler's (verdict, category slug) for an item whose truth is ``right``: the truth,
    except with probability ``error_rate`` unsure or the other verdict."""
    verdict, category = right
    if rng.random() >= error_rate:
        return right
    if rng.random() < 0.5:
        return Verdict.UNSURE, category or "other"
    return (Verdict.BENIGN, "") if verdict == Verdict.MISALIGNED else (Verdict.MISALIGNED, "other")


def noisiest_rule(detector: Any, truth: dict[str, dict[str, Any]]) -> str | None:
    """The detector's rule with the most findings the ground truth calls benign."""
    wrong: dict[str, int] = {}
    findings = Finding.objects.filter(detector=detector).values_list(
        "rule", "trace__external_id", "segment__step__index"
    )
    for rule, external_id, step_index in findings:
        if truth_of(truth[external_id], step_index)[0] == Verdict.BENIGN:
            wrong[rule] = wrong.get(rule, 0) + 1
    return max(sorted(wrong), key=wrong.__getitem__, default=None)


def _person(username: str, role: str, password: str) -> AbstractBaseUser:
    """A user who is an ordinary member of their role's group, as real users are."""
    user = get_user_model().objects.create_user(username, password=password)
    user.groups.set([Group.objects.get(name=role)])
    return user


def _item(trace_id: int, segment_id: int | None) -> tuple[Trace, Segment | None, int | None]:
    """A queue item's trace, its segment (None for the whole trace) and that segment's step."""
    trace = Trace.objects.get(pk=trace_id)
    if segment_id is None:
        return trace, None, None
    segment = Segment.objects.select_related("step").get(pk=segment_id)
    return trace, segment, segment.step.index


def _label_next(
    *,
    queue: Queue,
    user: AbstractBaseUser,
    rate: float,
    truth: dict[str, dict[str, Any]],
    rng: random.Random,
) -> bool:
    """The labeler takes the queue's next item and labels it; False when none is left."""
    assignment = claim_next(queue=queue, user=user)
    if assignment is None:
        return False
    trace, segment, step_index = _item(assignment.trace_id, assignment.segment_id)
    verdict, category = verdict_for(truth_of(truth[trace.external_id], step_index), rate, rng)
    severity = None
    if verdict != Verdict.BENIGN:
        found = Finding.objects.filter(segment=segment) if segment else trace.findings.all()
        severity = max((finding.severity for finding in found), default=0) or Severity.HIGH
    label = LabelInput(verdict, Category.objects.filter(slug=category).first(), severity)
    save_label(author=user, trace=trace, segment=segment, label=label, queue=queue)
    return True


def _mark_misses(*, marker: AbstractBaseUser, truth: dict[str, dict[str, Any]]) -> None:
    """Flag by hand, as the viewer's ``f`` does, the evidence of the misaligned traces where no
    detector flagged anything in that step: the misses the quality page lists."""
    for external_id, entry in sorted(truth.items()):
        if not entry["misaligned"]:
            continue
        step = Step.objects.get(trace__external_id=external_id, index=entry["evidence_step"])
        start = step.content.find(entry["evidence"])
        if start < 0 or Finding.objects.filter(segment__step=step).exists():
            continue  # evidence in a tool call's arguments, or flagged already
        segment, _ = Segment.objects.get_or_create(
            step=step,
            start=start,
            end=start + len(entry["evidence"]),
            origin=Segment.Origin.HUMAN,
            created_by=marker,
        )
        category = Category.objects.filter(slug=entry["category"]).first()
        label = LabelInput(Verdict.MISALIGNED, category, Severity.HIGH)
        save_label(author=marker, trace=step.trace, segment=segment, label=label)


def _settle(*, reviewer: AbstractBaseUser, truth: dict[str, dict[str, Any]], share: float) -> int:
    """The reviewer decides ``share`` of the items whose labelers' latest verdicts differ, by
    the ground truth; the rest stay open for adjudication. Returns how many were decided."""
    latest: dict[tuple[int, int | None], dict[int, str]] = {}
    for row in Label.objects.order_by("revision").values("trace", "segment", "author", "verdict"):
        latest.setdefault((row["trace"], row["segment"]), {})[row["author"]] = row["verdict"]
    disputed = sorted(
        (item for item, verdicts in latest.items() if len(set(verdicts.values())) > 1),
        key=lambda item: (item[0], item[1] or 0),
    )
    settled = disputed[: round(len(disputed) * share)]
    for trace_id, segment_id in settled:
        trace, segment, step_index = _item(trace_id, segment_id)
        verdict, category = truth_of(truth[trace.external_id], step_index)
        decide(
            reviewer=reviewer,
            trace=trace,
            segment=segment,
            verdict=verdict,
            category=Category.objects.filter(slug=category).first(),
            severity=Severity.HIGH if verdict == Verdict.MISALIGNED else None,
        )
    return len(settled)


def seed(*, days: int = 14, per_day: tuple[int, int] = (1, 4), random_seed: int = 14) -> Seeded:
    """Fill the configured, migrated database with the demo traces, people, queues, labels and
    decisions described above: ``days`` of work ending yesterday, each labeler taking between
    ``per_day`` items of each queue a day."""
    rng = random.Random(random_seed)  # noqa: S311 (demo labels, not secrets)
    truth = json.loads((DEMO_TRACES.parent / "expected.json").read_text())
    first_day = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)
    first_day -= timedelta(days=days)
    with at(first_day - timedelta(days=1)):
        call_command(
            "import_traces", str(DEMO_TRACES), source=DEMO_SOURCE, verbosity=0, stdout=StringIO()
        )
        queues = [
            Queue.objects.create(
                name="Flagged by detectors",
                description="Every segment a detector flagged, most severe first.",
                guidelines="Misaligned: the span itself shows the agent gaming the task.",
                overlap=2,
            ),
            Queue.objects.create(
                name="Whole traces",
                description="Every demo trace as a whole, in the order it arrived.",
                level=Queue.Level.TRACE,
                filters={"source": DEMO_SOURCE},
                order=Queue.Order.OLDEST,
                overlap=2,
            ),
        ]
        # A trace-level queue holds the flagged traces; the others are added as a reviewer's
        # bulk action does, so that benign traces are labeled too.
        queue_add_items(queue=queues[1], items=Trace.objects.values_list("pk", flat=True))
    password = secrets.token_urlsafe(12)
    _person(ADMIN, roles.ADMIN, password)
    reviewer = _person(REVIEWER, roles.REVIEWER, password)
    labelers = [(_person(name, roles.LABELER, password), rate) for name, rate in LABELERS]
    patterns = Detector.objects.get(name=PATTERNS["name"])
    for day in range(days):
        if day == days // 2:
            # An admin drops the rule people keep calling benign: the detector's second version.
            dropped = noisiest_rule(patterns, truth)
            rules = [rule for rule in patterns.params["rules"] if rule["name"] != dropped]
            if dropped is not None:
                with at(first_day + timedelta(days=day, hours=-1)):
                    patterns.params = {**patterns.params, "rules": rules}
                    save_detector(patterns, changed=["params"])
        for user, rate in labelers:
            moment = first_day + timedelta(days=day, minutes=rng.randint(0, 120))
            for queue in queues:
                for _ in range(rng.randint(*per_day)):
                    moment += timedelta(minutes=rng.randint(2, 15))
                    with at(moment):
                        if not _label_next(queue=queue, user=user, rate=rate, truth=truth, rng=rng):
                            break
    end = first_day + timedelta(days=days - 1, hours=8)
    with at(end):
        _mark_misses(marker=labelers[0][0], truth=truth)
    with at(end + timedelta(minutes=30)):
        decisions = _settle(reviewer=reviewer, truth=truth, share=2 / 3)
    return Seeded(
        admin=ADMIN,
        password=password,
        detector_id=patterns.pk,
        labels=Label.objects.count(),
        decisions=decisions,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve() -> Iterator[str]:
    """``manage.py runserver`` on a free loopback port with this process's settings, stopped
    when the block ends however it ends; yields its address once it answers."""
    address = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, str(ROOT / "manage.py"), "runserver", address, "--noreload"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    origin = f"http://{address}"
    try:
        for _ in range(200):
            if server.poll() is not None:
                error = server.stderr.read().decode(errors="replace") if server.stderr else ""
                raise SystemExit(f"make.py: the console did not start:\n{error}")
            try:
                urllib.request.urlopen(f"{origin}/login/", timeout=1)  # noqa: S310 (loopback)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            raise SystemExit(f"make.py: the console did not answer on {origin}")
        yield origin
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _png(page: Any, *, clip_from: str | None) -> bytes:
    """The whole page as PNG, or from the element ``clip_from`` down when the page above it is
    a long form that would swamp the picture."""
    options: dict[str, Any] = {"full_page": True, "type": "png", "caret": "initial"}
    # caret="initial": hiding the caret would inject an inline style, which the CSP refuses.
    if clip_from is not None:
        box = page.locator(clip_from).bounding_box()
        if box is None:
            raise SystemExit(f"make.py: {page.url} shows no {clip_from}")
        margin = 16
        x, y = max(box["x"] - margin, 0), max(box["y"] - margin, 0)
        height = page.evaluate("document.documentElement.scrollHeight")
        width = min(box["width"] + 2 * margin, VIEWPORT["width"] - x)
        options["clip"] = {"x": x, "y": y, "width": width, "height": height - y}
    return page.screenshot(**options)


def shoot(*, origin: str, seeded: Seeded, out: Path) -> list[Path]:
    """Sign in as the admin and save each page as a PNG in ``out``, at the largest of
    ``SCALES`` that keeps it within ``BUDGET_BYTES``."""
    from playwright.sync_api import sync_playwright

    pages = {
        "agreement.png": ("/agreement/", None),
        "detector-quality.png": ("/admin/detection/detector/quality/", None),
        "detector.png": (
            f"/admin/detection/detector/{seeded.detector_id}/change/",
            ".detector-versions",
        ),
    }
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            signing_in = browser.new_context(viewport=VIEWPORT)
            page = signing_in.new_page()
            page.goto(f"{origin}/login/")
            page.fill("input[name=username]", seeded.admin)
            page.fill("input[name=password]", seeded.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/login/" not in url)
            signed_in = signing_in.storage_state()
            for name, (path, clip_from) in pages.items():
                for scale in SCALES:
                    context = browser.new_context(
                        viewport=VIEWPORT, device_scale_factor=scale, storage_state=signed_in
                    )
                    page = context.new_page()
                    response = page.goto(f"{origin}{path}")
                    if response is None or response.status != 200:
                        status = response.status if response else "no answer"
                        raise SystemExit(f"make.py: {path} answered {status}")
                    png = _png(page, clip_from=clip_from)
                    context.close()
                    if len(png) <= BUDGET_BYTES:
                        break
                (out / name).write_bytes(png)
                saved.append(out / name)
        finally:
            browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where the PNGs go (this folder)")
    args = parser.parse_args()
    try:
        import playwright  # noqa: F401
    except ImportError:
        raise SystemExit("make.py needs Playwright: .venv/bin/pip install -e '.[test]'") from None
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"make.py needs Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        call_command("migrate", verbosity=0)
        seeded = seed()
        figures.compute(force=True)
        print(f"{seeded.labels} labels and {seeded.decisions} decisions in {WORKDIR}")
        with serve() as origin:
            for path in shoot(origin=origin, seeded=seeded, out=args.out):
                print(f"{path} ({path.stat().st_size // 1000} kB)")
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    main()
