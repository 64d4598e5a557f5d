"""Dataset export: labeled segments from PostgreSQL to JSONL and to Parquet, rows/s and peak memory.

    ./tw bench export                          # 200,000 labeled segments, 3 context steps
    ./tw bench export --segments 50000         # the goals hold whatever the row count
    ./tw bench export --context-steps 10 --formats jsonl
    ./tw bench export --generate-only          # only build the data and print its counts
    ./tw bench export --source export-bench-1a2b3c4d   # export what an earlier run generated

First it generates, from a fixed seed, a labeled corpus straight into the database with
PostgreSQL ``COPY``: one source; traces of 60 steps (the user's request, then reasoning, tool
call, tool result and assistant message in turn, about 0.3 to 2 KB each, drawn from the demo
traces' own sentences, commands, edits and output); 4 detector segments per trace, each with a
finding of one detector, so 50,000 traces and 3 million steps (3.4 GB of text) for the default
200,000 segments, which takes about 2.5 minutes on a 2-core machine (``--segments-per-trace 10
--steps 30`` builds a fifth of the steps); six labelers, every segment labeled by one or two of
them (one pair in eight disagreeing on the verdict), a whole-trace label on one trace in ten,
and a reviewer's decision on one disagreement in ten. What it creates is named after a run id,
so it can run again on the same database. ``VACUUM ANALYZE`` then gives the new rows statistics
and hint bits, as on a database in use.

Then it runs ``manage.py export_dataset NAME --format FMT --source SLUG --context-steps K`` for
each format, in a process of its own as an operator would. The time is that process's wall
time, Django's start included; the peak memory its maximum resident set (from ``wait4``). Its
last line of output, ``rows: N file: PATH sha256: ...``, gives the rows exported (labeled
segments and whole-trace labeled traces) and the file, whose size is shown; the file is then
deleted unless ``--keep-files``. The run fails, showing the command's output, if the command
fails or prints no such line.

Goals, whatever the row count: at least 50,000 rows/s and under 300 MB peak for each format.
"""

import argparse
import hashlib
import json
import os
import queue
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from detection.models import Detector, Finding  # noqa: E402
from review.models import Category, Decision, Label  # noqa: E402
from traces import services  # noqa: E402
from traces.models import Segment, Source, Step, Trace  # noqa: E402

User = get_user_model()
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "traces" / "demo" / "traces.jsonl"
GOAL_ROWS_PER_S = 50_000
GOAL_PEAK_MB = 300
BASE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MODELS = ["gpt-x", "claude-y", "qwen-z"]
TASKS = [
    "Fix the failing tests in the parser package and keep CI green.",
    "tests/test_dates.py::test_parse_iso_week_date fails since we added ISO week support. Fix it.",
    "Add retries with backoff to the HTTP client and cover them with tests.",
    "The nightly build is red: make the lint and type checks pass again.",
    "Speed up the report generator; it takes minutes on large ledgers.",
]
# Detector categories (slugs of the default taxonomy) with how often findings suggest each.
CATEGORIES = [
    ("reward_hacking", 30),
    ("test_tampering", 25),
    ("deceiving_user", 15),
    ("secret_access", 8),
    ("destructive_action", 8),
    ("sabotage", 5),
    ("overreach", 5),
    ("ignoring_instructions", 3),
    ("other", 1),
]
RATIONALES = [
    "Reasoning plans to special-case the test input instead of fixing the parser.",
    "Forces a zero exit code so the check passes regardless of the result.",
    "Edits the test file to weaken the assertion.",
    "Adds a skip marker to the failing test.",
    "Claims all tests pass right after a failing run.",
    "Reads credentials the task does not need.",
    "Runs a destructive command outside the work tree.",
]
NOTES = [
    "",
    "",
    "exit code forced to 0",
    "special-cases the test input",
    "weakens the assertion instead of fixing the bug",
    "claims success after a red run",
    "reads ~/.aws/credentials for no reason",
    "false positive: it rejects the hack in the next sentence",
    "benign: editing the test was what the user asked",
    "hard to tell without the full diff",
]
LABEL_VERDICTS = (["misaligned"] * 9) + (["benign"] * 8) + (["unsure"] * 3)


class Pools:
    """Text of the demo traces, laid end to end so that a step is one slice of it: sentences of
    reasoning, what agents told the user, tool output lines, and tool calls with their arguments.
    """

    def __init__(self, rng: random.Random) -> None:
        sentences: list[str] = []
        messages: list[str] = []
        output: list[str] = []
        commands: list[str] = []
        edits: list[tuple[str, dict]] = []
        for line in DEMO.read_text().splitlines():
            for step in json.loads(line)["steps"]:
                kind, content = step["kind"], step.get("content", "")
                arguments = step.get("arguments")
                if kind == "reasoning":
                    sentences += self._sentences(content)
                elif kind == "assistant":
                    messages += self._sentences(content)
                elif kind == "tool_result":
                    output += [line for line in content.splitlines() if line.strip()]
                elif kind == "tool_call" and isinstance(arguments, dict):
                    command = arguments.get("cmd") or arguments.get("command")
                    if isinstance(command, str) and " " in command:
                        commands.append(command)
                    elif any(isinstance(arguments.get(k), str) for k in ("new_str", "patch")):
                        edits.append((step.get("tool", ""), arguments))
        self.reasoning = self._strand(rng, sentences, " ", 4_000_000)
        self.messages = self._strand(rng, messages, " ", 1_000_000)
        self.output = self._strand(rng, output, "\n", 4_000_000)
        code = [line for _, arguments in edits for line in self._edit_text(arguments).splitlines()]
        self.calls = [self._call(rng, commands, edits, code) for _ in range(2000)]

    @staticmethod
    def _sentences(text: str) -> list[str]:
        parts = [part.strip() for part in text.split(". ") if part.strip()]
        return [part if part[-1] in ".!?:" else part + "." for part in parts]

    @staticmethod
    def _strand(rng: random.Random, parts: list[str], sep: str, size: int) -> tuple[str, list[int]]:
        """The parts shuffled and joined until ``size`` characters, with where each part starts."""
        pieces: list[str] = []
        starts: list[int] = []
        length = 0
        while length < size:
            rng.shuffle(parts)
            for part in parts:
                starts.append(length)
                pieces.append(part)
                length += len(part) + len(sep)
        return sep.join(pieces), starts[: -len(parts)]  # leave room for a whole step at the end

    def _call(
        self,
        rng: random.Random,
        commands: list[str],
        edits: list[tuple[str, dict]],
        code: list[str],
    ) -> tuple[str, str, str]:
        """A tool call of 0.3 to 2 KB: (tool, content as ingest stores it, arguments as JSON)."""
        size = rng.randint(300, 1900)
        if rng.random() < 0.5:
            script = [rng.choice(commands)]
            while sum(len(c) + 6 for c in script) < size:
                script.append(rng.choice(commands))
            tool, arguments = "shell", {"cmd": " && \\\n  ".join(script), "timeout": 600}
        else:
            tool, arguments = rng.choice(edits)
            arguments = dict(arguments)
            key = "new_str" if isinstance(arguments.get("new_str"), str) else "patch"
            # Longer edits, as real ones are: more lines of code from the demo traces' edits.
            text = [arguments[key]]
            while sum(len(line) + 1 for line in text) < size:
                text.append(rng.choice(code))
            arguments[key] = "\n".join(text)
        content = json.dumps(arguments, indent=2, ensure_ascii=False)
        return tool, content, json.dumps(arguments, ensure_ascii=False)

    @staticmethod
    def _edit_text(arguments: dict) -> str:
        value = arguments.get("new_str")
        return value if isinstance(value, str) else arguments.get("patch", "")

    def text(self, rng: random.Random, strand: tuple[str, list[int]], sep: str) -> str:
        body, starts = strand
        start = rng.choice(starts)
        end = body.find(sep, start + rng.randint(300, 1800))
        return body[start:end]


def reserve_ids(cursor, model, count: int) -> int:
    """The first of ``count`` consecutive primary keys taken from the table's sequence, so that
    rows given to ``COPY`` can reference each other without reading anything back."""
    table = model._meta.db_table
    if count == 0:
        return 0
    cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")  # no insert takes an id meanwhile
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), "
        "nextval(pg_get_serial_sequence(%s, 'id')) + %s - 1)",
        [table, table, count],
    )
    return cursor.fetchone()[0] - count + 1


def copy_rows(cursor, model, columns: list[str], rows: Iterator[tuple]) -> int:
    table = model._meta.db_table
    quoted = ", ".join(f'"{c}"' for c in columns)
    count = 0
    with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


TRACE_COLUMNS = [
    "id",
    "source_id",
    "external_id",
    "agent",
    "model",
    "task",
    "started_at",
    "ended_at",
    "metadata",
    "content_hash",
    "step_count",
    "altered",
    "secrets_masked",
    "detection_state",
    "review_state",
    "max_severity",
    "ingested_at",
    "updated_at",
    "search_indexed",
]
STEP_COLUMNS = ["id", *services.STEP_COLUMNS]
KIND_CYCLE = ["reasoning", "tool_call", "tool_result", "assistant"]


def trace_batches(
    rng: random.Random,
    pools: Pools,
    ids: dict[str, int],
    args: argparse.Namespace,
    categories: tuple[list[str], list[int]],
    segments: list[tuple],
) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Rows of traces and of their steps, 250 traces at a time, appending each trace's flagged
    spans to ``segments`` as (segment id, trace id, step id, start, end, created_at, category,
    severity, score)."""
    per_trace, steps = args.segments_per_trace, args.steps
    traces = -(-args.segments // per_trace)
    batch = 250
    for batch_start in range(0, traces, batch):
        trace_rows = []
        step_rows = []
        for t in range(batch_start, min(traces, batch_start + batch)):
            trace_id = ids["trace"] + t
            first_step = ids["step"] + t * steps
            started = BASE_TIME + timedelta(minutes=7 * t)
            digest = hashlib.sha256()
            contents = []
            for i in range(steps):
                tool = call_id = ""
                arguments = None
                if i == 0:
                    kind, content = "user", rng.choice(TASKS)
                else:
                    kind = KIND_CYCLE[(i - 1) % 4]
                    if kind == "reasoning":
                        content = pools.text(rng, pools.reasoning, " ")
                    elif kind == "assistant":
                        content = pools.text(rng, pools.messages, " ")
                    elif kind == "tool_call":
                        tool, content, arguments = rng.choice(pools.calls)
                        call_id = f"call_{t:06x}{i:04x}"
                    else:
                        content = pools.text(rng, pools.output, "\n")
                        tool, call_id = step_rows[-1][5], step_rows[-1][6]
                digest.update(content.encode())
                contents.append(content)
                at = started + timedelta(seconds=6 * i)
                step_rows.append(
                    (
                        first_step + i,
                        trace_id,
                        i,
                        kind,
                        content,
                        tool,
                        call_id,
                        arguments,
                        at,
                        len(content) // 4,
                        "{}",
                    )
                )
            max_severity = 0
            for i in sorted(rng.sample(range(1, steps), per_trace)):
                number = len(segments)
                if number == args.segments:
                    break
                length = len(contents[i])
                start = rng.randrange(0, max(1, length - 40))
                end = min(length, start + rng.randint(20, 300))
                severity = rng.choices((1, 2, 3, 4), (2, 4, 3, 1))[0]
                max_severity = max(max_severity, severity)
                segments.append(
                    (
                        ids["segment"] + number,
                        trace_id,
                        first_step + i,
                        start,
                        end,
                        started + timedelta(minutes=2, seconds=number % 60),
                        rng.choices(*categories)[0],
                        severity,
                        round(rng.uniform(0.05, 1.0), 3),
                    )
                )
            trace_rows.append(
                (
                    trace_id,
                    ids["source"],
                    f"export-bench-{t:07d}",
                    "bench-agent",
                    MODELS[t % len(MODELS)],
                    contents[0],
                    started,
                    started + timedelta(seconds=6 * steps),
                    json.dumps({"repo": "acme/parser", "run": t}),
                    digest.hexdigest(),
                    steps,
                    False,
                    0,
                    "done",
                    "reviewed",
                    max_severity,
                    started + timedelta(minutes=1),
                    started + timedelta(minutes=2),
                    False,  # no search documents: the benchmark does not search
                )
            )
        yield trace_rows, step_rows


def in_background(batches: Iterator) -> Iterator:
    """The items of ``batches``, made in a thread of their own while the caller stores the last
    ones: PostgreSQL's side of ``COPY`` and building the next rows then overlap."""
    ready: queue.Queue = queue.Queue(maxsize=2)

    def produce() -> None:
        try:
            for item in batches:
                ready.put(item)
            ready.put(None)
        except BaseException as error:  # handed to the caller, which raises it
            ready.put(error)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    while (item := ready.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


def generate(args: argparse.Namespace, run: str) -> tuple[Source, dict[str, int]]:
    """The corpus of the docstring, in the caller's transaction; returns the source and counts."""
    rng = random.Random(args.seed)
    pools = Pools(rng)
    traces = -(-args.segments // args.segments_per_trace)

    source = Source.objects.create(slug=f"export-bench-{run}", description="bench/export.py")
    detector = Detector.objects.create(
        name=f"export-bench-{run}", kind="pattern", category="reward_hacking", severity=3
    )
    labeler_group = Group.objects.get(name="labeler")
    reviewer_group = Group.objects.get(name="reviewer")
    labelers = []
    for n in range(6):
        user = User.objects.create_user(f"export-bench-{run}-labeler-{n}")
        user.groups.add(labeler_group)
        labelers.append(user.pk)
    reviewer = User.objects.create_user(f"export-bench-{run}-reviewer")
    reviewer.groups.add(labeler_group, reviewer_group)
    category_ids = dict(Category.objects.values_list("slug", "pk"))
    slugs = [slug for slug, _ in CATEGORIES if slug in category_ids]
    weights = [weight for slug, weight in CATEGORIES if slug in category_ids]

    with connection.cursor() as cursor:
        ids = {
            "source": source.pk,
            "trace": reserve_ids(cursor, Trace, traces),
            "step": reserve_ids(cursor, Step, traces * args.steps),
            "segment": reserve_ids(cursor, Segment, args.segments),
        }
    counts = {"traces": 0, "steps": 0}
    segments: list[tuple] = []
    batches = trace_batches(rng, pools, ids, args, (slugs, weights), segments)
    for trace_rows, step_rows in in_background(batches):
        with connection.cursor() as cursor:
            counts["traces"] += copy_rows(cursor, Trace, TRACE_COLUMNS, iter(trace_rows))
            counts["steps"] += copy_rows(cursor, Step, STEP_COLUMNS, iter(step_rows))
    first_trace = ids["trace"]

    label_rows, decision_rows = labels(rng, segments, traces, first_trace, labelers, category_ids)
    decision_rows = [(reviewer.pk, *row) for row in decision_rows]
    with connection.cursor() as cursor:
        counts["segments"] = copy_rows(
            cursor,
            Segment,
            ["id", "step_id", "start", "end", "origin", "created_at"],
            ((s[0], s[2], s[3], s[4], "detector", s[5]) for s in segments),
        )
        counts["findings"] = copy_rows(
            cursor,
            Finding,
            [
                "detector_id",
                "detector_version",
                "trace_id",
                "segment_id",
                "score",
                "category",
                "severity",
                "rationale",
                "created_at",
            ],
            (
                (
                    detector.pk,
                    detector.version,
                    s[1],
                    s[0],
                    s[8],
                    s[6],
                    s[7],
                    RATIONALES[n % 7],
                    s[5],
                )
                for n, s in enumerate(segments)
            ),
        )
        label_columns = ["author_id", "trace_id", "segment_id", "verdict", "category_id"]
        label_columns += ["severity", "note", "revision", "created_at"]
        counts["labels"] = copy_rows(cursor, Label, label_columns, iter(label_rows))
        counts["whole-trace labels"] = sum(1 for row in label_rows if row[2] is None)
        counts["traces labeled whole"] = len({row[1] for row in label_rows if row[2] is None})
        decision_columns = ["reviewer_id", "trace_id", "segment_id", "verdict", "category_id"]
        decision_columns += ["severity", "note", "created_at"]
        counts["decisions"] = copy_rows(cursor, Decision, decision_columns, iter(decision_rows))
    return source, counts


def judgement(rng: random.Random, category_id: int, severity: int, ids: list[int]) -> tuple:
    """A labeler's verdict, category and severity on an item the detector rated so."""
    verdict = rng.choice(LABEL_VERDICTS)
    if verdict == "misaligned":
        category = category_id if rng.random() < 0.8 else rng.choice(ids)
        return verdict, category, max(1, min(4, severity + rng.choice((-1, 0, 0, 0, 1))))
    if verdict == "unsure":
        return verdict, category_id if rng.random() < 0.5 else None, None
    return verdict, None, None


def labels(
    rng: random.Random,
    segments: list[tuple],
    traces: int,
    first_trace: int,
    labelers: list[int],
    category_ids: dict[str, int],
) -> tuple[list[tuple], list[tuple]]:
    """Label rows (one or two labelers per segment, and per trace for one trace in ten) and
    decision rows on one disagreement in ten, reviewer left out."""
    ids = sorted(category_ids.values())
    items = [(s[1], s[0], category_ids[s[6]], s[7], s[5]) for s in segments]
    items += [
        (first_trace + t, None, rng.choice(ids), rng.randint(1, 4), BASE_TIME)
        for t in range(traces)
        if rng.random() < 0.1
    ]
    label_rows = []
    decision_rows = []
    for n, (trace_id, segment_id, category_id, severity, at) in enumerate(items):
        authors = rng.sample(labelers, 2 if rng.random() < 0.5 else 1)
        first = judgement(rng, category_id, severity, ids)
        second = first if rng.random() < 0.8 else judgement(rng, category_id, severity, ids)
        for k, author in enumerate(authors):
            verdict, category, sev = (first, second)[k]
            note = NOTES[(n + k) % len(NOTES)]
            created = at + timedelta(days=1 + k, seconds=n % 86400)
            label_rows.append(
                (author, trace_id, segment_id, verdict, category, sev, note, 1, created)
            )
        if len(authors) == 2 and first[0] != second[0] and rng.random() < 0.1:
            verdict, category, sev = first if rng.random() < 0.5 else second
            created = at + timedelta(days=4, seconds=n % 86400)
            decision_rows.append(
                (trace_id, segment_id, verdict, category, sev, "adjudicated", created)
            )
    return label_rows, decision_rows


def vacuum_analyze() -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for model in (Trace, Step, Segment, Finding, Label, Decision):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    return time.perf_counter() - started


ROWS = re.compile(r"rows: (\d+)\b")
FILE = re.compile(r"\bfile: (.+?)(?= \w+: |$)")


# Started by this process, the command would inherit its peak resident set: Linux carries the
# high-water mark of a process across exec, and this one holds some 300 MB after generating the
# data. So a small Python process in between starts the command and reports on it.
MEASURE = """
import os, sys, time
report, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawn(command[0], command, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
with open(report, "w") as out:
    out.write(f"{code} {seconds} {usage.ru_maxrss}")
"""


def run_export(name: str, fmt: str, source: str, context: int) -> dict:
    """One ``export_dataset`` process: its exit code, wall time, peak RSS and summary line."""
    command = [sys.executable, "manage.py", "export_dataset", name, "--format", fmt]
    command += ["--source", source, "--context-steps", str(context)]
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as measured,
    ):
        subprocess.run(  # noqa: S603 (this interpreter, this repository's manage.py)
            [sys.executable, "-c", MEASURE, measured.name, *command],
            cwd=ROOT,
            stdout=out,
            stderr=err,
            check=True,
        )
        code, seconds, peak_kb = measured.read().split()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    rows = ROWS.match(last)
    file = FILE.search(last) if rows else None
    return {
        "command": " ".join(command),
        "code": int(code),
        "seconds": float(seconds),
        "peak_mb": int(peak_kb) / 1024,  # ru_maxrss is in kilobytes on Linux
        "rows": int(rows[1]) if rows else None,
        "file": file[1] if file else None,
        "stdout": stdout,
        "stderr": stderr,
    }


def report(fmt: str, result: dict, expected: int | None) -> bool:
    if result["code"] != 0 or result["rows"] is None:
        why = (
            f"exited with {result['code']}"
            if result["code"] != 0
            else "printed no 'rows: N' summary as its last line"
        )
        print(f"{fmt}: FAILED: {result['command']} {why}", file=sys.stderr)
        print("--- its standard output (end) ---", file=sys.stderr)
        print(result["stdout"][-3000:], file=sys.stderr)
        print("--- its standard error (end) ---", file=sys.stderr)
        print(result["stderr"][-6000:], file=sys.stderr)
        return False
    rows, seconds, peak = result["rows"], result["seconds"], result["peak_mb"]
    rate = rows / seconds if seconds else 0.0
    size = "?"
    if result["file"]:
        path = Path(result["file"])
        path = path if path.is_absolute() else ROOT / path
        size = f"{path.stat().st_size / 1e6:,.1f} MB" if path.exists() else "missing"
    fast = "met" if rate >= GOAL_ROWS_PER_S else "NOT met"
    small = "met" if peak < GOAL_PEAK_MB else "NOT met"
    print(
        f"{fmt:<8} rows {rows:>9,}  {seconds:7.2f} s  {rate:>9,.0f} rows/s  "
        f"peak RSS {peak:6.0f} MB  file {size}"
    )
    print(f"{'':<8} goals: >= {GOAL_ROWS_PER_S:,} rows/s {fast}; < {GOAL_PEAK_MB} MB peak {small}")
    if expected is not None and rows != expected:
        print(f"{'':<8} note: {expected:,} labeled items were generated, {rows:,} rows exported")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=200_000, help="segments to generate")
    parser.add_argument("--segments-per-trace", type=int, default=4)
    parser.add_argument("--steps", type=int, default=60, help="steps per trace")
    parser.add_argument(
        "--context-steps", type=int, default=3, help="passed to export_dataset (its default: 3)"
    )
    parser.add_argument("--formats", default="jsonl,parquet", help="comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--generate-only", action="store_true", help="build the data and stop")
    parser.add_argument("--source", help="export this source's data instead of generating it")
    parser.add_argument("--keep-files", action="store_true", help="keep the exported files")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in order with the failures on stderr
    if not 1 <= args.segments_per_trace < args.steps or args.segments < 1:
        parser.error("--segments must be positive and --segments-per-trace from 1 to --steps - 1")
    if connection.vendor != "postgresql":
        sys.exit("this benchmark needs PostgreSQL: run it with ./tw bench export")

    run = uuid.uuid4().hex[:8]
    expected = None
    if args.source:
        slug = args.source
        if not Source.objects.filter(slug=slug).exists():
            sys.exit(f"no source {slug!r}")
    else:
        started = time.perf_counter()
        with transaction.atomic():
            source, counts = generate(args, run)
        seconds = time.perf_counter() - started
        slug = source.slug
        expected = counts["segments"] + counts["traces labeled whole"]
        print(f"database: postgresql; source {slug}; seed {args.seed}")
        print(
            f"generated in {seconds:.1f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items())
        )
        print(f"vacuum analyze: {vacuum_analyze():.1f} s")
    connection.close()
    if args.generate_only:
        return

    print(f"export_dataset --source {slug} --context-steps {args.context_steps}")
    ok = True
    for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
        result = run_export(f"export-bench-{run}-{fmt}", fmt, slug, args.context_steps)
        ok = report(fmt, result, expected) and ok
        if result["file"] and not args.keep_files:
            path = Path(result["file"])
            (path if path.is_absolute() else ROOT / path).unlink(missing_ok=True)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
