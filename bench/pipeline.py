"""The whole pipeline: generated traces stored, scanned by every enabled detector and indexed for
search, with two Celery worker processes.

    ./tw bench pipeline                      # 2,000 traces, two workers
    ./tw bench pipeline --traces 500 --profile   # also a cProfile of the first worker

Traces come from ``bench/ingest.py``'s generator and are posted in bulk requests through Django's
request handling in this process, as that benchmark posts them. Two workers (``celery worker
--pool=solo``, one process each, so "two worker processes" is exactly two processes scanning)
consume what ingest queues: detection a batch of traces per message, search documents a bulk
request per message. Beat is not started: the pipeline does not need it (ingest queues both
kinds of work itself; beat only sweeps up messages a broker outage or a killed worker lost).

The clock starts at the first request. Printed: when the last trace was stored, when every
trace had a ``DetectionRun`` of every enabled detector, when every trace was search-indexed, each
with traces/s, and where the processor time went: each worker's tasks and, within detection,
each detector kind (timed inside the workers, which this module instruments when started as
their app), this process's ingest, PostgreSQL's and Redis's server processes (from ``/proc``,
when ``./tw bench`` started them).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

from config.celery import app  # noqa: E402,F401 (the workers' Celery app: -A bench.pipeline)

# Set in the workers' environment only: the directory their figures are written to.
STATS_ENV = "TRACEWATCH_PIPELINE_STATS"
TICKS = os.sysconf("SC_CLK_TCK")


def instrument_worker(directory: Path) -> None:
    """In a worker: time every task and every detector run (processor and wall time), and write
    the totals to ``directory`` when the worker stops; a file there says when it is ready."""
    from celery import signals

    tasks: dict[str, list[float]] = {}
    kinds: dict[str, list[float]] = {}
    started: dict[str, tuple[float, float]] = {}

    def before(task_id: str, **kwargs: Any) -> None:
        started[task_id] = (time.process_time(), time.perf_counter())

    def after(task_id: str, task: Any, **kwargs: Any) -> None:
        cpu, wall = started.pop(task_id)
        figures = tasks.setdefault(task.name, [0, 0.0, 0.0])
        figures[0] += 1
        figures[1] += time.process_time() - cpu
        figures[2] += time.perf_counter() - wall

    def ready(**kwargs: Any) -> None:
        from detection import services

        run_detector = services.run_detector

        def timed_run(detector: Any, *args: Any, **kwargs: Any) -> Any:
            cpu = time.process_time()
            outcome = run_detector(detector, *args, **kwargs)
            figures = kinds.setdefault(detector.kind, [0, 0.0])
            figures[0] += 1
            figures[1] += time.process_time() - cpu
            return outcome

        services.run_detector = timed_run
        (directory / f"ready-{os.getpid()}").touch()

    def shutdown(**kwargs: Any) -> None:
        figures = {"tasks": tasks, "kinds": kinds, "cpu": time.process_time()}
        (directory / f"stats-{os.getpid()}.json").write_text(json.dumps(figures))

    signals.task_prerun.connect(before, weak=False)
    signals.task_postrun.connect(after, weak=False)
    signals.worker_ready.connect(ready, weak=False)
    signals.worker_shutdown.connect(shutdown, weak=False)


if os.environ.get(STATS_ENV):
    instrument_worker(Path(os.environ[STATS_ENV]))


def process_cpu(pid: int, *, children: bool = False) -> float:
    """Processor seconds of a process (and of its children it has waited for), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def server_cpu(pid: int) -> float:
    """Processor seconds of a server and everything it forked, living or ended (PostgreSQL runs a
    process per connection; an ended one's time is in its parent's children's time)."""
    total = process_cpu(pid, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                total += process_cpu(int(entry.name))
        except (OSError, ValueError):
            continue  # ended while we looked
    return total


def server_pids() -> dict[str, int]:
    """PostgreSQL's and Redis's process ids when ``./tw bench`` started them here."""
    directory = os.environ.get("TRACEWATCH_SERVICES_DIR")
    if not directory:
        return {}
    pids = {}
    for name, path in (("PostgreSQL", "pg/postmaster.pid"), ("Redis", "redis.pid")):
        try:
            pids[name] = int(Path(directory, path).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return pids


def start_workers(count: int, stats: Path, profile: Path | None) -> list[subprocess.Popen]:
    env = os.environ | {STATS_ENV: str(stats)}
    workers = []
    for number in range(1, count + 1):
        python = [sys.executable]
        if profile is not None and number == 1:
            python += ["-m", "cProfile", "-o", str(profile)]
        command = [
            *python,
            *("-m", "celery", "-A", "bench.pipeline", "worker", "--pool=solo"),
            *("-n", f"pipeline{number}@%h", "--loglevel=WARNING"),
            *("--without-heartbeat", "--without-mingle", "--without-gossip"),
        ]
        # The banner would bury the figures; warnings and errors still reach stderr.
        worker = subprocess.Popen(  # noqa: S603 (this interpreter, our own arguments)
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        workers.append(worker)
    deadline = time.monotonic() + 120
    while len(list(stats.glob("ready-*"))) < count:
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            stop_workers(workers)
            sys.exit("the workers did not start")
        time.sleep(0.2)
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    """Warm shutdown (the task in hand finishes), then a kill for any that will not stop."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_for(checks: dict[str, Callable[[], bool]], started: float, timeout: float) -> dict:
    """Seconds from ``started`` at which each check first held (None if not within timeout)."""
    reached: dict[str, float | None] = dict.fromkeys(checks)
    deadline = time.perf_counter() + timeout
    while any(at is None for at in reached.values()) and time.perf_counter() < deadline:
        for name, check in checks.items():
            if reached[name] is None and check():
                reached[name] = time.perf_counter() - started
        time.sleep(0.2)
    return reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=60, help="steps per trace")
    parser.add_argument("--per-request", type=int, default=250, help="traces per bulk request")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for workers")
    parser.add_argument(
        "--profile", action="store_true", help="run the first worker under cProfile and print it"
    )
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        sys.exit("the pipeline needs DATABASE_URL and REDIS_URL: run ./tw bench pipeline")

    from bench.ingest import chunks, in_process_poster

    run_id = str(int(time.time()))
    post, _ = in_process_poster(run_id)  # sets Django up
    from detection.models import DetectionRun, Detector
    from traces.models import Trace

    source = f"bench-{run_id}"
    enabled = list(Detector.objects.filter(enabled=True).values_list("kind", flat=True))
    bodies = list(chunks(args.traces, args.per_request, args.steps, args.seed))
    steps = sum(count for _, count in bodies)
    megabytes = sum(len(body) for body, _ in bodies) / 1e6

    traces = Trace.objects.filter(source__slug=source)
    runs = DetectionRun.objects.filter(trace__source__slug=source, detector__enabled=True)
    checks = {
        "detected": lambda: runs.count() >= args.traces * len(enabled),
        "indexed": lambda: traces.filter(search_indexed=True).count() >= args.traces,
    }
    servers = server_pids()
    with tempfile.TemporaryDirectory(prefix="tw-pipeline-") as directory:
        stats = Path(directory)
        profile = stats / "worker.prof" if args.profile else None
        load = os.getloadavg()[0]
        workers = start_workers(args.workers, stats, profile)
        try:
            before = {name: server_cpu(pid) for name, pid in servers.items()}
            ingest_cpu = time.process_time()
            started = time.perf_counter()
            for body, _ in bodies:
                summary = post(body)["summary"]
                if set(summary) != {"created"}:
                    sys.exit(f"unexpected results: {summary}")
            stored = time.perf_counter() - started
            ingest_cpu = time.process_time() - ingest_cpu
            detected_then = runs.count() // max(1, len(enabled))
            reached = wait_for(checks, started, args.timeout)
            after = {name: server_cpu(pid) for name, pid in servers.items()}
            worker_cpu = [process_cpu(worker.pid) for worker in workers]
        finally:
            stop_workers(workers)
        figures = [json.loads(path.read_text()) for path in sorted(stats.glob("stats-*.json"))]
        report(
            args,
            enabled=enabled,
            load=load,
            steps=steps,
            megabytes=megabytes,
            stored=stored,
            ingest_cpu=ingest_cpu,
            detected_then=detected_then,
            reached=reached,
            worker_cpu=worker_cpu,
            workers=figures,
            servers={name: after[name] - before[name] for name in servers},
        )
        failed = runs.filter(state=DetectionRun.State.FAILED).count()
        if failed:
            print(f"failed detector runs: {failed}")
        if profile is not None:
            print_profile(profile)


def report(args: argparse.Namespace, **run: Any) -> None:
    stored = run["stored"]
    print(
        f"{args.traces:,} traces, {run['steps']:,} steps, {run['megabytes']:.1f} MB in bulk "
        f"requests of {args.per_request}; {args.workers} workers (solo pool), no beat; "
        f"detectors: {', '.join(run['enabled'])}; load average before: {run['load']:.2f}, "
        f"after: {os.getloadavg()[0]:.2f}"
    )
    print(f"{'stored':>10}: {stored:7.2f} s  {args.traces / stored:6,.0f} traces/s")
    print(f"{'':>10}  ({run['detected_then']:,} traces scanned by then)")
    for stage in ("detected", "indexed"):
        at = run["reached"][stage]
        if at is None:
            print(f"{stage:>10}: not done within {args.timeout:.0f} s")
            continue
        print(
            f"{stage:>10}: {at:7.2f} s  {args.traces / at:6,.0f} traces/s  "
            f"({at / stored:.1f} times the time to store)"
        )
    print("processor time:")
    print(f"  ingest (this process): {run['ingest_cpu']:6.2f} s")
    for name, seconds in run["servers"].items():
        print(f"  {name} server: {seconds:6.2f} s")
    print(f"  workers: {', '.join(f'{s:.2f} s' for s in run['worker_cpu'])} (whole processes)")
    tasks: dict[str, list[float]] = {}
    kinds: dict[str, list[float]] = {}
    for worker in run["workers"]:
        for table, totals in ((worker["tasks"], tasks), (worker["kinds"], kinds)):
            for name, figures in table.items():
                so_far = totals.get(name, [0] * len(figures))
                totals[name] = [a + b for a, b in zip(so_far, figures, strict=True)]
    for name, (count, cpu, wall) in sorted(tasks.items()):
        print(f"    {name}: {count:,.0f} tasks, {cpu:6.2f} s processor, {wall:6.2f} s wall")
    for kind, (count, cpu, *_) in sorted(kinds.items(), key=lambda item: -item[1][1]):
        print(
            f"      {kind:>16}: {cpu:6.2f} s  ({count:,.0f} runs, {cpu / count * 1000:.1f} ms each)"
        )
    scanned = sum(cpu for _, cpu, *_ in kinds.values())
    detect = tasks.get("detection.tasks.detect_traces", [0, 0.0])[1]
    print(f"      {'outside the kinds':>16}: {detect - scanned:6.2f} s  (loading, storing, state)")


def print_profile(path: Path, limit: int = 25) -> None:
    import pstats

    print(f"profile of the first worker, its {limit} costliest functions by own time:")
    pstats.Stats(str(path)).sort_stats("tottime").print_stats(limit)


if __name__ == "__main__":
    main()
