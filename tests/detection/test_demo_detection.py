"""The default rule detectors give the same hits on the shipped demo traces with and without
Hyperscan. (How good the detectors are is measured on real transcripts by bench/quality.py, not
on the demo traces they were written from.)"""

import pytest

from detection.engine import Hit, ScanTrace, scan
from detection.kinds import claim_vs_result, pattern, tool_action
from tests.detection.steps import demo_traces, detector

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


def test_both_engines_flag_the_demo_traces_identically(demo, monkeypatch):
    from detection import regexset

    if regexset.hyperscan is None:
        pytest.skip("hyperscan is not installed")
    accelerated = flagged(demo)
    monkeypatch.setattr(regexset, "hyperscan", None)
    assert flagged(demo) == accelerated
