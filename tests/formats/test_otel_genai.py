"""OpenTelemetry GenAI spans (OTLP/JSON) as native traces."""

from typing import Any

import pytest

from tests.formats.files import encode, fixture, parsed, read
from traces.schema import DocumentError

TRACES = [
    {
        "external_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "steps": [
            {
                "kind": "system",
                "content": "You are a coding agent.",
                "timestamp": "2025-05-01T10:00:00.500000Z",
                "metadata": {"span_id": "1a2b3c4d5e6f7081"},
            },
            {
                "kind": "user",
                "content": "Why does the test fail?",
                "timestamp": "2025-05-01T10:00:00.500000Z",
                "metadata": {"span_id": "1a2b3c4d5e6f7081"},
            },
            {
                "kind": "reasoning",
                "content": "I need to run the test.",
                "timestamp": "2025-05-01T10:00:01.500000Z",
                "metadata": {"span_id": "1a2b3c4d5e6f7081", "finish_reason": "tool_call"},
            },
            {
                "kind": "tool_call",
                "tool": "shell",
                "call_id": "call_VSPygqKTWdrhaFErNvMV18Yl",
                "arguments": {"cmd": "pytest tests/test_parse.py"},
                "timestamp": "2025-05-01T10:00:01.500000Z",
                "metadata": {"span_id": "1a2b3c4d5e6f7081"},
            },
            {
                "kind": "tool_result",
                "content": "FAILED tests/test_parse.py::test_dates",
                "tool": "shell",
                "call_id": "call_VSPygqKTWdrhaFErNvMV18Yl",
                "timestamp": "2025-05-01T10:00:02.400000Z",
                "metadata": {"span_id": "2b3c4d5e6f708192"},
            },
            {
                "kind": "assistant",
                "content": "The date parser drops the timezone.",
                "timestamp": "2025-05-01T10:00:04.500000Z",
                "metadata": {"span_id": "3c4d5e6f708192a3", "finish_reason": "stop"},
            },
        ],
        "agent": "coder",
        "model": "gpt-4.1-2025-04-14",
        "task": "Why does the test fail?",
        "started_at": "2025-05-01T10:00:00Z",
        "ended_at": "2025-05-01T10:00:05Z",
        "metadata": {
            "resource": {"service.name": "coder-agent"},
            "spans": [
                {
                    "span_id": "00f067aa0ba902b7",
                    "name": "invoke_agent coder",
                    "kind": 1,
                    "start": "2025-05-01T10:00:00+00:00",
                    "end": "2025-05-01T10:00:05+00:00",
                    "scope": {
                        "name": "opentelemetry.instrumentation.openai_v2",
                        "version": "2.1b0",
                    },
                    "attributes": {
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": "coder",
                        "gen_ai.agent.id": "asst_5j66UpCpwteGg4YSxUnt7lPY",
                        "gen_ai.provider.name": "openai",
                    },
                },
                {
                    "span_id": "1a2b3c4d5e6f7081",
                    "parent_span_id": "00f067aa0ba902b7",
                    "name": "chat gpt-4.1",
                    "kind": 3,
                    "start": "2025-05-01T10:00:00.500000+00:00",
                    "end": "2025-05-01T10:00:01.500000+00:00",
                    "scope": {
                        "name": "opentelemetry.instrumentation.openai_v2",
                        "version": "2.1b0",
                    },
                    "attributes": {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4.1",
                        "gen_ai.response.model": "gpt-4.1-2025-04-14",
                        "gen_ai.response.id": "chatcmpl-9J3uIL87gldCFtiIbyaOvTeYBRA3l",
                        "gen_ai.usage.input_tokens": 47,
                        "gen_ai.usage.output_tokens": 17,
                        "gen_ai.response.finish_reasons": ["tool_call"],
                    },
                },
                {
                    "span_id": "2b3c4d5e6f708192",
                    "parent_span_id": "00f067aa0ba902b7",
                    "name": "execute_tool shell",
                    "kind": 1,
                    "start": "2025-05-01T10:00:01.600000+00:00",
                    "end": "2025-05-01T10:00:02.400000+00:00",
                    "scope": {
                        "name": "opentelemetry.instrumentation.openai_v2",
                        "version": "2.1b0",
                    },
                    "attributes": {
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": "shell",
                        "gen_ai.tool.call.id": "call_VSPygqKTWdrhaFErNvMV18Yl",
                        "gen_ai.tool.type": "function",
                    },
                },
                {
                    "span_id": "4d5e6f708192a3b4",
                    "parent_span_id": "2b3c4d5e6f708192",
                    "name": "GET /repo",
                    "kind": 3,
                    "start": "2025-05-01T10:00:01.700000+00:00",
                    "end": "2025-05-01T10:00:01.800000+00:00",
                    "scope": {
                        "name": "opentelemetry.instrumentation.openai_v2",
                        "version": "2.1b0",
                    },
                    "attributes": {"http.request.method": "GET", "http.response.status_code": 200},
                },
                {
                    "span_id": "3c4d5e6f708192a3",
                    "parent_span_id": "00f067aa0ba902b7",
                    "name": "chat gpt-4.1",
                    "kind": 3,
                    "start": "2025-05-01T10:00:02.500000+00:00",
                    "end": "2025-05-01T10:00:04.500000+00:00",
                    "scope": {
                        "name": "opentelemetry.instrumentation.openai_v2",
                        "version": "2.1b0",
                    },
                    "attributes": {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4.1",
                        "gen_ai.response.model": "gpt-4.1-2025-04-14",
                    },
                },
            ],
        },
    },
    {
        "external_id": "5b8aa5a2d2c872e8321cf37308d69df2",
        "steps": [
            {
                "kind": "user",
                "content": "Does this screenshot show a passing build?",
                "timestamp": "2025-05-01T10:00:20Z",
                "metadata": {"span_id": "051581bf3cb55c13"},
            },
            {
                "kind": "user",
                "content": "[image: https://example.com/ci.png]",
                "timestamp": "2025-05-01T10:00:20Z",
                "metadata": {
                    "span_id": "051581bf3cb55c13",
                    "modality": "image",
                    "mime_type": "image/png",
                    "uri": "https://example.com/ci.png",
                    "placeholder": True,
                },
            },
            {
                "kind": "assistant",
                "content": "No: one job is red.",
                "timestamp": "2025-05-01T10:00:21Z",
                "metadata": {"span_id": "051581bf3cb55c13", "finish_reason": "stop"},
            },
        ],
        "model": "claude-sonnet-4-5",
        "task": "Does this screenshot show a passing build?",
        "started_at": "2025-05-01T10:00:20Z",
        "ended_at": "2025-05-01T10:00:21Z",
        "metadata": {
            "resource": {"service.name": "reviewer"},
            "spans": [
                {
                    "span_id": "051581bf3cb55c13",
                    "name": "chat claude-sonnet-4-5",
                    "kind": 3,
                    "start": "2025-05-01T10:00:20+00:00",
                    "end": "2025-05-01T10:00:21+00:00",
                    "status": {"code": 1},
                    "scope": {"name": "reviewer"},
                    "attributes": {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "anthropic",
                        "gen_ai.request.model": "claude-sonnet-4-5",
                    },
                    "events": [
                        {
                            "timeUnixNano": "1746093621000000000",
                            "name": "gen_ai.client.inference.operation.details",
                            "attributes": {},
                        }
                    ],
                }
            ],
        },
    },
]

START = "1746093600000000000"  # 2025-05-01T10:00:00Z


def attribute(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def export(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": list(spans)}]}]}


def span(span_id: str, start: int, end: int, **attributes: Any) -> dict[str, Any]:
    return {
        "traceId": "0123456789abcdef0123456789abcdef",
        "spanId": span_id,
        "name": span_id,
        "startTimeUnixNano": str(int(START) + start * 1_000_000_000),
        "endTimeUnixNano": str(int(START) + end * 1_000_000_000),
        "attributes": [attribute(k.replace("__", "."), v) for k, v in attributes.items()],
    }


def test_otel_spans_become_one_trace_per_trace_id_in_time_order() -> None:
    assert read(fixture("otel_genai_traces.json"), "otel_genai") == TRACES


def test_otel_repeated_conversation_history_appears_once() -> None:
    (coder, _) = read(fixture("otel_genai_traces.json"))
    contents = [s["content"] for s in coder["steps"] if s["kind"] == "user"]
    assert contents == ["Why does the test fail?"]


def test_otel_tool_span_without_captured_messages_is_a_call_and_its_result() -> None:
    document = export(
        span(
            "c1",
            0,
            1,
            gen_ai__operation__name="chat",
            gen_ai__request__model="gpt-4.1",
            gen_ai__input__messages=encode(
                [{"role": "user", "parts": [{"type": "text", "content": "ls"}]}]
            ).decode(),
        ),
        span(
            "t1",
            2,
            3,
            gen_ai__operation__name="execute_tool",
            gen_ai__tool__name="shell",
            gen_ai__tool__call__arguments='{"cmd": "ls"}',
            gen_ai__tool__call__result="README.md",
        ),
    )
    (trace,) = read(encode(document))
    assert trace["steps"] == [
        {
            "kind": "user",
            "content": "ls",
            "timestamp": "2025-05-01T10:00:00Z",
            "metadata": {"span_id": "c1"},
        },
        {
            "kind": "tool_call",
            "tool": "shell",
            "arguments": {"cmd": "ls"},
            "timestamp": "2025-05-01T10:00:02Z",
            "metadata": {"span_id": "t1"},
        },
        {
            "kind": "tool_result",
            "content": "README.md",
            "tool": "shell",
            "timestamp": "2025-05-01T10:00:03Z",
            "metadata": {"span_id": "t1"},
        },
    ]


def test_otel_failed_tool_span_is_an_error_result() -> None:
    tool = span("t1", 0, 1, gen_ai__operation__name="execute_tool", gen_ai__tool__name="deploy")
    tool["status"] = {"code": 2, "message": "permission denied"}
    (trace,) = read(encode(export(tool)))
    assert trace["steps"][1] == {
        "kind": "tool_result",
        "content": "permission denied",
        "tool": "deploy",
        "timestamp": "2025-05-01T10:00:01Z",
        "metadata": {"span_id": "t1", "is_error": True},
    }


def test_otel_messages_that_are_not_json_name_their_attribute() -> None:
    document = parsed("otel_genai_traces.json")
    attributes = document["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["attributes"]
    attributes[9]["value"]["stringValue"] = "[{not json"
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert caught.value.path == (
        "resourceSpans[0].scopeSpans[0].spans[1].attributes[9].value.stringValue"
    )
    assert caught.value.message.startswith("invalid JSON")


def test_otel_message_part_without_type_names_its_path() -> None:
    document = parsed("otel_genai_traces.json")
    attributes = document["resourceSpans"][0]["scopeSpans"][0]["spans"][3]["attributes"]
    message = attributes[5]["value"]["arrayValue"]["values"][2]["kvlistValue"]["values"]
    part = message[1]["value"]["arrayValue"]["values"][0]["kvlistValue"]["values"]
    part[:] = [kv for kv in part if kv["key"] != "type"]
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert (caught.value.path, caught.value.message) == (
        "resourceSpans[0].scopeSpans[0].spans[3].attributes[5].value[2].parts[0].type",
        "required",
    )


def test_otel_span_without_trace_id_names_its_path() -> None:
    document = parsed("otel_genai_traces.json")
    del document["resourceSpans"][1]["scopeSpans"][0]["spans"][1]["traceId"]
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert (caught.value.path, caught.value.message) == (
        "resourceSpans[1].scopeSpans[0].spans[1].traceId",
        "required",
    )


def test_otel_export_without_genai_spans_is_refused() -> None:
    document = export(span("h1", 0, 1, http__request__method="GET"))
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert caught.value.message.startswith("no GenAI spans")


def test_otel_genai_trace_without_content_says_how_to_capture_it() -> None:
    document = export(span("c1", 0, 1, gen_ai__operation__name="chat"))
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert caught.value.path == "resourceSpans[0].scopeSpans[0].spans[0]"
    assert "content capture" in caught.value.message


def test_otel_span_time_out_of_range_names_its_path() -> None:
    document = parsed("otel_genai_traces.json")
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["startTimeUnixNano"] = "9" * 30
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert caught.value.path == "resourceSpans[0].scopeSpans[0].spans[1].startTimeUnixNano"
    assert "out of range" in caught.value.message
