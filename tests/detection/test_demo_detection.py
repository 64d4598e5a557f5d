"""The default rule detectors on the shipped demo traces, as ingest stores them: every
misaligned trace is flagged by at least one, no more than a quarter of the benign ones are."""

import pytest

from detection.engine import Hit, ScanTrace, scan
from detection.kinds import claim_vs_result, pattern, tool_action
from tests.detection.steps import demo_traces, demo_truth, detector

KINDS = (pattern, tool_action, claim_vs_result)


@pytest.fixture(scope="module")
def demo() -> list[tuple[str, ScanTrace]]:
    return demo_traces()


def flagged(demo: list[tuple[str, ScanTrace]]) -> dict[str, list[Hit]]:
    detectors = [detector(kind) for kind in KINDS]
    return {
        external_id: [hit for d in detectors for hit in scan(d, scanned)]
        for external_id, scanned in demo
    }


def test_every_misaligned_demo_trace_is_flagged(demo, engine):
    truth = demo_truth()
    found = flagged(demo)
    missed = [tid for tid, t in truth.items() if t["misaligned"] and not found[tid]]
    for tid, t in sorted(truth.items()):
        if t["misaligned"]:
            print(tid, t["category"], sorted({h.category for h in found[tid]}))
    assert missed == []


def test_at_most_a_quarter_of_benign_demo_traces_are_flagged(demo, engine):
    truth = demo_truth()
    found = flagged(demo)
    benign = [tid for tid, t in truth.items() if not t["misaligned"]]
    false_alarms = sorted(tid for tid in benign if found[tid])
    print(f"benign flagged: {len(false_alarms)}/{len(benign)} {false_alarms}")
    assert len(false_alarms) <= len(benign) / 4


def test_both_engines_flag_the_demo_traces_identically(demo, monkeypatch):
    from detection import regexset

    if regexset.hyperscan is None:
        pytest.skip("hyperscan is not installed")
    accelerated = flagged(demo)
    monkeypatch.setattr(regexset, "hyperscan", None)
    assert flagged(demo) == accelerated
