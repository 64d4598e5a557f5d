"""Anthropic Messages documents as native traces."""

import pytest

from tests.formats.files import encode, fixture, parsed, read
from traces.schema import DocumentError

REDACTED_DATA = (
    "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qyeIPnKShBd5DJMDtCOZxd4ZN0Z"
)

TOOL_USE = [
    {
        "external_id": "msg_01Aq9w938a90dw8q",
        "steps": [
            {
                "kind": "system",
                "content": "You are a coding agent working in /repo.",
                "metadata": {"cache_control": {"type": "ephemeral"}},
            },
            {"kind": "user", "content": "Why does tests/test_parse.py fail?"},
            {
                "kind": "reasoning",
                "content": "Let me run the test to see the failure.",
                "metadata": {"signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
            },
            {"kind": "assistant", "content": "I'll run the test first."},
            {
                "kind": "tool_call",
                "tool": "bash",
                "call_id": "toolu_01A09q90qw90lq917835lq9",
                "arguments": {"command": "pytest tests/test_parse.py"},
            },
            {
                "kind": "tool_result",
                "content": "E   AssertionError: 2024-01-01T00:00:00 != 2024-01-01T00:00:00Z\n"
                "[image: image/png, 12 characters inline]",
                "tool": "bash",
                "call_id": "toolu_01A09q90qw90lq917835lq9",
                "metadata": {"is_error": True},
            },
            {"kind": "user", "content": "Fix it, but don't touch the test."},
            {
                "kind": "reasoning",
                "content": "[redacted thinking: encrypted by the provider, not readable]",
                "metadata": {
                    "placeholder": True,
                    "readable": False,
                    "data": REDACTED_DATA,
                },
            },
            {"kind": "assistant", "content": "The parser drops the timezone suffix."},
        ],
        "model": "claude-sonnet-4-5-20250929",
        "task": "Why does tests/test_parse.py fail?",
        "metadata": {
            "user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b",
            "anthropic": {
                "request": {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 16000,
                    "thinking": {"type": "enabled", "budget_tokens": 10000},
                    "tools": [
                        {
                            "name": "bash",
                            "description": "Run a shell command",
                            "input_schema": {
                                "type": "object",
                                "properties": {"command": {"type": "string"}},
                                "required": ["command"],
                            },
                        }
                    ],
                },
                "response": {
                    "id": "msg_01Aq9w938a90dw8q",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 2095, "output_tokens": 503},
                },
            },
        },
    }
]

WITHOUT_IDS = [
    {
        "external_id": "anthropic-4edfab37f31cac0105c3221418529334",
        "steps": [
            {"kind": "system", "content": "You are a release engineer."},
            {"kind": "user", "content": "Tag the release."},
            {
                "kind": "tool_call",
                "tool": "git",
                "call_id": "toolu_02",
                "arguments": {"args": ["tag", "v1.2.0"]},
            },
            {
                "kind": "tool_result",
                "content": "fatal: tag 'v1.2.0' already exists",
                "tool": "git",
                "call_id": "toolu_02",
                "metadata": {"is_error": True},
            },
            {"kind": "assistant", "content": "The tag already exists; I will not overwrite it."},
        ],
        "model": "claude-opus-4-1",
        "task": "Tag the release.",
        "metadata": {"anthropic": {"request": {"model": "claude-opus-4-1", "max_tokens": 1024}}},
    }
]


def test_anthropic_request_and_response_become_one_trace() -> None:
    assert read(fixture("anthropic_tool_use.json"), "anthropic") == TOOL_USE


def test_anthropic_without_ids_gets_a_hashed_id_and_keeps_is_error() -> None:
    assert read(fixture("anthropic_without_ids.json"), "anthropic") == WITHOUT_IDS


def test_anthropic_redacted_thinking_becomes_placeholder_step() -> None:
    (trace,) = read(fixture("anthropic_tool_use.json"))
    redacted = [s for s in trace["steps"] if s.get("metadata", {}).get("readable") is False]
    assert redacted == [
        {
            "kind": "reasoning",
            "content": "[redacted thinking: encrypted by the provider, not readable]",
            "metadata": {
                "placeholder": True,
                "readable": False,
                "data": REDACTED_DATA,
            },
        }
    ]


def test_anthropic_thinking_keeps_its_signature() -> None:
    (trace,) = read(fixture("anthropic_tool_use.json"))
    assert trace["steps"][2]["metadata"] == {
        "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
    }


def test_anthropic_response_message_alone_is_a_trace() -> None:
    message = parsed("anthropic_tool_use.json")["response"]
    (trace,) = read(encode(message))
    assert trace["external_id"] == "msg_01Aq9w938a90dw8q"
    assert [s["kind"] for s in trace["steps"]] == ["reasoning", "assistant"]
    assert trace["metadata"]["anthropic"]["response"]["stop_reason"] == "end_turn"


def test_anthropic_server_tool_blocks_are_tool_calls_and_results() -> None:
    document = {
        "system": "Research assistant.",
        "messages": [
            {"role": "user", "content": "Latest CPython release?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_01",
                        "name": "web_search",
                        "input": {"query": "latest CPython release"},
                    },
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_01",
                        "content": [
                            {
                                "type": "web_search_result",
                                "url": "https://www.python.org/downloads/",
                                "title": "Download Python",
                            }
                        ],
                    },
                ],
            },
        ],
    }
    (trace,) = read(encode(document))
    assert trace["steps"][2:] == [
        {
            "kind": "tool_call",
            "tool": "web_search",
            "call_id": "srvtoolu_01",
            "arguments": {"query": "latest CPython release"},
            "metadata": {"block_type": "server_tool_use"},
        },
        {
            "kind": "tool_result",
            "content": '{"type":"web_search_result","url":"https://www.python.org/downloads/",'
            '"title":"Download Python"}',
            "tool": "web_search",
            "call_id": "srvtoolu_01",
            "metadata": {"block_type": "web_search_tool_result"},
        },
    ]


def test_anthropic_block_without_type_names_its_path() -> None:
    document = parsed("anthropic_tool_use.json")
    del document["messages"][2]["content"][0]["content"][1]["type"]
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert (caught.value.path, caught.value.message) == (
        "messages[2].content[0].content[1].type",
        "required",
    )


def test_anthropic_tool_use_without_id_names_its_path() -> None:
    document = parsed("anthropic_without_ids.json")
    del document["messages"][1]["content"][0]["id"]
    with pytest.raises(DocumentError) as caught:
        read(encode(document), "anthropic")
    assert (caught.value.path, caught.value.message) == ("messages[1].content[0].id", "required")


def test_anthropic_system_role_inside_messages_names_its_path() -> None:
    document = parsed("anthropic_without_ids.json")
    document["messages"][0]["role"] = "system"
    with pytest.raises(DocumentError) as caught:
        read(encode(document), "anthropic")
    assert caught.value.path == "messages[0].role"
