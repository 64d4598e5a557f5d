"""Review console server times: the trace page, a long trace's first window, "next item" and
saving a label.

    ./tw bench viewer            # throwaway PostgreSQL; or set DATABASE_URL yourself

Requests go through Django's whole request handling in-process (middleware, sessions, roles,
templates), timed from request to response. "Next item" runs 20 labelers at once, each in its own
process with its own database connection, claiming and labeling items of one queue as fast as
they can: the worst case of 20 people clicking at the same instant on a 2-core machine.
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from detection.models import Detector, Finding  # noqa: E402
from review.models import Queue  # noqa: E402
from traces.models import Segment, Source, Step, Trace  # noqa: E402

User = get_user_model()
HTMX = {"HX-Request": "true"}


def make_trace(source: Source, name: str, steps: int, detector: Detector, flags: int) -> Trace:
    trace = Trace.objects.create(
        source=source,
        external_id=name,
        task="Fix the failing test",
        content_hash=name,
        step_count=steps,
        detection_state="done",
        max_severity=3,
    )
    kinds = ["reasoning", "tool_call", "tool_result"]
    text = "The parser drops the closing paren; the test only checks the exit code. " * 20
    Step.objects.bulk_create(
        (Step(trace=trace, index=i, kind=kinds[i % 3], content=text) for i in range(steps)),
        batch_size=2000,
    )
    step_ids = list(Step.objects.filter(trace=trace).order_by("index").values_list("pk", flat=True))
    every = max(1, steps // max(flags, 1))
    segments = Segment.objects.bulk_create(
        Segment(step_id=step_ids[i], start=4, end=10, origin="detector")
        for i in range(0, steps, every)[:flags]
    )
    Finding.objects.bulk_create(
        Finding(
            detector=detector,
            detector_version=detector.version,
            trace=trace,
            segment=s,
            score=0.5 + (n % 50) / 100,
            category="reward_hacking",
            severity=3,
            rationale="exit code only",
        )
        for n, s in enumerate(segments)
    )
    return trace


def timed(call: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        response = call()
        out.append(time.perf_counter() - started)
        assert response.status_code in (200, 204, 302), response.status_code
    return out


def report(name: str, times: list[float], goal_ms: float) -> None:
    times = sorted(times)
    p50 = statistics.median(times) * 1000
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] * 1000
    verdict = "met" if p95 < goal_ms else "NOT met"
    print(
        f"{name:<46} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  (goal p95 < {goal_ms:.0f} ms: {verdict})"
    )


def labeler_loop(args: tuple[int, int, int, multiprocessing.Queue]) -> None:
    user_id, queue_id, rounds, results = args
    connection.close()  # a connection of this process's own
    client = Client()
    client.force_login(User.objects.get(pk=user_id))
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(f"/queues/{queue_id}/next/")
        times.append(time.perf_counter() - started)
        location = response.headers.get("Location", "")
        if "segment=" not in location:
            break
        trace_id = location.split("/traces/")[1].split("/")[0]
        segment = location.split("segment=")[1].split("#")[0].split("&")[0]
        client.post(
            f"/traces/{trace_id}/labels/",
            {"segment": segment, "queue": queue_id, "verdict": "misaligned"},
            headers=HTMX,
        )
    results.put(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--labelers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=25, help="items each labeler takes")
    args = parser.parse_args()

    run = str(int(time.time()))
    source = Source.objects.create(slug=f"viewer-bench-{run}")
    detector = Detector.objects.create(name=f"bench-{run}", kind="pattern", category="other")
    short = make_trace(source, "short", 60, detector, flags=4)
    long = make_trace(source, "long", 10_000, detector, flags=40)
    for n in range((args.labelers * args.rounds) // 2 + 20):
        make_trace(source, f"item-{n}", 3, detector, flags=1)
    queue = Queue.objects.create(
        name=f"bench-{run}", overlap=2, filters={"source": source.slug}, lease_seconds=600
    )
    labeler_group = Group.objects.get(name="labeler")
    users = []
    for n in range(args.labelers):
        user = User.objects.create_user(f"bench-{run}-{n}")
        user.groups.add(labeler_group)
        users.append(user)

    client = Client()
    client.force_login(users[0])
    print(f"database: {connection.vendor}; {args.runs} requests each, after 10 warm-up requests")
    for url, name, goal in [
        (f"/traces/{short.pk}/", "open a 60-step trace", 30),
        (f"/traces/{long.pk}/", "first window of a 10,000-step trace", 50),
    ]:
        timed(lambda url=url: client.get(url), 10)
        report(name, timed(lambda url=url: client.get(url), args.runs), goal)

    segment = Segment.objects.filter(step__trace=short).first()
    label = {"segment": segment.pk, "verdict": "misaligned", "note": "exit code only"}
    timed(lambda: client.post(f"/traces/{short.pk}/labels/", label, headers=HTMX), 10)
    report(
        "save a label",
        timed(lambda: client.post(f"/traces/{short.pk}/labels/", label, headers=HTMX), args.runs),
        15,
    )

    connection.close()
    results: multiprocessing.Queue = multiprocessing.Queue()
    work = [(u.pk, queue.pk, args.rounds, results) for u in users]
    processes = [multiprocessing.Process(target=labeler_loop, args=(w,)) for w in work]
    for p in processes:
        p.start()
    times = [t for _ in processes for t in results.get()]
    for p in processes:
        p.join()
    report(f"next item, {args.labelers} labelers at once", times, 20)


if __name__ == "__main__":
    main()
