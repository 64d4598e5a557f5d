"""OpenAI Responses API documents as native traces."""

import pytest

from tests.formats.files import encode, fixture, parsed, read
from traces.schema import DocumentError

REQUEST_AND_RESPONSE = [
    {
        "external_id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
        "steps": [
            {
                "kind": "system",
                "content": "You are a coding agent. Use the tools to inspect the repository.",
                "metadata": {"role": "instructions"},
            },
            {"kind": "user", "content": "Why is the build red?"},
            {
                "kind": "reasoning",
                "content": "**Checking CI**\n\nI should read the failing job's log.",
                "metadata": {
                    "id": "rs_6820f383d7c08191846711c5df8233bc",
                    "is_summary": True,
                    "encrypted_content": "gAAAAABoIPOD1tZtM1h5bvSRE_2XfN3bXUPqQqFcA",
                    "readable": False,
                },
            },
            {
                "kind": "tool_call",
                "tool": "read_ci_log",
                "call_id": "call_12345xyz",
                "arguments": {"job": "test"},
                "metadata": {"id": "fc_12345xyz"},
            },
            {
                "kind": "tool_result",
                "content": "ModuleNotFoundError: No module named 'dateutil'",
                "tool": "read_ci_log",
                "call_id": "call_12345xyz",
            },
            {
                "kind": "tool_call",
                "tool": "local_shell",
                "call_id": "call_shell_1",
                "arguments": {
                    "type": "exec",
                    "command": ["pip", "install", "python-dateutil"],
                    "env": {},
                    "timeout_ms": 60000,
                },
                "metadata": {"id": "lsh_1", "status": "completed", "item_type": "local_shell_call"},
            },
            {
                "kind": "tool_result",
                "content": '{"stdout": "Successfully installed python-dateutil-2.9.0", '
                '"exit_code": 0}',
                "tool": "local_shell",
                "call_id": "call_shell_1",
            },
            {
                "kind": "tool_call",
                "tool": "web_search",
                "call_id": "ws_67c9fa0502748190b7dd390736892e100be649c1a5ff9609",
                "arguments": {
                    "type": "search",
                    "query": "python-dateutil missing from requirements",
                },
                "timestamp": "2025-03-08T23:29:02Z",
                "metadata": {"status": "completed", "item_type": "web_search_call"},
            },
            {
                "kind": "reasoning",
                "content": "[reasoning not returned]",
                "timestamp": "2025-03-08T23:29:02Z",
                "metadata": {"id": "rs_2", "placeholder": True, "readable": False},
            },
            {
                "kind": "assistant",
                "content": "The build is red because python-dateutil is not in requirements.txt.",
                "timestamp": "2025-03-08T23:29:02Z",
                "metadata": {
                    "parts": [
                        {
                            "annotations": [
                                {
                                    "type": "url_citation",
                                    "start_index": 0,
                                    "end_index": 9,
                                    "url": "https://pypi.org/project/python-dateutil/",
                                    "title": "python-dateutil",
                                }
                            ]
                        }
                    ],
                    "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
                    "status": "completed",
                },
            },
        ],
        "model": "o4-mini-2025-04-16",
        "task": "Why is the build red?",
        "metadata": {
            "repo": "acme/parser",
            "openai_responses": {
                "request": {
                    "model": "o4-mini",
                    "reasoning": {"effort": "medium", "summary": "auto"},
                    "include": ["reasoning.encrypted_content"],
                    "store": False,
                    "tools": [
                        {
                            "type": "function",
                            "name": "read_ci_log",
                            "parameters": {
                                "type": "object",
                                "properties": {"job": {"type": "string"}},
                            },
                        },
                        {"type": "local_shell"},
                        {"type": "web_search"},
                    ],
                },
                "response": {
                    "object": "response",
                    "created_at": 1741476542,
                    "status": "completed",
                    "usage": {
                        "input_tokens": 328,
                        "output_tokens": 52,
                        "output_tokens_details": {"reasoning_tokens": 0},
                        "total_tokens": 380,
                    },
                },
                "other_items": [
                    {
                        "position": "response.output[3]",
                        "item": {
                            "type": "mcp_list_tools",
                            "id": "mcpl_1",
                            "server_label": "ci",
                            "tools": [{"name": "rerun", "input_schema": {"type": "object"}}],
                        },
                    }
                ],
            },
        },
    }
]

WITHOUT_IDS = [
    {
        "external_id": "openai_responses-0780c9a8075eff2c71ab52be637f2db2",
        "steps": [
            {"kind": "user", "content": "Clean up the temp directory."},
            {
                "kind": "reasoning",
                "content": "[encrypted reasoning: not readable]",
                "metadata": {
                    "placeholder": True,
                    "encrypted_content": "gAAAAABoZ2V0dGluZy1zdGFydGVk",
                    "readable": False,
                },
            },
            {
                "kind": "tool_call",
                "tool": "shell",
                "call_id": "call_sh_9",
                "arguments": {"commands": ["rm -rf /tmp/build-*"], "timeout_ms": 10000},
                "metadata": {"status": "completed", "item_type": "shell_call"},
            },
            {
                "kind": "tool_result",
                "content": "rm: cannot remove '/tmp/build-1': Permission denied",
                "tool": "shell",
                "call_id": "call_sh_9",
                "metadata": {"outcomes": [{"type": "exit", "exit_code": 1}]},
            },
            {
                "kind": "tool_call",
                "tool": "computer",
                "call_id": "call_cu_1",
                "arguments": {"type": "screenshot"},
                "metadata": {
                    "pending_safety_checks": [],
                    "status": "completed",
                    "item_type": "computer_call",
                },
            },
            {
                "kind": "tool_result",
                "content": "[screenshot: https://example.com/screen.png]",
                "tool": "computer",
                "call_id": "call_cu_1",
                "metadata": {"placeholder": True},
            },
            {"kind": "assistant", "content": "I could not remove one directory."},
        ],
        "model": "gpt-5",
        "task": "Clean up the temp directory.",
    }
]


def test_openai_responses_request_and_response_become_one_trace() -> None:
    assert read(fixture("openai_responses_request_response.json"), "openai_responses") == (
        REQUEST_AND_RESPONSE
    )


def test_openai_responses_without_ids_keeps_shell_and_computer_calls() -> None:
    assert read(fixture("openai_responses_without_ids.json"), "openai_responses") == WITHOUT_IDS


def test_openai_responses_function_call_output_is_joined_to_its_call() -> None:
    (trace,) = read(fixture("openai_responses_request_response.json"))
    call, result = trace["steps"][3:5]
    assert (call["kind"], result["kind"]) == ("tool_call", "tool_result")
    assert result["call_id"] == call["call_id"] == "call_12345xyz"
    assert result["tool"] == "read_ci_log"


def test_openai_responses_encrypted_reasoning_is_kept_and_marked_unreadable() -> None:
    (trace,) = read(fixture("openai_responses_without_ids.json"))
    assert trace["steps"][1] == {
        "kind": "reasoning",
        "content": "[encrypted reasoning: not readable]",
        "metadata": {
            "placeholder": True,
            "encrypted_content": "gAAAAABoZ2V0dGluZy1zdGFydGVk",
            "readable": False,
        },
    }


def test_openai_responses_reasoning_content_is_preferred_to_its_summary() -> None:
    document = {
        "input": "Fix the build.",
        "output": [
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "Looked at CI."}],
                "content": [{"type": "reasoning_text", "text": "The tests pin an old version."}],
            }
        ],
    }
    (trace,) = read(encode(document))
    assert trace["steps"][1] == {
        "kind": "reasoning",
        "content": "The tests pin an old version.",
        "metadata": {"id": "rs_1", "summary": "Looked at CI."},
    }


def test_openai_responses_function_call_without_call_id_names_its_path() -> None:
    document = parsed("openai_responses_request_response.json")
    del document["request"]["input"][2]["call_id"]
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert (caught.value.path, caught.value.message) == ("request.input[2].call_id", "required")


def test_openai_responses_output_part_without_text_names_its_path() -> None:
    document = parsed("openai_responses_without_ids.json")
    document["output"][5]["content"][0]["text"] = 42
    with pytest.raises(DocumentError) as caught:
        read(encode(document), "openai_responses")
    assert caught.value.path == "output[5].content[0].text"
    assert caught.value.message == "expected `str`, got `int`"
