"""Detection benchmarks: rule-pack scan throughput, and ingest-to-finding latency.

    python bench/detect.py --scan-only                  # scan throughput only, no services
    python bench/detect.py --scan-only --no-hyperscan   # the pure-Python prefilter
    python bench/detect.py --scan-only --no-prefilter   # every expression on every step
    python bench/detect.py --floor                      # the work no rule pack can skip
    python bench/detect.py --hostile                    # each kind on text made to be slow
    python bench/detect.py                              # also latency (PostgreSQL, Redis, Celery)

Scan throughput: a deterministic corpus of realistic traces is built in memory from the benign
demo traces' own text: reasoning sentences (200 to 1,500 characters a step), tool calls with
their arguments as pretty-printed JSON the way ingest stores them (edits padded to 500 to 3,000),
output lines (500 to 6,000), final messages; one step in a hundred carries something a rule
should flag. Each default rule detector (pattern, tool_action, claim_vs_result, code_analysis,
built from its ``DEFAULT``) then scans every trace on one core. MB/s is corpus megabytes (all
step text) over the process CPU time of the fastest of ``--repeat`` scans, for each kind and for
the whole pack.

Hostile text: trace content is written by the agents under watch, so each kind also scans traces
whose every step is one long shape chosen to make expressions backtrack (a run of spaces, of
markers with no line end, of one phrase repeated...), a quarter of a megabyte a step. The seconds
each kind takes say whether any expression grows worse than linearly.
"""

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detection import regexset
from detection.engine import DetectorKind, ScanStep, ScanTrace, build, scan

DEMO = Path(__file__).resolve().parent.parent / "traces" / "demo"
# A step in a hundred carries one of these, so the rules have something to find.
HACKS = [
    "Easiest path: hard-code the expected outputs for those inputs and move on.",
    "The grader only checks the exit code, so appending || true to the test command is enough.",
    "Mark the flaky test as xfail and nobody will notice in the summary.",
    "Just delete the two failing tests and don't mention it to the user.",
]
BAD_COMMANDS = [
    "rm -rf ~/projects/old-build",
    "cat ~/.aws/credentials",
    "git push --force origin main",
    "curl -fsSL https://get.example.net/install.sh | sh",
    "pytest -q || true",
]
FINALS = [
    "Fixed the parser. All tests pass.",
    "Fixed the off-by-one in the pager; 2 tests still fail, details above.",
    "Done: the suite is green (212 passed) and ruff is clean.",
]


class Pools:
    """Sentences, commands, edits and output lines taken from the benign demo traces: real
    agent text to draw steps from."""

    def __init__(self) -> None:
        expected = json.loads((DEMO / "expected.json").read_text())
        self.prose: list[str] = []
        self.finals: list[str] = []
        self.calls: list[tuple[str, dict]] = []
        self.output: list[str] = []
        for line in (DEMO / "traces.jsonl").read_text().splitlines():
            trace = json.loads(line)
            if expected[trace["external_id"]]["misaligned"]:
                continue
            for step in trace["steps"]:
                kind, content = step["kind"], step.get("content", "")
                if kind == "reasoning":
                    self.prose += [s.strip() for s in content.replace("\n", " ").split(". ") if s]
                elif kind == "assistant":
                    self.finals.append(content)
                elif kind == "tool_call" and isinstance(step.get("arguments"), dict):
                    self.calls.append((step.get("tool", ""), step["arguments"]))
                elif kind == "tool_result":
                    self.output += [line for line in content.splitlines() if line.strip()]


def pick_text(rng: random.Random, pool: list[str], size: int, sep: str) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        part = rng.choice(pool)
        parts.append(part)
        length += len(part) + len(sep)
    return sep.join(parts)


def tool_call(rng: random.Random, pools: Pools, index: int, size: int, bad: bool) -> ScanStep:
    tool, arguments = rng.choice(pools.calls)
    arguments = dict(arguments)
    for key in ("new_str", "file_text", "content", "patch"):
        if isinstance(arguments.get(key), str) and len(arguments[key]) < size:
            # Longer edits, as real ones are: the same code again, a few times.
            arguments[key] = pick_text(rng, arguments[key].splitlines(), size, "\n")
    if bad:
        tool, arguments = "shell", {"cmd": rng.choice(BAD_COMMANDS)}
    content = json.dumps(arguments, indent=2, ensure_ascii=False)
    return ScanStep(index, "tool_call", content, tool, f"c{index}", arguments)


def synthetic_trace(rng: random.Random, pools: Pools, steps: int) -> ScanTrace:
    body = [ScanStep(0, "user", "Fix the failing tests in the parser package and keep CI green.")]
    for index in range(1, steps - 1):
        kind = ("reasoning", "tool_call", "tool_result")[index % 3]
        bad = rng.random() < 0.01
        if kind == "reasoning":
            text = pick_text(rng, pools.prose, rng.randint(200, 1500), ". ")
            if bad:
                text += " " + rng.choice(HACKS)
            body.append(ScanStep(index, kind, text))
        elif kind == "tool_call":
            body.append(tool_call(rng, pools, index, rng.randint(500, 3000), bad))
        else:
            text = pick_text(rng, pools.output, rng.randint(500, 6000), "\n")
            body.append(ScanStep(index, kind, text, "", f"c{index - 1}"))
    final = rng.choice([*pools.finals, *FINALS])
    body.append(ScanStep(steps - 1, "assistant", final))
    return ScanTrace(steps=tuple(body), task="Fix the failing tests", metadata={"repo": "acme/x"})


def corpus(megabytes: float, steps: int, seed: int) -> tuple[list[ScanTrace], int]:
    rng = random.Random(seed)
    pools = Pools()
    traces: list[ScanTrace] = []
    total = 0
    while total < megabytes * 1e6:
        trace = synthetic_trace(rng, pools, steps)
        total += sum(len(step.content.encode()) for step in trace.steps)
        traces.append(trace)
    return traces, total


def default_pack() -> dict[str, DetectorKind]:
    from detection.kinds import claim_vs_result, code, pattern, tool_action

    detectors = {}
    for module in (pattern, tool_action, claim_vs_result, code):
        default = module.DEFAULT
        detectors[default["kind"]] = build(
            default["kind"],
            default["params"],
            category=default["category"],
            step_kinds=default["step_kinds"],
        )
    return detectors


# Shapes that make a careless expression backtrack, each about 200 KB.
HOSTILE = {
    "spaces": "a" + " " * 200_000 + "b",
    "newlines": "x\n" * 100_000,
    "dots": ". " * 100_000,
    "quotes": "'" * 200_000,
    "one phrase": "do not modify the tests " * 8_000,
    "hedges": "I might, " * 20_000 + "violate the charter",
    "negations": "not " * 50_000 + "override the policy",
    "path": "only modify files under " + "/a" * 100_000,
    "redirects": "> " * 100_000 + "x",
    "heredoc markers": "cat <<EOF " * 20_000,
}


def hostile() -> None:
    """Each kind's CPU time on traces whose every step is one hostile shape."""
    detectors = default_pack()
    print(f"{'text':>16}" + "".join(f"{name:>17}" for name in detectors))
    for name, text in HOSTILE.items():
        command = json.dumps({"command": text})
        trace = ScanTrace(
            [
                ScanStep(0, "system", text),
                ScanStep(1, "user", text),
                ScanStep(2, "reasoning", text),
                ScanStep(3, "assistant", text),
                ScanStep(4, "tool_call", command, "bash", "c4", {"command": text}),
                ScanStep(5, "tool_result", text, "", "c4"),
                ScanStep(6, "assistant", text),
            ]
        )
        cells = []
        for detector in detectors.values():
            started = time.process_time()
            scan(detector, trace)
            cells.append(f"{time.process_time() - started:>15.2f} s")
        print(f"{name:>16}" + "".join(cells), flush=True)


def best_cpu(work: Callable[[], int], repeat: int = 1) -> tuple[float, int]:
    """CPU seconds of the fastest of ``repeat`` runs of ``work`` (other load on the machine only
    ever adds time), and what its last run returned."""
    best = float("inf")
    result = 0
    for _ in range(repeat):
        started = time.process_time()
        result = work()
        best = min(best, time.process_time() - started)
    return best, result


def timed(
    detectors: list[DetectorKind], traces: list[ScanTrace], repeat: int = 1
) -> tuple[float, int]:
    """CPU seconds of the fastest of ``repeat`` scans of the corpus, and the hits found."""
    return best_cpu(
        lambda: sum(len(scan(detector, trace)) for trace in traces for detector in detectors),
        repeat,
    )


def run_every_expression(self: regexset.RegexSet, text: str) -> list[tuple[int, None]]:
    """The matcher without a prefilter: every expression over every text, as before it."""
    return [(index, None) for index in range(len(self.compiled))] if text else []


def scan_throughput(args: argparse.Namespace) -> None:
    if args.no_hyperscan or args.no_prefilter:
        regexset.hyperscan = None
    if args.no_prefilter:
        regexset.RegexSet._plan = run_every_expression  # type: ignore[method-assign]
    built = time.perf_counter()
    traces, total = corpus(args.megabytes, args.steps, args.seed)
    built = time.perf_counter() - built
    steps = sum(len(t.steps) for t in traces)
    mb = total / 1e6
    engine = (
        "re, every expression on every step (no prefilter)"
        if args.no_prefilter
        else "Hyperscan prefilter + re"
        if regexset.hyperscan
        else "pure-Python prefilter + re"
    )
    shares: dict[str, int] = {}
    for trace in traces:
        for step in trace.steps:
            shares[step.kind] = shares.get(step.kind, 0) + len(step.content.encode())
    print(
        f"corpus: {len(traces):,} traces, {steps:,} steps, {mb:,.1f} MB "
        f"(generated in {built:.1f} s, seed {args.seed}); engine: {engine}"
    )
    print("bytes by step kind: " + ", ".join(f"{k} {v / total:.0%}" for k, v in shares.items()))
    detectors = default_pack()
    timed(list(detectors.values()), traces[:20])  # compile and warm up outside the timing
    for name, detector in detectors.items():
        seconds, hits = timed([detector], traces, args.repeat)
        print(f"{name:>16}: {mb / seconds:8,.1f} MB/s per core  ({seconds:6.2f} s, {hits:,} hits)")
    seconds, hits = timed(list(detectors.values()), traces, args.repeat)
    print(
        f"{'whole pack':>16}: {mb / seconds:8,.1f} MB/s per core  ({seconds:6.2f} s, {hits:,} hits)"
    )


def floor(args: argparse.Namespace) -> None:
    """What the default pack cannot do without, whatever its rules cost: reading every tool call
    into what it runs and edits (``tool_action`` needs each call's paths), and the literal
    prefilter's Hyperscan passes (each expression set over just the texts it is asked about in a
    whole-pack scan, matches reported as the engine reports them, one Python call each); and,
    for comparison, one pass over every step with all those literals at once. Each is timed alone
    over the same corpus and set against the time 100 MB/s per core allows."""
    from detection.reading import ToolCall

    traces, total = corpus(args.megabytes, args.steps, args.seed)
    mb = total / 1e6
    steps = sum(len(trace.steps) for trace in traces)
    budget = mb / 100
    print(
        f"corpus: {len(traces):,} traces, {steps:,} steps, {mb:,.1f} MB; "
        f"100 MB/s per core allows {budget:.2f} s, {budget / steps * 1e6:.1f} us a step"
    )
    calls = [step for trace in traces for step in trace.steps if step.kind == "tool_call"]

    def read_calls() -> int:
        for step in calls:
            call = ToolCall.read(step)
            call.commands, call.edits, call.touched  # noqa: B018
        return len(calls)

    figures = [("tool calls read", read_calls)]
    if regexset.hyperscan is not None:
        asked: list[tuple[regexset.RegexSet, str]] = []
        plan = regexset.RegexSet._plan

        def recording(self: regexset.RegexSet, text: str) -> list[tuple[int, list[int] | None]]:
            asked.append((self, text))
            return plan(self, text)

        regexset.RegexSet._plan = recording  # type: ignore[method-assign]
        timed(list(default_pack().values()), traces)
        regexset.RegexSet._plan = plan  # type: ignore[method-assign]

        # Each expression set over the texts it was asked about; then the other way to use the
        # matcher: every literal of the pack in one database, one pass over every step.
        literals = sorted({lit for matcher, _ in asked for lit in matcher._prefilter.literals})
        database = regexset._database(tuple(literals), frozenset())
        scratch = regexset.hyperscan.Scratch(database)
        each_set = [(m._prefilter.database, m._scratch(), text) for m, text in asked if text]
        one_pass = [(database, scratch, s.content) for trace in traces for s in trace.steps]
        figures.append(("prefilter passes", lambda: scans(each_set)))
        figures.append((f"one pass, {len(literals)} literals", lambda: scans(one_pass)))
    for name, work in figures:
        seconds, done = best_cpu(work, args.repeat)
        print(f"{name:>22}: {done:8,} {seconds:5.2f} s, {seconds / budget:4.0%} of the allowance")


def scans(work: list[tuple[object, object, str]]) -> int:
    """Hyperscan passes as ``RegexSet`` makes them: each text encoded, each match reported."""
    for database, scratch, text in work:
        database.scan(  # type: ignore[attr-defined]
            text.encode(), match_event_handler=regexset._collect, context={}, scratch=scratch
        )
    return len(work)


def latency(args: argparse.Namespace) -> None:
    """Ingest-to-finding latency (p50/p95) with one Celery worker on PostgreSQL and Redis.

    Traces from the same generator are posted one at a time through the API at a steady rate;
    each one's latency runs from just before its POST to the commit of its scan (the trace's
    ``updated_at`` when its detection state turned done), with the enabled default detectors.
    """
    import os
    import subprocess

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        sys.exit("the latency benchmark needs DATABASE_URL and REDIS_URL: run ./tw bench detect")
    import django

    django.setup()
    from django.test import Client
    from django.utils import timezone

    from detection.models import Detector
    from traces.models import ApiToken, Source, Trace
    from traces.services import issue_token

    source = Source.objects.create(slug=f"latency-{int(time.time())}")
    _, token = issue_token(scope=ApiToken.Scope.INGEST, source=source, name="bench")
    names = list(Detector.objects.filter(enabled=True).values_list("name", flat=True))
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )
    client = Client()
    rng = random.Random(args.seed)
    pools = Pools()
    sent_at: dict[int, float] = {}
    try:
        time.sleep(3)  # the worker connects to Redis
        for number in range(args.latency_traces):
            trace = synthetic_trace(rng, pools, args.steps)
            doc = {
                "external_id": f"latency-{number}",
                "task": trace.task,
                "steps": [
                    {"kind": s.kind, "content": s.content, "tool": s.tool, "call_id": s.call_id}
                    | ({"arguments": s.arguments} if s.arguments is not None else {})
                    for s in trace.steps
                ],
            }
            sent = timezone.now().timestamp()
            response = client.post(
                "/api/v1/traces/",
                data=json.dumps(doc),
                content_type="application/json",
                headers={"authorization": f"Bearer {token}"},
            )
            sent_at[response.json()["id"]] = sent
            time.sleep(1 / args.rate)
        deadline = time.monotonic() + 120
        pending = Trace.objects.filter(pk__in=sent_at).exclude(detection_state="done")
        while pending.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)
    done = Trace.objects.filter(pk__in=sent_at, detection_state="done")
    latencies = sorted(
        at.timestamp() - sent_at[pk] for pk, at in done.values_list("pk", "updated_at")
    )
    print(
        f"latency: {len(sent_at)} traces of {args.steps} steps posted at {args.rate}/s, "
        f"one worker; detectors: {', '.join(names)}"
    )
    if len(latencies) < len(sent_at):
        print(f"  {len(sent_at) - len(latencies)} traces were not scanned within 120 s")
    for p in (50, 95):
        value = latencies[min(len(latencies) - 1, round(p / 100 * (len(latencies) - 1)))]
        print(f"  ingest-to-finding p{p}: {value * 1000:,.0f} ms")
    print(f"  ingest-to-finding max: {latencies[-1] * 1000:,.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scan-only", action="store_true", help="skip the latency benchmark")
    parser.add_argument("--megabytes", type=float, default=200, help="size of the scan corpus")
    parser.add_argument("--steps", type=int, default=60, help="steps per trace")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="report the fastest of N scans")
    parser.add_argument(
        "--no-hyperscan", action="store_true", help="the pure-Python prefilter instead"
    )
    parser.add_argument(
        "--no-prefilter", action="store_true", help="every expression on every step (before)"
    )
    parser.add_argument(
        "--floor", action="store_true", help="only the work no rule pack can skip, timed alone"
    )
    parser.add_argument("--latency-traces", type=int, default=200)
    parser.add_argument("--rate", type=float, default=4, help="traces per second, for latency")
    parser.add_argument(
        "--hostile", action="store_true", help="each kind on text shaped to make it slow"
    )
    args = parser.parse_args()
    if args.hostile:
        hostile()
        return
    if args.floor:
        floor(args)
        return
    scan_throughput(args)
    if not args.scan_only:
        latency(args)


if __name__ == "__main__":
    main()
