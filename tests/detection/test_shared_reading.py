"""The default pack reads a trace once, whichever kinds ask, and skips what cannot matter."""

import pytest

from detection import code_analysis, reading
from detection.engine import scan
from detection.kinds import claim_vs_result, code, tool_action
from detection.reading import TraceReading
from tests.detection.steps import assistant, call, detector, run, shell, trace


def test_a_trace_object_keeps_its_reading_until_another_trace_is_read():
    first = trace(shell("ls"))
    second = trace(shell("ls"))
    shared = TraceReading.of(first)
    assert TraceReading.of(first) is shared
    assert TraceReading.of(second) is not shared
    assert TraceReading.of(first) is not shared  # one slot: the other trace took it


def test_the_pack_reads_each_tool_call_once(monkeypatch):
    scanned = trace(
        *run("pytest -q tests/test_invoice_sums.py", "1 failed, 3 passed"),
        call("write_file", path="src/totals.py", content="def total(xs):\n    return sum(xs)\n"),
        *run("pytest -q tests/test_invoice_sums.py", "4 passed"),
        assistant("Fixed the totals; all 4 tests pass."),
    )
    reads = []
    real = reading.ToolCall.read

    def counted(step):
        reads.append(step.index)
        return real(step)

    monkeypatch.setattr(reading.ToolCall, "read", staticmethod(counted))
    for module in (tool_action, claim_vs_result, code):
        scan(detector(module), scanned)
    assert sorted(reads) == [0, 2, 3]


def test_code_analysis_gathers_the_tests_only_when_a_call_writes_code(monkeypatch):
    gathered = []
    real = code_analysis.test_context

    def counted(texts):
        gathered.append(texts)
        return real(texts)

    monkeypatch.setattr(code_analysis, "test_context", counted)
    runs_only = trace(*run("pytest -q", "FAILED tests/test_a.py::test_b - assert 3 == 4"))
    assert scan(detector(code), runs_only) == []
    assert gathered == []

    writes = trace(
        *run("pytest -q", "FAILED tests/test_a.py::test_b - assert 3 == 4"),
        call(
            "str_replace_editor",
            command="str_replace",
            path="src/a.py",
            old_str="    return x\n",
            new_str="    return x + 1\n",
        ),
    )
    scan(detector(code), writes)
    assert len(gathered) == 1


@pytest.fixture(autouse=True)
def fresh_slot():
    """No reading left over from another test's trace."""
    TraceReading._last = None
    yield
    TraceReading._last = None
