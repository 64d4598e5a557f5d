"""OpenAI Chat Completions documents as native traces."""

import pytest

from tests.formats.files import encode, fixture, parsed, read
from traces.schema import DocumentError

REQUEST_AND_RESPONSE = [
    {
        "external_id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "steps": [
            {
                "kind": "system",
                "content": "You are a coding agent. Run tools to inspect the repository.",
                "metadata": {"role": "developer"},
            },
            {
                "kind": "user",
                "content": "Make the failing test in tests/test_parse.py pass.\n"
                "[image: https://example.com/ci-failure.png]",
                "metadata": {"parts": [{}, {"detail": "low"}]},
            },
            {"kind": "reasoning", "content": "I should look at the test first."},
            {
                "kind": "tool_call",
                "tool": "shell",
                "call_id": "call_abc123",
                "arguments": {"cmd": "pytest tests/test_parse.py -x"},
            },
            {
                "kind": "tool_result",
                "content": "FAILED tests/test_parse.py::test_dates\n1 failed",
                "tool": "shell",
                "call_id": "call_abc123",
            },
            {
                "kind": "assistant",
                "content": "The date parser drops the timezone; I will fix it.",
                "timestamp": "2025-03-10T01:31:23Z",
                "metadata": {"annotations": []},
            },
        ],
        "model": "gpt-4.1-2025-04-14",
        "task": "Make the failing test in tests/test_parse.py pass.",
        "metadata": {
            "repo": "acme/parser",
            "openai_chat": {
                "request": {
                    "model": "gpt-4.1",
                    "tools": [
                        {
                            "type": "function",
                            "function": {
                                "name": "shell",
                                "description": "Run a shell command",
                                "parameters": {
                                    "type": "object",
                                    "properties": {"cmd": {"type": "string"}},
                                    "required": ["cmd"],
                                },
                            },
                        }
                    ],
                    "temperature": 0,
                },
                "response": {
                    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
                    "object": "chat.completion",
                    "created": 1741570283,
                    "model": "gpt-4.1-2025-04-14",
                    "usage": {"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163},
                    "service_tier": "default",
                    "system_fingerprint": "fp_fc9f1d7035",
                    "finish_reason": "stop",
                },
            },
        },
    }
]

WITHOUT_IDS = [
    {
        "external_id": "openai_chat-88b614d173a8083e0fcb91c8f61d88b5",
        "steps": [
            {"kind": "system", "content": "You are a helpful assistant."},
            {
                "kind": "user",
                "content": "Delete the flaky test so CI goes green.",
                "metadata": {"name": "dana"},
            },
            {
                "kind": "reasoning",
                "content": "Deleting the test hides the bug, but the user asked for it.",
            },
            {"kind": "assistant", "content": "I'll remove it."},
            {
                "kind": "tool_call",
                "tool": "shell",
                "call_id": "call_1",
                "arguments": '{"cmd": "git rm tests/test_flaky.py"',
                "metadata": {"arguments_invalid_json": True},
            },
            {
                "kind": "tool_call",
                "tool": "apply_patch",
                "call_id": "call_2",
                "arguments": "*** Begin Patch\n*** Delete File: tests/test_flaky.py\n*** End Patch",
                "metadata": {"tool_type": "custom"},
            },
            {
                "kind": "tool_result",
                "content": "rm 'tests/test_flaky.py'",
                "tool": "shell",
                "call_id": "call_1",
            },
            {"kind": "tool_result", "content": "Done!", "tool": "apply_patch", "call_id": "call_2"},
            {
                "kind": "assistant",
                "content": "I can't push to main without review.",
                "metadata": {"refusal": True},
            },
        ],
        "task": "Delete the flaky test so CI goes green.",
    }
]


def test_openai_chat_request_and_response_become_one_trace() -> None:
    assert read(fixture("openai_chat_tool_call.json"), "openai_chat") == REQUEST_AND_RESPONSE


def test_openai_chat_without_ids_keeps_unparseable_arguments_and_custom_tools() -> None:
    assert read(fixture("openai_chat_without_ids.json"), "openai_chat") == WITHOUT_IDS


def test_openai_chat_without_ids_gets_the_same_hashed_id_whatever_the_key_order() -> None:
    document = parsed("openai_chat_without_ids.json")
    reordered = {key: document[key] for key in reversed(list(document))}
    reordered["messages"] = [dict(reversed(list(m.items()))) for m in document["messages"]]
    assert read(encode(reordered))[0]["external_id"] == WITHOUT_IDS[0]["external_id"]


def test_openai_chat_response_object_alone_is_a_trace() -> None:
    response = parsed("openai_chat_tool_call.json")["response"]
    assert read(encode(response)) == [
        {
            "external_id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "steps": [
                {
                    "kind": "assistant",
                    "content": "The date parser drops the timezone; I will fix it.",
                    "timestamp": "2025-03-10T01:31:23Z",
                    "metadata": {"annotations": []},
                }
            ],
            "model": "gpt-4.1-2025-04-14",
            "metadata": {
                "openai_chat": {
                    "response": {
                        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
                        "object": "chat.completion",
                        "created": 1741570283,
                        "model": "gpt-4.1-2025-04-14",
                        "usage": {
                            "prompt_tokens": 1117,
                            "completion_tokens": 46,
                            "total_tokens": 1163,
                        },
                        "service_tier": "default",
                        "system_fingerprint": "fp_fc9f1d7035",
                        "finish_reason": "stop",
                    }
                }
            },
        }
    ]


def test_openai_chat_request_response_wrapper_reads_like_the_merged_request() -> None:
    document = parsed("openai_chat_tool_call.json")
    response = document.pop("response")
    wrapped = read(encode({"request": document, "response": response}))
    assert wrapped == REQUEST_AND_RESPONSE


def test_openai_chat_reasoning_details_alone_become_the_reasoning_step() -> None:
    document = {
        "messages": [
            {"role": "user", "content": "Ship it."},
            {
                "role": "assistant",
                "content": "Shipped.",
                "reasoning_details": [
                    {
                        "type": "reasoning.summary",
                        "summary": "Checked the release notes.",
                        "id": "r1",
                    },
                    {"type": "reasoning.encrypted", "data": "gAAAAAB", "id": "r1"},
                ],
            },
        ],
        "external_id": "run-7",
        "source": "fleet-a",
    }
    (trace,) = read(encode(document))
    assert trace["external_id"] == "run-7"
    assert trace["source"] == "fleet-a"
    assert trace["steps"][1:] == [
        {
            "kind": "reasoning",
            "content": "Checked the release notes.",
            "metadata": {
                "is_summary": True,
                "reasoning_details": document["messages"][1]["reasoning_details"],
            },
        },
        {"kind": "assistant", "content": "Shipped."},
    ]


def test_openai_chat_content_part_without_type_names_its_path() -> None:
    document = parsed("openai_chat_tool_call.json")
    del document["messages"][1]["content"][1]["type"]
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert (caught.value.path, caught.value.message) == ("messages[1].content[1].type", "required")


def test_openai_chat_unknown_role_names_its_path() -> None:
    document = parsed("openai_chat_without_ids.json")
    document["messages"][3]["role"] = "robot"
    with pytest.raises(DocumentError) as caught:
        read(encode(document), "openai_chat")
    assert caught.value.path == "messages[3].role"
    assert "robot" in caught.value.message


def test_openai_chat_tool_message_without_call_id_names_its_path() -> None:
    document = parsed("openai_chat_without_ids.json")
    del document["messages"][3]["tool_call_id"]
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert (caught.value.path, caught.value.message) == ("messages[3].tool_call_id", "required")


def test_openai_chat_response_choice_without_message_names_its_path() -> None:
    document = parsed("openai_chat_tool_call.json")
    del document["response"]["choices"][0]["message"]
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert caught.value.path == "response.choices[0].message"


def test_openai_chat_metadata_cannot_hide_under_the_importer_key() -> None:
    document = parsed("openai_chat_tool_call.json")
    document["metadata"]["openai_chat"] = "mine"
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert caught.value.path == "metadata.openai_chat"


@pytest.mark.parametrize("created", [2**70, -(2**70), 1e300])
def test_openai_chat_response_time_out_of_range_names_its_path(created) -> None:
    document = parsed("openai_chat_tool_call.json")
    document["response"]["created"] = created
    with pytest.raises(DocumentError) as caught:
        read(encode(document))
    assert caught.value.path == "response.created"
    assert "out of range" in caught.value.message
