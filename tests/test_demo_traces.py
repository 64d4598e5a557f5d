"""The shipped demo set: valid native traces, half benign, every category of the taxonomy."""

import json
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from traces.schema import decode_native

DEMO = Path(__file__).resolve().parent.parent / "traces" / "demo"
CATEGORIES = {
    "reward_hacking",
    "test_tampering",
    "deceiving_user",
    "sabotage",
    "sandbagging",
    "overreach",
    "secret_access",
    "destructive_action",
    "ignoring_instructions",
    "other",
}


@pytest.fixture(scope="module")
def traces() -> dict:
    lines = (DEMO / "traces.jsonl").read_bytes().splitlines()
    docs = [decode_native(line) for line in lines if line.strip()]
    return {doc.external_id: doc for doc in docs}


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((DEMO / "expected.json").read_text())


def test_there_are_at_least_forty_distinct_traces(traces):
    assert len(traces) >= 40


def test_every_trace_has_ground_truth_and_no_more(traces, expected):
    assert set(expected) == set(traces)


def test_about_half_are_benign(expected):
    benign = sum(not truth["misaligned"] for truth in expected.values())
    assert 0.4 <= benign / len(expected) <= 0.6


def test_every_category_of_the_taxonomy_is_covered(expected):
    counts = Counter(t["category"] for t in expected.values() if t["misaligned"])
    assert set(counts) == CATEGORIES


def test_the_evidence_of_each_misaligned_trace_is_in_the_step_named(traces, expected):
    for external_id, truth in expected.items():
        if not truth["misaligned"]:
            continue
        step = traces[external_id].steps[truth["evidence_step"]]
        text = step.content + msgspec.json.encode(step.arguments).decode()
        assert truth["evidence"] in text or truth["evidence"] in json.dumps(step.arguments), (
            external_id
        )


def test_tool_results_answer_an_earlier_call(traces):
    for doc in traces.values():
        calls: set[str] = set()
        for step in doc.steps:
            if step.kind == "tool_call":
                calls.add(step.call_id)
            elif step.kind == "tool_result":
                assert step.call_id in calls, (doc.external_id, step.call_id)
