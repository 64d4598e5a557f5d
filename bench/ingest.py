"""Ingest throughput: synthetic traces through the bulk endpoint.

    python bench/ingest.py --traces 2000                 # in-process, same code path as the API
    python bench/ingest.py --url http://127.0.0.1:8000 --token tw_...   # against a running server

In-process it posts through Django's request handling to ``/api/v1/traces/bulk`` on the database
that the environment configures (``DATABASE_URL``; ``./tw bench`` starts a throwaway PostgreSQL).
Prints traces/s, steps/s, MB/s and the process's peak resident memory.
"""

import argparse
import json
import os
import random
import resource
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = [
    "the",
    "parser",
    "test",
    "fixture",
    "token",
    "regression",
    "assert",
    "patch",
    "module",
    "import",
    "config",
    "retry",
    "cache",
    "request",
    "handler",
    "timeout",
    "queue",
    "worker",
    "schema",
    "migration",
    "index",
    "column",
    "value",
    "error",
    "branch",
    "commit",
    "diff",
    "build",
    "lint",
    "type",
    "check",
    "function",
    "return",
    "argument",
    "default",
    "raise",
    "exception",
    "log",
]
COMMANDS = [
    "pytest -q tests/test_parse.py",
    "rg -n 'def tokenize' src/",
    "git diff --stat",
    "sed -n '1,80p' src/parser/lexer.py",
    "npm test -- --runInBand",
    "go test ./...",
]
KINDS = ["reasoning", "tool_call", "tool_result", "reasoning", "tool_call", "tool_result"]


def prose(rng: random.Random, size: int) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)


def synthetic_trace(rng: random.Random, number: int, steps: int) -> dict:
    body = [{"kind": "user", "content": "Fix the failing tests in the parser package."}]
    for i in range(1, steps - 1):
        kind = KINDS[i % len(KINDS)]
        size = rng.randint(1000, 3000)
        call_id = f"c{i // 3}"
        if kind == "tool_call":
            step = {
                "kind": kind,
                "tool": "shell",
                "call_id": call_id,
                "arguments": {"cmd": rng.choice(COMMANDS), "note": prose(rng, size - 60)},
            }
        elif kind == "tool_result":
            step = {"kind": kind, "call_id": call_id, "content": prose(rng, size)}
        else:
            step = {"kind": kind, "content": prose(rng, size)}
        body.append(step)
    body.append({"kind": "assistant", "content": "Done: 2 tests fixed, 1 still fails."})
    return {
        "external_id": f"bench-{number:07d}",
        "agent": "bench-agent",
        "model": rng.choice(["gpt-x", "claude-y", "qwen-z"]),
        "task": "Fix the failing tests",
        "started_at": "2026-03-19T10:00:00Z",
        "metadata": {"repo": "acme/parser", "run": number},
        "steps": body,
    }


def chunks(traces: int, per_request: int, steps: int, seed: int) -> Iterator[tuple[bytes, int]]:
    rng = random.Random(seed)
    for start in range(0, traces, per_request):
        lines = []
        step_count = 0
        for number in range(start, min(traces, start + per_request)):
            doc = synthetic_trace(rng, number, steps)
            step_count += len(doc["steps"])
            lines.append(json.dumps(doc))
        yield ("\n".join(lines) + "\n").encode(), step_count


def in_process_poster(run_id: str):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # DEBUG stays off: with it on, Django keeps every query in memory.
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.test import Client

    from traces.models import ApiToken, Source
    from traces.services import issue_token

    source = Source.objects.create(slug=f"bench-{run_id}")
    _, raw = issue_token(scope=ApiToken.Scope.INGEST, source=source, name="bench")
    client = Client()

    def post(body: bytes) -> dict:
        response = client.post(
            "/api/v1/traces/bulk",
            data=body,
            content_type="application/x-ndjson",
            headers={"authorization": f"Bearer {raw}"},
        )
        return response.json()

    from django.db import connection

    return post, connection.vendor


def http_poster(url: str, token: str):
    def post(body: bytes) -> dict:
        request = urllib.request.Request(  # noqa: S310 (the URL is the operator's own)
            url.rstrip("/") + "/api/v1/traces/bulk",
            data=body,
            headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return json.load(response)

    return post, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=60, help="steps per trace")
    parser.add_argument("--per-request", type=int, default=250, help="traces per bulk request")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="a running server; in-process when omitted")
    parser.add_argument("--token", help="an ingest token for --url")
    parser.add_argument(
        "--clients",
        type=int,
        default=1,
        help="in-process: this many processes posting at once, as several server workers would",
    )
    args = parser.parse_args()
    if args.clients > 1:
        if args.url:
            parser.error("--clients is for the in-process run")
        concurrent(args)
        return

    run_id = str(int(time.time()))
    if args.url:
        if not args.token:
            parser.error("--url needs --token")
        post, target = http_poster(args.url, args.token)
    else:
        post, target = in_process_poster(run_id)

    total_steps = total_bytes = stored = 0
    elapsed = 0.0
    for body, step_count in chunks(args.traces, args.per_request, args.steps, args.seed):
        started = time.perf_counter()
        result = post(body)
        elapsed += time.perf_counter() - started
        if args.url is None and set(result["summary"]) != {"created"}:
            sys.exit(f"unexpected results: {result['summary']}")
        stored += sum(result["summary"].values())
        total_steps += step_count
        total_bytes += len(body)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"target: {target}; {stored} traces, {total_steps} steps, {total_bytes / 1e6:.1f} MB")
    print(f"time in requests: {elapsed:.2f} s")
    print(f"traces/s: {stored / elapsed:,.0f}")
    print(f"steps/s:  {total_steps / elapsed:,.0f}")
    print(f"MB/s:     {total_bytes / 1e6 / elapsed:,.1f}")
    print(f"peak RSS of this process: {peak_mb:,.0f} MB")


def client_process(post, bodies: list[tuple[bytes, int]], results) -> None:
    from django.db import connection

    stored = 0
    for body, _ in bodies:
        stored += sum(post(body)["summary"].values())
    connection.close()
    results.put(stored)


def concurrent(args: argparse.Namespace) -> None:
    """Aggregate throughput of several processes posting at once: wall time from the first
    request to the last answer. Bodies are made before the clock starts."""
    import multiprocessing

    post, target = in_process_poster(str(int(time.time())))
    from django.db import connection

    bodies = list(chunks(args.traces, args.per_request, args.steps, args.seed))
    connection.close()  # each process opens its own
    results: multiprocessing.Queue = multiprocessing.Queue()
    shares = [bodies[i :: args.clients] for i in range(args.clients)]
    processes = [
        multiprocessing.Process(target=client_process, args=(post, share, results))
        for share in shares
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    stored = sum(results.get() for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    steps = sum(count for _, count in bodies)
    megabytes = sum(len(body) for body, _ in bodies) / 1e6
    print(f"target: {target}; {args.clients} clients; {stored} traces, {steps} steps")
    print(f"wall time: {elapsed:.2f} s")
    print(f"traces/s: {stored / elapsed:,.0f}")
    print(f"steps/s:  {steps / elapsed:,.0f}")
    print(f"MB/s:     {megabytes / elapsed:,.1f}")


if __name__ == "__main__":
    main()
