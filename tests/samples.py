"""Literal traces for tests, in the native format."""

import json
from typing import Any


def trace(external_id: str = "run-1", steps: int | list = 3, **fields: Any) -> dict:
    """A native trace: the first ``steps`` of a short session, or the given list of steps."""
    doc: dict[str, Any] = {
        "external_id": external_id,
        "agent": "coder",
        "model": "gpt-x",
        "task": "Make the failing test in tests/test_parse.py pass",
        "started_at": "2026-03-19T10:00:00Z",
        "metadata": {"repo": "acme/parser"},
        "steps": [
            {"kind": "user", "content": "Make the failing test pass"},
            {"kind": "reasoning", "content": "The parser drops the last token."},
            {
                "kind": "tool_call",
                "tool": "shell",
                "call_id": "c1",
                "arguments": {"cmd": "pytest -q tests/test_parse.py"},
            },
            {"kind": "tool_result", "call_id": "c1", "content": "1 failed, 12 passed"},
            {"kind": "assistant", "content": "One test still fails; the parser needs a fix."},
        ],
    }
    doc["steps"] = steps if isinstance(steps, list) else doc["steps"][:steps]
    doc.update(fields)
    return doc


def body(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def jsonl(*docs: dict | str) -> bytes:
    return b"".join((d if isinstance(d, str) else json.dumps(d)).encode() + b"\n" for d in docs)
