"""The agreement dashboard's server time on 100,000 labels.

    ./tw bench dashboard                  # throwaway PostgreSQL; or set DATABASE_URL yourself
    ./tw bench dashboard --labels 20000

Stores traces with flagged spans, labelers who label each span (some twice, so revisions count
once) in three queues, then times the task that computes the figures and asks for the page and
the API as a reviewer. Request figures are server time from the response's ``Server-Timing``
header: a request reads the snapshot the task left, whether or not a label arrived since (then
the page says "updating…"); each part of the computation is also timed on its own.
"""

import argparse
import os
import random
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from detection.models import Detector, Finding  # noqa: E402
from review import dashboard, figures, quality  # noqa: E402
from review.models import Category, Label, Queue  # noqa: E402
from traces.models import Segment, Source, Step, Trace  # noqa: E402

User = get_user_model()
SERVER_TIMING = re.compile(r"\bapp;dur=([\d.]+)")
SPANS_PER_TRACE = 4


def store(labels: int, labelers: int, seed: int) -> tuple[User, Source]:
    """Traces, spans, findings and about ``labels`` labels, in bulk."""
    rng = random.Random(seed)
    run = str(int(time.time()))
    source = Source.objects.create(slug=f"dashboard-bench-{run}")
    detector = Detector.objects.create(name=f"bench-{run}", kind="pattern", category="other")
    queues = [
        Queue.objects.create(
            name=f"bench-{run}-{n}", overlap=overlap, filters={"source": source.slug}
        )
        for n, overlap in enumerate((1, 2, 3))
    ]
    people = [User.objects.create_user(f"bench-{run}-{n}") for n in range(labelers)]
    Group.objects.get(name="labeler").user_set.add(*people)
    # An admin, who reads the detectors' quality page as well as the dashboard.
    reviewer = User.objects.create_user(f"bench-{run}-admin")
    reviewer.groups.add(*Group.objects.filter(name__in=("reviewer", "admin")))
    categories = list(Category.objects.all())
    per_span = 3.3  # labels per span, revisions included
    spans = int(labels / per_span)
    traces = Trace.objects.bulk_create(
        Trace(source=source, external_id=f"t{n}", content_hash=f"h{n}", step_count=SPANS_PER_TRACE)
        for n in range(spans // SPANS_PER_TRACE + 1)
    )
    steps = Step.objects.bulk_create(
        (
            Step(trace=t, index=i, kind="reasoning", content="the test only checks the exit code")
            for t in traces
            for i in range(SPANS_PER_TRACE)
        ),
        batch_size=5000,
    )
    segments = Segment.objects.bulk_create(
        (Segment(step=s, start=4, end=8, origin="detector") for s in steps), batch_size=5000
    )
    Finding.objects.bulk_create(
        (
            Finding(
                detector=detector,
                detector_version=1,
                trace_id=s.step.trace_id,
                segment=s,
                score=0.7,
                category="other",
                severity=3,
                rationale="exit code",
            )
            for s in segments
        ),
        batch_size=5000,
    )
    rows = []
    for segment in segments:
        truth = rng.random() < 0.4
        for author in rng.sample(people, rng.choice((2, 3, 3, 4))):
            for revision in range(1, 3 if rng.random() < 0.1 else 2):
                misaligned = truth if rng.random() < 0.8 else not truth
                rows.append(
                    Label(
                        author=author,
                        trace_id=segment.step.trace_id,
                        segment=segment,
                        queue=rng.choice(queues),
                        verdict="misaligned" if misaligned else rng.choice(("benign", "unsure")),
                        category=rng.choice(categories) if misaligned else None,
                        revision=revision,
                    )
                )
    Label.objects.bulk_create(rows, batch_size=5000)
    # Spread the labels over the last month, as a team's work would be.
    for day in range(30):
        Label.objects.filter(pk__in=[r.pk for r in rows[day::30]]).update(
            created_at=timezone.now() - timedelta(days=day)
        )
    return reviewer, source


def server_ms(response) -> float:
    assert response.status_code == 200, response.status_code
    return float(SERVER_TIMING.search(response["Server-Timing"]).group(1))


def summary(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{name:<44} p50 {statistics.median(ordered):8.1f} ms   p95 {p95:8.1f} ms   n={len(times)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--labelers", type=int, default=12)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--computed-runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    reviewer, _ = store(args.labels, args.labelers, seed=7)
    print(
        f"database: {connection.vendor}; {Label.objects.count():,} labels on "
        f"{Segment.objects.count():,} spans by {args.labelers} labelers, stored in "
        f"{time.perf_counter() - started:.0f} s"
    )
    computed = []
    for _ in range(args.computed_runs):
        snapshot = figures.compute(force=True)
        assert snapshot is not None, "the computation failed: see the log"
        computed.append(snapshot.duration_ms)
    summary("the task computing every figure", computed)
    client = Client()
    client.force_login(reviewer)
    for name, url in (
        ("page", "/agreement/"),
        ("API", "/api/v1/agreement/"),
        ("quality page", "/admin/detection/detector/quality/"),
        ("quality API", "/api/v1/detectors/quality/"),
    ):
        summary(
            f"{name}, from the snapshot", [server_ms(client.get(url)) for _ in range(args.runs)]
        )
    latest = dashboard.selectors.latest_labels()
    days = dashboard.window()
    for name, part in [
        ("  agreement per queue and overall", lambda: dashboard.verdict_agreement(latest)),
        ("  agreement per category", lambda: dashboard.category_agreement(latest)),
        ("  agreement per pair", lambda: dashboard.pair_agreement(latest)),
        ("  labels per category per day", lambda: dashboard.labels_per_day(latest, days)),
        ("  burn-down", lambda: dashboard.burndown(list(Queue.objects.all()), days)),
        ("  precision report (console_report)", quality.console_report),
    ]:
        times = []
        for _ in range(3):
            began = time.perf_counter()
            part()
            times.append((time.perf_counter() - began) * 1000)
        summary(name, times)


if __name__ == "__main__":
    main()
