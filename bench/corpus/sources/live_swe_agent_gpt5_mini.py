"""GPT-5-mini driving Live-SWE-agent (OpenAutoCoder's self-evolving configuration of
mini-swe-agent 2.2.4, which asks the agent to write its own helper tools) on a 45-task subset of
SWE-bench Verified, from the LLM-backend ablation a CSCI-635 course project published in
RussellRyanH/CSCI-635-LiveSWE-Agent while reproducing the Live-SWE-agent paper. The agent calls a
``bash`` tool, reads and edits the repository, runs tests and submits a diff; the SWE-bench
harness's report.json says whether each patch resolved its task. The source publishes these as
ordinary benchmark runs and annotates none of them as misbehaving, so every run is benign; the
harness verdict is kept in the trace metadata (runs that submitted an empty diff have no report).
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bench.corpus.repo import SourceRepo
from traces.formats.openai_chat import message_steps

RUN = "results/llm-ablation/gpt-5-mini"
REPORTS = f"{RUN}/eval_results/openai__gpt-5-mini"

MANIFEST = {
    "name": "live_swe_agent_gpt5_mini",
    "title": "Live-SWE-agent (mini-swe-agent 2.2.4) + GPT-5-mini on a SWE-bench Verified subset",
    "repository": "RussellRyanH/CSCI-635-LiveSWE-Agent",
    "commit": "2813cfb19465bb9f57d50ebd0798550480a2f836",
    "paths": [f"{RUN}/*/*.traj.json", f"{REPORTS}/*/report.json"],
    "licence": "none stated",
    "label_rule": (
        "Every run is benign: the source publishes all 45 trajectories under "
        "results/llm-ablation/gpt-5-mini/ as ordinary SWE-bench Verified runs and flags none. "
        "The SWE-bench harness verdict (eval_results/openai__gpt-5-mini/<id>/report.json "
        "`resolved`; no report for the runs that submitted an empty diff) is kept as metadata "
        "source_annotation.resolved, not used as the label."
    ),
    "behaviours": [
        "ordinary SWE-bench runs: resolved, unresolved and empty submissions, tests run and failing"
    ],
    "runs": 45,
    "misaligned": 0,
}

MAX_STEP = 1_000_000
# Harness fields kept on a step; the rest of ``extra`` repeats the message (``actions``,
# ``raw_output``) or is the raw API response, whose model name goes on the trace.
KEPT_EXTRA = ("returncode", "exception_info", "interrupt_type", "cost")


def _when(extra: dict[str, Any]) -> str | None:
    stamp = extra.get("timestamp")
    return (
        datetime.fromtimestamp(stamp, UTC).isoformat() if isinstance(stamp, int | float) else None
    )


def steps_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The OpenAI chat messages through the project's chat importer; mini-swe-agent's final
    ``exit`` message holds the output of the submit command, so it is that call's result."""
    steps: list[dict[str, Any]] = []
    pending: list[str] = []
    for i, message in enumerate(messages):
        extra = message.get("extra") or {}
        kept = {k: extra[k] for k in KEPT_EXTRA if extra.get(k) not in (None, "")}
        if message["role"] == "exit":
            made = [{"kind": "tool_result", "content": message["content"] or ""}]
            if pending:
                made[0]["call_id"] = pending[-1]
            kept |= {"role": "exit", "exit_status": extra.get("exit_status")}
        else:
            body = {k: v for k, v in message.items() if k != "extra"}
            made = message_steps(body, f"messages[{i}]", _when(extra))
        if message["role"] == "assistant":
            pending = [s["call_id"] for s in made if s["kind"] == "tool_call"]
        elif message["role"] == "tool":
            pending = [c for c in pending if c != message["tool_call_id"]]
        if kept:
            made[0].setdefault("metadata", {}).update(kept)
        steps.extend(made)
    for step in steps:
        if len(step["content"]) > MAX_STEP:
            step.setdefault("metadata", {})["truncated_from_chars"] = len(step["content"])
            step["content"] = step["content"][:MAX_STEP]
    return steps


def _model(messages: list[dict[str, Any]], fallback: str) -> str:
    for message in messages:
        response = (message.get("extra") or {}).get("response") or {}
        if response.get("model"):
            return str(response["model"])
    return fallback


def convert(repo: SourceRepo) -> Iterator[dict[str, Any]]:
    """Yield one labeled record per run."""
    reports = {path.split("/")[-2]: path for path in repo.paths(f"{REPORTS}/*/report.json")}
    for path in repo.paths(f"{RUN}/*/*.traj.json"):
        traj = json.loads(repo.read(path))
        instance = traj["instance_id"]
        info = traj["info"]
        messages = traj["messages"]
        report = json.loads(repo.read(reports[instance]))[instance] if instance in reports else {}
        resolved = report.get("resolved")
        note = (
            f"ordinary benchmark run; SWE-bench report resolved={str(resolved).lower()}"
            if report
            else "ordinary benchmark run; empty submission, no SWE-bench report"
        )
        yield {
            "source": MANIFEST["name"],
            "trace": {
                "external_id": instance,
                "source": MANIFEST["name"],
                "agent": f"live-swe-agent (mini-swe-agent {info.get('mini_version', '')})",
                "model": _model(messages, info["config"]["model"]["model_name"]),
                "task": next(m["content"] for m in messages if m["role"] == "user"),
                "metadata": {
                    "path": path,
                    "instance_id": instance,
                    "benchmark": "SWE-bench Verified (45-task subset)",
                    "exit_status": info.get("exit_status"),
                    "model_stats": info.get("model_stats", {}),
                    "patch_successfully_applied": report.get("patch_successfully_applied"),
                    "source_annotation": {"resolved": resolved},
                },
                "steps": steps_of(messages),
            },
            "verdict": "benign",
            "category": None,
            "note": note,
        }
