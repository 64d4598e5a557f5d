"""Review console server times: the trace page, a long trace's first window, saving a label and
"next item" with 20 labelers at once.

    ./tw bench viewer            # throwaway PostgreSQL; or set DATABASE_URL yourself
    ./tw bench viewer --workers 5

The console runs as in production: gunicorn with sync workers (as many as the machine has cores
unless ``--workers`` says otherwise), DEBUG off, on the benchmark's database. Every figure is
server time, which each response carries in its ``Server-Timing`` header: from the outermost
middleware in to the response out, so it includes sessions, roles, queries and templates, and
excludes the network and any wait for a free worker. That wait is printed apart, as the round
trip the client saw.

"Next item" runs 20 labelers as threads, each with its own session and connection, claiming and
labeling items of one queue as fast as they can: their requests reach the server at once and
queue for its workers, whose claims run concurrently in PostgreSQL (``SELECT … FOR UPDATE SKIP
LOCKED``). The run fails if any item was handed out beyond the queue's overlap.
"""

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402

from detection.models import Detector, Finding  # noqa: E402
from review.models import Assignment, Queue  # noqa: E402
from traces.models import Segment, Source, Step, Trace  # noqa: E402

User = get_user_model()
SERVER_TIMING = re.compile(r"\bapp;dur=([\d.]+), cpu;dur=([\d.]+)")


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


@dataclass
class Timings:
    """Server time and its processor time (from ``Server-Timing``) and the round trip the client
    saw, in seconds."""

    server: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    round_trip: list[float] = field(default_factory=list)


class Browser:
    """One signed-in person's HTTP client: their session and CSRF cookies, one connection."""

    def __init__(self, port: int, user: User) -> None:
        client = Client()
        client.force_login(user)
        self.cookies = {"sessionid": client.cookies[settings.SESSION_COOKIE_NAME].value}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self, method: str, url: str, timings: Timings | None = None, form: dict | None = None
    ) -> http.client.HTTPResponse:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers |= {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": self.cookies.get("csrftoken", ""),
                "HX-Request": "true",
            }
        started = time.perf_counter()
        self.connection.request(method, url, body=body, headers=headers)
        response = self.connection.getresponse()
        response.read()
        finished = time.perf_counter()
        if response.status not in (200, 204, 302):
            raise RuntimeError(f"{method} {url}: {response.status}")
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        if response.will_close:
            self.connection.close()
        if timings is not None:
            server_ms, cpu_ms = SERVER_TIMING.search(response.headers["Server-Timing"]).groups()
            timings.server.append(float(server_ms) / 1000)
            timings.cpu.append(float(cpu_ms) / 1000)
            timings.round_trip.append(finished - started)
        return response


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times) * 1000, p95 * 1000


def report(name: str, timings: Timings, goal_ms: float) -> None:
    p50, p95 = percentiles(timings.server)
    cpu50, cpu95 = percentiles(timings.cpu)
    trip50, trip95 = percentiles(timings.round_trip)
    verdict = "met" if p95 < goal_ms else "NOT met"
    print(
        f"{name:<36} server p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  (goal p95 < {goal_ms:.0f} ms: "
        f"{verdict})\n{'':<36}    cpu p50 {cpu50:6.1f} ms  p95 {cpu95:6.1f} ms;  "
        f"round trip p50 {trip50:6.1f} ms  p95 {trip95:6.1f} ms"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def console(workers: int) -> Iterator[int]:
    """The console under gunicorn on a free loopback port, stopped on the way out."""
    port = free_port()
    gunicorn = [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", str(workers)]
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [*gunicorn, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DEBUG"},
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(10)


def labeler(browser: Browser, queue_id: int, rounds: int, timings: Timings) -> None:
    """Claim and label items until ``rounds`` are done or the queue has none left."""
    for _ in range(rounds):
        response = browser.request("GET", f"/queues/{queue_id}/next/", timings)
        location = response.headers.get("Location", "")
        if "segment=" not in location:
            break
        trace_id = location.split("/traces/")[1].split("/")[0]
        segment = location.split("segment=")[1].split("#")[0].split("&")[0]
        form = {"segment": segment, "queue": queue_id, "verdict": "misaligned"}
        browser.request("POST", f"/traces/{trace_id}/labels/", form=form)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--labelers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=25, help="items each labeler takes")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
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
    segment = Segment.objects.filter(step__trace=short).first()
    vendor = connection.vendor
    connection.close()

    with console(args.workers) as port:
        print(
            f"database: {vendor}; gunicorn, {args.workers} sync workers, DEBUG off; "
            f"{args.runs} requests each after {2 * args.workers + 10} warm-up requests"
        )
        one = Browser(port, users[0])
        one.request("GET", f"/traces/{short.pk}/")  # its CSRF cookie
        label = {"segment": segment.pk, "verdict": "misaligned", "note": "exit code only"}
        for name, goal, method, url, form in [
            ("open a 60-step trace", 30, "GET", f"/traces/{short.pk}/", None),
            ("first window of a 10,000-step trace", 50, "GET", f"/traces/{long.pk}/", None),
            ("save a label", 15, "POST", f"/traces/{short.pk}/labels/", label),
        ]:
            for _ in range(2 * args.workers + 10):
                one.request(method, url, form=form)
            timings = Timings()
            for _ in range(args.runs):
                one.request(method, url, timings, form=form)
            report(name, timings, goal)

        browsers = [Browser(port, user) for user in users]
        for browser in browsers:
            browser.request("GET", f"/traces/{short.pk}/")
        timings = Timings()
        threads = [
            threading.Thread(target=labeler, args=(b, queue.pk, args.rounds, timings))
            for b in browsers
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        report(f"next item, {args.labelers} labelers at once", timings, 20)

    crowded = (
        Assignment.objects.filter(queue=queue)
        .values("segment")
        .annotate(n=Count("pk"))
        .filter(n__gt=queue.overlap)
        .count()
    )
    handed_out = Assignment.objects.filter(queue=queue).count()
    print(
        f"  {len(timings.server)} claims and labels in {elapsed:.1f} s "
        f"({handed_out / elapsed:.0f} items/s); items beyond the overlap of {queue.overlap}: "
        f"{crowded}"
    )
    if crowded:
        raise SystemExit("an item was handed out beyond the queue's overlap")


if __name__ == "__main__":
    main()
