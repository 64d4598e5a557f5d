"""Trace formats: each module turns one kind of document into native traces.

A format is an object with a ``name``, ``detect(document) -> bool`` and
``convert(document) -> list[TraceDoc]`` (raising ``DocumentError`` with the path of the offending
field). Adding a format is adding a module and listing it in ``FORMATS``; the ingest API's
``?format=``, the bulk endpoint and ``import_traces --format`` all go through ``read_document``.
"""

from typing import Any, Protocol

from traces.formats import anthropic, inspect_ai, native, openai_chat, openai_responses, otel_genai
from traces.schema import DocumentError, TraceDoc, check_depth, decode_json, decode_native


class TraceFormat(Protocol):
    name: str

    def detect(self, document: Any) -> bool: ...

    def convert(self, document: Any) -> list[TraceDoc]: ...


FORMATS: dict[str, TraceFormat] = {
    fmt.name: fmt
    for fmt in (
        native.FORMAT,
        openai_chat.FORMAT,
        openai_responses.FORMAT,
        anthropic.FORMAT,
        inspect_ai.FORMAT,
        otel_genai.FORMAT,
    )
}


def format_names() -> list[str]:
    return list(FORMATS)


def read_document(raw: bytes, *, format: str | None = None) -> list[TraceDoc]:
    """Decode one JSON document in the given format, or detect it when ``format`` is None.

    Native documents decode straight into structs (the fast path); other formats are parsed once
    and handed to the format that recognises them.
    """
    if raw[:4] == b"PK\x03\x04":  # a zip: Inspect's .eval log is the one zipped format
        if format not in (None, inspect_ai.NAME):
            raise DocumentError("format", f"a zip archive is read as {inspect_ai.NAME} only")
        return inspect_ai.FORMAT.convert(inspect_ai.read_eval_archive(raw))
    if format is not None and format not in FORMATS:
        raise DocumentError("format", f"must be one of {', '.join(FORMATS)} (got {format!r})")
    if format in (None, "native"):
        try:
            return [decode_native(raw)]
        except DocumentError as native_error:
            if format == "native" or (
                native_error.path == "" and "invalid JSON" in native_error.message
            ):
                raise
            first_error = native_error
    # Depth is checked once the format is known: a native document's own error names the field.
    document = decode_json(raw, check=False)
    chosen = FORMATS[format] if format is not None else detect(document)
    if chosen is None:
        if native.FORMAT.detect(document):
            raise first_error
        raise DocumentError(
            "",
            f"unrecognised trace format (tried {', '.join(FORMATS)}); "
            "pass ?format= (or --format) to name it",
        )
    check_depth(document)
    return chosen.convert(document)


def detect(document: Any) -> TraceFormat | None:
    """The first format other than native that recognises ``document``."""
    return next((f for f in FORMATS.values() if f.name != "native" and f.detect(document)), None)
