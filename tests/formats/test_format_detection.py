"""Auto-detection: every document goes to the one importer that can read it, or is refused."""

import pytest

from tests.formats.files import FIXTURES, encode, fixture, parsed, read
from traces.formats import FORMATS, read_document
from traces.schema import DocumentError

FIXTURE_FORMATS = {
    "openai_chat_tool_call.json": "openai_chat",
    "openai_chat_without_ids.json": "openai_chat",
    "openai_responses_request_response.json": "openai_responses",
    "openai_responses_without_ids.json": "openai_responses",
    "anthropic_tool_use.json": "anthropic",
    "anthropic_without_ids.json": "anthropic",
    "inspect_log.json": "inspect",
    "otel_genai_traces.json": "otel_genai",
}

NATIVE = {
    "external_id": "run-0142",
    "steps": [
        {"kind": "user", "content": "Make the failing test pass"},
        {"kind": "assistant", "content": "Fixed."},
    ],
}


def test_every_fixture_has_an_expected_format() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(FIXTURE_FORMATS)


@pytest.mark.parametrize(("name", "format"), FIXTURE_FORMATS.items())
def test_exactly_one_format_recognises_each_fixture(name: str, format: str) -> None:
    document = parsed(name)
    assert [n for n, fmt in FORMATS.items() if fmt.detect(document)] == [format]


@pytest.mark.parametrize(("name", "format"), FIXTURE_FORMATS.items())
def test_auto_detection_reads_each_fixture_as_its_format(name: str, format: str) -> None:
    assert read(fixture(name)) == read(fixture(name), format)


@pytest.mark.parametrize("name", FIXTURE_FORMATS)
def test_converting_a_fixture_twice_gives_identical_traces(name: str) -> None:
    assert read(fixture(name)) == read(fixture(name))


def test_native_document_is_read_by_no_other_importer() -> None:
    assert [n for n, fmt in FORMATS.items() if fmt.detect(NATIVE)] == ["native"]
    assert read(encode(NATIVE)) == [NATIVE]


def test_plain_text_messages_are_read_as_openai_chat() -> None:
    document = {"messages": [{"role": "user", "content": "hi"}]}
    assert [n for n, fmt in FORMATS.items() if fmt.detect(document)] == ["openai_chat"]


def test_plain_text_messages_with_top_level_system_are_read_as_anthropic() -> None:
    document = {"system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]}
    assert [n for n, fmt in FORMATS.items() if fmt.detect(document)] == ["anthropic"]


def test_messages_mixing_openai_and_anthropic_fields_are_refused() -> None:
    document = {
        "messages": [
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ]
    }
    with pytest.raises(DocumentError) as caught:
        read_document(encode(document))
    assert "unrecognised trace format" in caught.value.message


def test_unplaceable_document_error_names_the_formats_tried() -> None:
    with pytest.raises(DocumentError) as caught:
        read_document(b'{"hello": "world"}')
    assert caught.value.path == ""
    assert (
        "tried native, openai_chat, openai_responses, anthropic, inspect, otel_genai"
        in caught.value.message
    )


def test_unknown_format_name_is_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        read_document(fixture("anthropic_tool_use.json"), format="claude")
    assert caught.value.path == "format"
