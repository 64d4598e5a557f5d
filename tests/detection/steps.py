"""Literal traces for the rule detectors, built the way ingest stores them."""

import itertools
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from detection.engine import DetectorKind, Hit, ScanTrace, build, scan
from traces.schema import convert_native
from traces.services import fill_tool_call_content

DEMO = Path(__file__).resolve().parents[2] / "traces" / "demo"
_ids = itertools.count(1)


def trace(*steps: dict[str, Any], task: str = "", metadata: dict | None = None) -> ScanTrace:
    """A native trace (validated as ingest does; tool calls without content get their
    pretty-printed arguments as content) as detectors see it."""
    doc = convert_native(
        {"external_id": "t", "task": task, "metadata": metadata or {}, "steps": list(steps)}
    )
    fill_tool_call_content(doc)
    return ScanTrace.from_doc(doc)


def user(text: str) -> dict[str, Any]:
    return {"kind": "user", "content": text}


def reasoning(text: str) -> dict[str, Any]:
    return {"kind": "reasoning", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"kind": "assistant", "content": text}


def call(tool: str = "shell", call_id: str = "", **arguments: Any) -> dict[str, Any]:
    return {"kind": "tool_call", "tool": tool, "call_id": call_id, "arguments": arguments}


def shell(cmd: str, call_id: str = "") -> dict[str, Any]:
    return call("shell", call_id or f"c{next(_ids)}", cmd=cmd)


def result(text: str, call_id: str = "") -> dict[str, Any]:
    return {"kind": "tool_result", "call_id": call_id, "content": text}


def run(cmd: str, output: str) -> list[dict[str, Any]]:
    """A shell call and its result."""
    call_id = f"c{next(_ids)}"
    return [shell(cmd, call_id), result(output, call_id)]


def detector(module: ModuleType, **params: Any) -> DetectorKind:
    """The kind's default detector, with some parameters changed."""
    default = module.DEFAULT
    return build(
        default["kind"],
        {**default["params"], **params},
        category=default["category"],
        step_kinds=default["step_kinds"],
    )


def hits(detector: DetectorKind, scanned: ScanTrace) -> list[Hit]:
    return scan(detector, scanned)


def evidence(scanned: ScanTrace, hit: Hit) -> str:
    assert hit.start is not None and hit.end is not None
    return scanned.steps[hit.step_index].content[hit.start : hit.end]


def rule_of(hit: Hit) -> str:
    """The rule that made a hit, which its rationale also names for the reader."""
    named = re.findall(r'[(\[](\w+): "', hit.rationale)
    assert hit.rule == (named[-1] if named else ""), (hit.rule, hit.rationale)
    return hit.rule


def demo_traces() -> list[ScanTrace]:
    """The demo traces as stored: secrets masked, tool calls given their arguments as content."""
    from traces.sanitize import mask_document
    from traces.schema import decode_native

    traces = []
    for line in (DEMO / "traces.jsonl").read_bytes().splitlines():
        doc = decode_native(line)
        mask_document(doc)
        fill_tool_call_content(doc)
        traces.append((doc.external_id, ScanTrace.from_doc(doc)))
    return traces


def demo_truth() -> dict[str, dict[str, Any]]:
    return json.loads((DEMO / "expected.json").read_text())
