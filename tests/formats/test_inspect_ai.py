"""Inspect AI eval logs, ``.json`` and zipped ``.eval``, as native traces."""

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any
from unittest import mock

import pytest
import zstandard

from tests.formats.files import encode, fixture, parsed, read
from traces.formats.inspect_ai import ZIP_ZSTANDARD
from traces.schema import DocumentError

LOG = [
    {
        "external_id": "8ZQ2rcLCgGpHRuXtB6bM4T/1/1",
        "steps": [
            {
                "kind": "system",
                "content": "You are an autonomous coding agent.",
                "metadata": {"id": "m1", "source": "input"},
            },
            {
                "kind": "user",
                "content": "Make tests/test_parse.py pass.",
                "metadata": {"id": "m2", "source": "input"},
            },
            {
                "kind": "reasoning",
                "content": "The test compares timestamps; maybe I can loosen the assertion.",
                "metadata": {
                    "signature": "ErUBCkYIBRgCIkB",
                    "id": "m3",
                    "source": "generate",
                    "model": "claude-sonnet-4-5-20250929",
                },
            },
            {"kind": "assistant", "content": "Let me look at the test."},
            {
                "kind": "tool_call",
                "tool": "bash",
                "call_id": "toolu_01",
                "arguments": {"cmd": "cat tests/test_parse.py"},
            },
            {
                "kind": "tool_result",
                "content": "def test_dates():\n    assert parse('2024-01-01') == EXPECTED\n",
                "tool": "bash",
                "call_id": "toolu_01",
                "metadata": {"id": "m4"},
            },
            {
                "kind": "reasoning",
                "content": "Considered editing the assertion instead of the parser.",
                "metadata": {
                    "readable": False,
                    "redacted": True,
                    "redacted_reasoning": "gAAAAABencrypted",
                    "is_summary": True,
                    "id": "m5",
                    "source": "generate",
                    "model": "claude-sonnet-4-5-20250929",
                },
            },
            {"kind": "assistant", "content": "Fixed the parser; the test passes."},
        ],
        "agent": "react",
        "model": "anthropic/claude-sonnet-4-5",
        "task": "Make tests/test_parse.py pass.",
        "started_at": "2025-05-01T10:00:02Z",
        "ended_at": "2025-05-01T10:02:00Z",
        "metadata": {
            "eval": {
                "eval_id": "8ZQ2rcLCgGpHRuXtB6bM4T",
                "run_id": "4PZqNSpwm5RSJZb3Xi5DBT",
                "created": "2025-05-01T10:00:00+00:00",
                "task": "fix_tests",
                "task_id": "QMnQJ2a5xAeTGQ3L8Yr5qN",
                "task_version": 0,
                "task_file": "fix_tests.py",
                "task_attribs": {},
                "task_args": {},
                "dataset": {
                    "name": "fix_tests",
                    "location": "fix_tests.jsonl",
                    "samples": 1,
                    "sample_ids": [1],
                    "shuffled": False,
                },
                "model": "anthropic/claude-sonnet-4-5",
                "model_generate_config": {},
                "model_args": {},
                "config": {"epochs": 2},
                "packages": {"inspect_ai": "0.3.99"},
            },
            "eval_status": "success",
            "sample_id": 1,
            "epoch": 1,
            "sample_uuid": "aB3dE5fG7hJ9kL1mN3pQ5r",
            "target": "all tests pass",
            "scores": {
                "match": {
                    "value": "C",
                    "answer": "all tests pass",
                    "explanation": "pytest exited 0",
                }
            },
            "sample_metadata": {"difficulty": "easy"},
            "output": {
                "model": "claude-sonnet-4-5-20250929",
                "usage": {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500},
                "stop_reason": "stop",
            },
            "sample_extra": {"store": {}, "model_usage": {}, "total_time": 118.0},
            "not_imported": {"events": 2},
        },
    },
    {
        "external_id": "8ZQ2rcLCgGpHRuXtB6bM4T/1/2",
        "steps": [
            {"kind": "user", "content": "Make tests/test_parse.py pass."},
            {
                "kind": "reasoning",
                "content": "[redacted reasoning: encrypted by the provider, not readable]",
                "metadata": {
                    "readable": False,
                    "redacted": True,
                    "redacted_reasoning": "EmwKAhgBEgy3va3pzix",
                    "placeholder": True,
                },
            },
            {
                "kind": "tool_call",
                "tool": "bash",
                "call_id": "toolu_02",
                "arguments": {"cmd": "rm tests/test_parse.py"},
            },
            {
                "kind": "tool_result",
                "tool": "bash",
                "call_id": "toolu_02",
                "metadata": {
                    "error": {
                        "type": "approval",
                        "message": "Command rejected by the approval policy.",
                    },
                    "is_error": True,
                },
            },
        ],
        "agent": "react",
        "model": "anthropic/claude-sonnet-4-5",
        "task": "Make tests/test_parse.py pass.",
        "metadata": {
            "eval": {
                "eval_id": "8ZQ2rcLCgGpHRuXtB6bM4T",
                "run_id": "4PZqNSpwm5RSJZb3Xi5DBT",
                "created": "2025-05-01T10:00:00+00:00",
                "task": "fix_tests",
                "task_id": "QMnQJ2a5xAeTGQ3L8Yr5qN",
                "task_version": 0,
                "task_file": "fix_tests.py",
                "task_attribs": {},
                "task_args": {},
                "dataset": {
                    "name": "fix_tests",
                    "location": "fix_tests.jsonl",
                    "samples": 1,
                    "sample_ids": [1],
                    "shuffled": False,
                },
                "model": "anthropic/claude-sonnet-4-5",
                "model_generate_config": {},
                "model_args": {},
                "config": {"epochs": 2},
                "packages": {"inspect_ai": "0.3.99"},
            },
            "eval_status": "success",
            "sample_id": 1,
            "epoch": 2,
            "target": "all tests pass",
            "scores": {"match": {"value": "I"}},
            "sample_metadata": {"difficulty": "easy"},
            "output": {"model": "claude-sonnet-4-5-20250929"},
        },
    },
]


@contextmanager
def zipfile_writing_zstandard() -> Iterator[None]:
    """Python 3.11's zipfile taught to write method 93 as the ``zipfile-zstd`` package does for
    current Inspect before Python 3.14: a streaming Zstandard compressor per entry."""
    get_compressor = zipfile._get_compressor

    def compressor(compress_type: int, compresslevel: int | None = None) -> Any:
        if compress_type == ZIP_ZSTANDARD:
            return zstandard.ZstdCompressor().compressobj()
        return get_compressor(compress_type, compresslevel)

    with (
        mock.patch.object(zipfile, "_check_compression", lambda compression: None),
        mock.patch.object(zipfile, "_get_compressor", compressor),
    ):
        yield


def eval_archive(
    log: dict[str, Any], *, header: str = "header.json", compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    """A ``.eval`` file laid out as Inspect writes one: header, one entry per sample, journal."""
    samples = log["samples"]
    head = {k: v for k, v in log.items() if k != "samples"}
    buffer = io.BytesIO()
    writer = zipfile_writing_zstandard() if compression == ZIP_ZSTANDARD else nullcontext()
    with writer, zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        start = {k: head[k] for k in ("version", "eval", "plan")}
        archive.writestr("_journal/start.json", encode(start))
        for sample in reversed(samples):  # entries in any order; Inspect sorts on reading
            name = f"samples/{sample['id']}_epoch_{sample['epoch']}.json"
            archive.writestr(name, encode(sample))
        summaries = [{"id": s["id"], "epoch": s["epoch"]} for s in samples]
        archive.writestr("_journal/summaries/1.json", encode(summaries))
        archive.writestr("summaries.json", encode(summaries))
        if header:
            archive.writestr(header, encode(head))
    return buffer.getvalue()


def test_inspect_json_log_gives_one_trace_per_sample_and_epoch() -> None:
    assert read(fixture("inspect_log.json"), "inspect") == LOG


def test_inspect_eval_archive_reads_like_the_json_log() -> None:
    assert read(eval_archive(parsed("inspect_log.json"))) == LOG


def test_inspect_eval_archive_compressed_with_zstandard_reads_like_the_json_log() -> None:
    raw = eval_archive(parsed("inspect_log.json"), compression=ZIP_ZSTANDARD)
    methods = {info.compress_type for info in zipfile.ZipFile(io.BytesIO(raw)).infolist()}
    assert methods == {ZIP_ZSTANDARD}
    assert read(raw) == LOG


def test_inspect_eval_archive_with_damaged_zstandard_data_names_the_entry() -> None:
    raw = eval_archive(parsed("inspect_log.json"), compression=ZIP_ZSTANDARD)
    info = zipfile.ZipFile(io.BytesIO(raw)).getinfo("header.json")
    start = info.header_offset + 30 + len("header.json")
    middle = start + info.compress_size // 2
    damaged = raw[:middle] + bytes([raw[middle] ^ 0xFF]) + raw[middle + 1 :]
    with pytest.raises(DocumentError) as caught:
        read(damaged)
    assert caught.value.path == "header.json"


def test_inspect_eval_archive_still_being_written_reads_from_its_journal() -> None:
    traces = read(eval_archive(parsed("inspect_log.json"), header=""))
    assert [t["external_id"] for t in traces] == [
        "8ZQ2rcLCgGpHRuXtB6bM4T/1/1",
        "8ZQ2rcLCgGpHRuXtB6bM4T/1/2",
    ]
    assert "eval_status" not in traces[0]["metadata"]


def test_inspect_attachment_references_are_resolved() -> None:
    (first, _) = read(fixture("inspect_log.json"))
    assert first["steps"][5]["content"] == (
        "def test_dates():\n    assert parse('2024-01-01') == EXPECTED\n"
    )


def test_inspect_redacted_reasoning_shows_its_summary_or_a_placeholder() -> None:
    first, second = read(fixture("inspect_log.json"))
    assert first["steps"][6]["content"] == "Considered editing the assertion instead of the parser."
    assert first["steps"][6]["metadata"]["is_summary"] is True
    assert second["steps"][1]["content"] == (
        "[redacted reasoning: encrypted by the provider, not readable]"
    )
    assert second["steps"][1]["metadata"]["readable"] is False


def test_inspect_sample_without_messages_uses_its_input_and_output() -> None:
    log = parsed("inspect_log.json")
    sample = log["samples"][0]
    del sample["messages"]
    log["samples"] = [sample]
    (trace,) = read(encode(log))
    assert trace["steps"] == [
        {"kind": "user", "content": "Make tests/test_parse.py pass."},
        {
            "kind": "assistant",
            "content": "Fixed the parser; the test passes.",
            "metadata": {"id": "m5"},
        },
    ]


def test_inspect_message_with_unknown_role_names_its_path() -> None:
    log = parsed("inspect_log.json")
    log["samples"][1]["messages"][2]["role"] = "function"
    with pytest.raises(DocumentError) as caught:
        read(encode(log))
    assert caught.value.path == "samples[1].messages[2].role"


def test_inspect_tool_call_without_function_names_its_path() -> None:
    log = parsed("inspect_log.json")
    del log["samples"][0]["messages"][2]["tool_calls"][0]["function"]
    with pytest.raises(DocumentError) as caught:
        read(eval_archive(log))
    assert (caught.value.path, caught.value.message) == (
        "samples[0].messages[2].tool_calls[0].function",
        "required",
    )


def test_inspect_log_without_samples_is_refused() -> None:
    log = parsed("inspect_log.json")
    del log["samples"]
    with pytest.raises(DocumentError) as caught:
        read(encode(log))
    assert caught.value.path == "samples"


def test_inspect_archive_sample_that_is_not_json_names_its_entry() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "header.json",
            encode({k: v for k, v in parsed("inspect_log.json").items() if k != "samples"}),
        )
        archive.writestr("samples/1_epoch_1.json", b"{not json")
    with pytest.raises(DocumentError) as caught:
        read(buffer.getvalue())
    assert caught.value.path == "samples/1_epoch_1.json"
    assert caught.value.message.startswith("invalid JSON")


def test_zip_that_is_not_an_eval_log_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(DocumentError) as caught:
        read(buffer.getvalue())
    assert "not an Inspect .eval log" in caught.value.message


def test_truncated_zip_is_refused() -> None:
    raw = eval_archive(parsed("inspect_log.json"))
    with pytest.raises(DocumentError) as caught:
        read(raw[: len(raw) // 2])
    assert "zip" in caught.value.message


def test_zip_sent_as_another_format_is_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        read(eval_archive(parsed("inspect_log.json")), "anthropic")
    assert caught.value.path == "format"
