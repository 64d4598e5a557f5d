"""SWE-agent 1.1 runs of four models (GPT-5, Kimi K2 Instruct, Qwen3-Coder 480B and Claude Sonnet
4) on SWE-Gym-style repository tasks (moto, dask, mypy, hydra, dvc, MONAI, pydantic, bokeh), from
the rubric-annotation workspace christsakm/Trajectories, where an annotator grades four traces per
task for correctness, code style and agent behaviour. Each run is a full SWE-agent trajectory:
the agent calls ``str_replace_editor`` and ``bash`` through function calling, edits the repository
under /testbed and submits a diff, which a SWE-bench-style harness then tests (report.json). The
workspace publishes them as ordinary runs to be rated for quality; neither its rubrics nor its
ratings name any misbehaviour (no test tampering, special-casing or false claims), so every run is
benign. The harness verdict and the annotator's overall rating, where there is one, are kept as
the source's annotation. Trajectory files of 4 MiB and more are absent from the snapshot, so only
the runs listed below are read.
"""

import json
import re
from collections.abc import Iterator
from typing import Any

from bench.corpus.repo import SourceRepo
from traces.formats.openai_chat import message_steps

NAME = "swe_agent_rubric_traces"
MAX_STEP = 999_000
RUNS = (
    "GOOD_EXAMPLES/bokeh__bokeh-13370/trace_01_gpt-5-2025-08-07",
    "GOOD_EXAMPLES/bokeh__bokeh-13370/trace_02_kimi-k2-instruct-0905",
    "GOOD_EXAMPLES/bokeh__bokeh-13370/trace_04_claude-sonnet-4-20250514",
    "GOOD_EXAMPLES/dask__dask-10750/trace_01_gpt-5-2025-08-07",
    "GOOD_EXAMPLES/dask__dask-10750/trace_02_kimi-k2-instruct-0905",
    "GOOD_EXAMPLES/facebookresearch__hydra-1915/trace_01_gpt-5-2025-08-07",
    "GOOD_EXAMPLES/facebookresearch__hydra-1915/trace_02_kimi-k2-instruct-0905",
    "GOOD_EXAMPLES/facebookresearch__hydra-1915/trace_03_qwen3-coder-480b-a35b-instruct",
    "GOOD_EXAMPLES/getmoto__moto-6510/trace_01_gpt-5-2025-08-07",
    "GOOD_EXAMPLES/getmoto__moto-6510/trace_02_kimi-k2-instruct-0905",
    "GOOD_EXAMPLES/getmoto__moto-6510/trace_03_qwen3-coder-480b-a35b-instruct",
    "GOOD_EXAMPLES/iterative__dvc-3992/trace_02_kimi-k2-instruct-0905",
    "GOOD_EXAMPLES/project-monai__monai-4943/trace_02_kimi-k2-instruct-0905",
    "GOOD_EXAMPLES/project-monai__monai-4943/trace_03_qwen3-coder-480b-a35b-instruct",
    "GOOD_EXAMPLES/pydantic__pydantic-6043/trace_02_kimi-k2-instruct-0905",
    "GOOD_EXAMPLES/pydantic__pydantic-6043/trace_03_qwen3-coder-480b-a35b-instruct",
    "GOOD_EXAMPLES/python__mypy-16670/trace_01_gpt-5-2025-08-07",
    "TODO/dask__dask-6818/trace_01_gpt-5-2025-08-07",
    "TODO/dask__dask-8685/trace_01_gpt-5-2025-08-07",
    "TODO/dask__dask-8685/trace_02_kimi-k2-instruct-0905",
    "TODO/dask__dask-8685/trace_03_qwen3-coder-480b-a35b-instruct",
    "TODO/getmoto__moto-4799/trace_01_gpt-5-2025-08-07",
    "TODO/getmoto__moto-4799/trace_02_kimi-k2-instruct-0905",
    "TODO/getmoto__moto-5843/trace_02_kimi-k2-instruct-0905",
    "TODO/python__mypy-10430/trace_02_kimi-k2-instruct-0905",
    "TODO/python__mypy-11213/trace_01_gpt-5-2025-08-07",
    "TODO/python__mypy-11213/trace_02_kimi-k2-instruct-0905",
)

MANIFEST = {
    "name": NAME,
    "title": "SWE-agent 1.1 runs of GPT-5, Kimi K2, Qwen3-Coder and Claude Sonnet 4 (rubric-rated)",
    "repository": "christsakm/Trajectories",
    "commit": "35244ef3bf1d86ca1ce5226aa91c0763a0a9ab5f",
    "paths": [
        "*/*/trace_*/*.traj",
        "*/*/trace_*/report.json",
        "*/*/evaluation.txt",
    ],
    "licence": "none stated",
    "label_rule": (
        "Every run is benign: the workspace publishes these SWE-agent trajectories as ordinary "
        "task runs to be graded for quality, and none of its rubrics or ratings (evaluation.txt) "
        "concerns misbehaviour. The harness verdict (trace_*/report.json `resolved`) and the "
        "annotator's overall rating (evaluation.txt 'Overall rating', for the three traces rated) "
        "are kept as metadata source_annotation, not used as the label."
    ),
    "behaviours": [
        "ordinary repository bug fixing with an editor tool: reproduction scripts, edits, "
        "test runs, resolved and unresolved submissions"
    ],
    "runs": len(RUNS),
    "misaligned": 0,
}


def convert(repo: SourceRepo) -> Iterator[dict[str, Any]]:
    """Yield one benign record per listed trajectory."""
    ratings: dict[str, dict[str, Any]] = {}
    for run in RUNS:
        task_dir, trace = run.rsplit("/", 1)
        if task_dir not in ratings:
            ratings[task_dir] = _overall_ratings(repo.read(f"{task_dir}/evaluation.txt").decode())
        instance = task_dir.rsplit("/", 1)[1]
        data = json.loads(repo.read(f"{run}/{instance}.traj"))
        report = json.loads(repo.read(f"{run}/report.json"))
        steps = _steps(data["history"])
        config = data["replay_config"]
        config = json.loads(config) if isinstance(config, str) else config
        info = data["info"]
        annotation: dict[str, Any] = {"resolved": report[instance]["resolved"]}
        rating = ratings[task_dir].get("_".join(trace.split("_", 2)[:2]))
        if rating is not None:
            annotation["overall_rating"] = rating
        yield {
            "source": NAME,
            "trace": {
                "external_id": run,
                "source": NAME,
                "agent": f"SWE-agent {info.get('swe_agent_version', '')}".strip(),
                "model": config["agent"]["model"]["name"],
                "task": next(s["content"] for s in steps if s["kind"] == "user"),
                "metadata": {
                    "source_path": f"{run}/{instance}.traj",
                    "instance_id": instance,
                    "exit_status": info.get("exit_status"),
                    "model_stats": info.get("model_stats"),
                    "source_annotation": annotation,
                },
                "steps": steps,
            },
            "verdict": "benign",
            "category": None,
            "note": "ordinary run rated for quality; no rubric or rating names misbehaviour",
        }


def _steps(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SWE-agent's chat history through the project's OpenAI chat importer. A tool message names
    its call in ``tool_call_ids``; the harness's own keys (``thought`` repeats the content,
    ``action`` the call) are left out."""
    steps: list[dict[str, Any]] = []
    for i, message in enumerate(history):
        body: dict[str, Any] = {"role": message["role"], "content": message["content"]}
        if message["role"] == "assistant":
            body["tool_calls"] = [
                {"id": c["id"], "type": c["type"], "function": c["function"]}
                for c in message.get("tool_calls") or []
            ]
        elif message["role"] == "tool":
            body["tool_call_id"] = message["tool_call_ids"][0]
        steps.extend(message_steps(body, f"history[{i}]"))
    for step in steps:
        content = step.get("content") or ""
        if len(content) > MAX_STEP:
            step["content"] = content[:MAX_STEP]
            step.setdefault("metadata", {})["truncated_from_chars"] = len(content)
    return steps


def _overall_ratings(evaluation: str) -> dict[str, Any]:
    """The annotator's 'Overall rating' object: {"trace_01": {"rating": 5, ...}, ...}."""
    at = evaluation.find("Overall rating")
    match = re.search(r"\{.*\}", evaluation[at:], re.DOTALL) if at >= 0 else None
    if match is None:
        return {}
    return {k: v.get("rating") for k, v in json.loads(match.group(0)).items()}
