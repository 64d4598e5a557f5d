"""What every importer shares: reads that name the offending field, ids for documents without one,
placeholders for content that cannot be shown as text, and the final assembly into native traces.

Importers walk parsed JSON by hand rather than through one schema each, so that a field that is
new to us is kept in metadata instead of failing the document, while a field of the wrong shape
still fails with its path (``messages[3].content[0].type``).
"""

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from traces.schema import DocumentError, TraceDoc, convert_native

MAX_ID_LENGTH = 255

# Keys a Tracewatch sender may add around any provider document to name the trace.
ENVELOPE_KEYS = ("external_id", "source", "agent", "task")


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def key(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def need_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DocumentError(path, f"expected `object`, got `{json_type(value)}`")
    return value


def need_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise DocumentError(path, f"expected `array`, got `{json_type(value)}`")
    return value


def need_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise DocumentError(path, f"expected `str`, got `{json_type(value)}`")
    return value


def required(obj: dict[str, Any], name: str, path: str) -> Any:
    if obj.get(name) is None:
        raise DocumentError(key(path, name), "required")
    return obj[name]


def required_str(obj: dict[str, Any], name: str, path: str) -> str:
    return need_str(required(obj, name, path), key(path, name))


def optional_str(obj: dict[str, Any], name: str, path: str) -> str:
    """A string field that may be absent or null (read as empty)."""
    value = obj.get(name)
    return "" if value is None else need_str(value, key(path, name))


def optional_list(obj: dict[str, Any], name: str, path: str) -> list[Any]:
    value = obj.get(name)
    return [] if value is None else need_list(value, key(path, name))


def optional_object(obj: dict[str, Any], name: str, path: str) -> dict[str, Any] | None:
    value = obj.get(name)
    return None if value is None else need_object(value, key(path, name))


def one_of(value: str, choices: tuple[str, ...], path: str) -> str:
    if value not in choices:
        raise DocumentError(path, f"must be one of {', '.join(choices)} (got {value!r})")
    return value


def extras(obj: dict[str, Any], known: tuple[str, ...] | set[str]) -> dict[str, Any]:
    """The fields of ``obj`` an importer did not map, so they can be kept in metadata."""
    return {k: v for k, v in obj.items() if k not in known and v is not None}


def stable_id(format_name: str, document: Any) -> str:
    """An id for a document that carries none: the same content always gives the same id."""
    digest = hashlib.sha256(msgspec.json.encode(document, order="sorted")).hexdigest()
    return f"{format_name}-{digest[:32]}"


def bounded_id(value: str) -> str:
    """Ids longer than the store allows keep a readable prefix and a hash of the whole."""
    if len(value) <= MAX_ID_LENGTH:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return f"{value[: MAX_ID_LENGTH - 33]}-{digest}"


def parse_arguments(raw: Any) -> tuple[Any, bool]:
    """Tool arguments sent as a JSON string, parsed; a string that is not JSON is kept as it is.

    Returns the arguments and whether they were a string that failed to parse (worth flagging:
    a model that emits broken tool calls is itself a signal).
    """
    if not isinstance(raw, str):
        return raw, False
    try:
        return msgspec.json.decode(raw), False
    except (msgspec.DecodeError, RecursionError):
        return raw, raw != ""


def as_text(value: Any) -> str:
    """A tool output or result of any JSON shape, as the text a reviewer reads."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


_DATA_URL = re.compile(r"^data:(?P<type>[^;,]*)(?:;[^,]*)?,(?P<data>.*)$", re.DOTALL)


def media(kind: str, *, url: str = "", media_type: str = "", data: str = "", name: str = "") -> str:
    """A placeholder for an image, audio clip or file: what it was and where, never its bytes.

    Inline data (base64 or a data: URL) is not stored; its type and size are, so a reviewer
    knows something was there.
    """
    if url and (match := _DATA_URL.match(url)):
        media_type, data, url = media_type or match["type"], match["data"], ""
    details = [d for d in (name, url) if d]
    if data:
        details.append(f"{media_type or 'inline'}, {len(data)} characters inline")
    elif media_type and not details:
        details.append(media_type)
    return f"[{kind}: {', '.join(details)}]" if details else f"[{kind}]"


def from_unix(seconds: Any, path: str) -> datetime | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise DocumentError(path, f"expected a Unix time in seconds, got `{json_type(seconds)}`")
    return _moment(seconds, path, seconds)


def _moment(seconds: float, path: str, given: Any) -> datetime:
    """A Unix time as a datetime, or a DocumentError when no datetime reaches it."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise DocumentError(path, f"{given!r} is out of range for a time") from None


def from_unix_nano(nanos: Any, path: str) -> datetime | None:
    """OTLP times: nanoseconds since the epoch, as a number or (int64 in JSON) a string."""
    if nanos is None or nanos == "" or nanos == 0 or nanos == "0":
        return None
    try:
        value = int(nanos)
    except (TypeError, ValueError):
        raise DocumentError(path, f"expected nanoseconds since the epoch, got {nanos!r}") from None
    seconds, rest = divmod(value, 1_000_000_000)
    return _moment(seconds, path, nanos).replace(microsecond=rest // 1000)


def step(
    kind: str,
    content: str = "",
    *,
    tool: str = "",
    call_id: str = "",
    arguments: Any = None,
    timestamp: datetime | str | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A native step as a plain dict, leaving out what is empty."""
    out: dict[str, Any] = {"kind": kind, "content": content}
    if tool:
        out["tool"] = tool
    if call_id:
        out["call_id"] = call_id
    if arguments is not None:
        out["arguments"] = arguments
    if timestamp is not None:
        out["timestamp"] = timestamp
    if metadata:
        out["metadata"] = metadata
    return out


def add_metadata(steps: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """Attach a message's own fields to the first of the steps made from it."""
    if values and steps:
        steps[0].setdefault("metadata", {}).update(values)


def link_tool_results(steps: list[dict[str, Any]]) -> None:
    """Name the tool on each result from the call it answers, so a result reads on its own."""
    tools = {
        s["call_id"]: s.get("tool", "")
        for s in steps
        if s["kind"] == "tool_call" and s.get("call_id")
    }
    for s in steps:
        if s["kind"] == "tool_result" and not s.get("tool") and tools.get(s.get("call_id", "")):
            s["tool"] = tools[s["call_id"]]


_PLACEHOLDER_LINE = re.compile(r"^\[(?:image|audio|video|file|document|screenshot)(?::[^\n]*)?\]$")


def first_user_text(steps: list[dict[str, Any]]) -> str:
    """The task of a trace, when the format has no field for it: the first thing the user said.

    Placeholders for attachments are left out: the task is the instruction, not its screenshots.
    """
    for s in steps:
        if s["kind"] != "user":
            continue
        lines = [line for line in s["content"].split("\n") if not _PLACEHOLDER_LINE.match(line)]
        if text := "\n".join(lines).strip():
            return text
    return ""


def user_metadata(document: dict[str, Any], path: str) -> dict[str, Any]:
    value = document.get("metadata")
    return {} if value is None else dict(need_object(value, key(path, "metadata")))


def envelope(document: dict[str, Any]) -> dict[str, Any]:
    """Tracewatch fields a sender put beside a provider document (``external_id``, ``source``)."""
    out: dict[str, Any] = {}
    for name in ENVELOPE_KEYS:
        if document.get(name) is not None:
            out[name] = need_str(document[name], name)
    return out


def with_format_metadata(
    metadata: dict[str, Any], format_name: str, derived: dict[str, Any]
) -> dict[str, Any]:
    """The sender's metadata at the top, what the importer kept under the format's name."""
    derived = {k: v for k, v in derived.items() if v not in (None, {}, [])}
    if not derived:
        return metadata
    if format_name in metadata:
        raise DocumentError(
            key("metadata", format_name),
            "reserved for the fields the importer keeps; rename this key",
        )
    return {**metadata, format_name: derived}


def assemble(
    *,
    external_id: str,
    steps: list[dict[str, Any]],
    path: str = "",
    **fields: Any,
) -> TraceDoc:
    """Validate the assembled trace against the native schema (lengths, kinds, times)."""
    if not steps:
        raise DocumentError(path, "no messages to import: a trace needs at least one step")
    link_tool_results(steps)
    doc: dict[str, Any] = {"external_id": bounded_id(external_id), "steps": steps}
    if not fields.get("task"):
        fields["task"] = first_user_text(steps)
    doc.update({k: v for k, v in fields.items() if v not in (None, "", {})})
    return convert_native(doc)


def provider_trace(
    *,
    format_name: str,
    document: dict[str, Any],
    external_id: str,
    steps: list[dict[str, Any]],
    model: str,
    metadata: dict[str, Any],
    derived: dict[str, Any],
) -> list[TraceDoc]:
    """The one trace of a provider's request/response document. Its id: the sender's envelope
    id, else the document's own, else a hash of the document, so sending it again is a no-op."""
    outer = envelope(document)
    return [
        assemble(
            external_id=outer.pop("external_id", "")
            or external_id
            or stable_id(format_name, document),
            steps=steps,
            model=model,
            metadata=with_format_metadata(metadata, format_name, derived),
            **outer,
        )
    ]


# Telling the two message-list formats apart. Both have ``messages`` of user and assistant turns;
# each has fields the other never uses, and a document with neither kind is read as OpenAI chat
# (the two read the same when every message is plain text).

CHAT_ONLY_ROLES = frozenset({"system", "developer", "tool", "function"})
CHAT_ONLY_MESSAGE_KEYS = frozenset(
    {"tool_calls", "tool_call_id", "function_call", "reasoning_content", "reasoning_details"}
)
CHAT_ONLY_PART_TYPES = frozenset({"image_url", "input_audio", "file", "refusal"})
ANTHROPIC_ONLY_BLOCK_TYPES = frozenset(
    {
        "image",
        "document",
        "search_result",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_result",
        "server_tool_use",
        "mcp_tool_use",
        "container_upload",
    }
)
ANTHROPIC_ONLY_REQUEST_KEYS = frozenset({"system", "stop_sequences", "anthropic_version"})


def _messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    messages = request.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _part_types(message: dict[str, Any]) -> set[str]:
    content = message.get("content")
    if not isinstance(content, list):
        return set()
    return {p["type"] for p in content if isinstance(p, dict) and isinstance(p.get("type"), str)}


def request_of(document: dict[str, Any]) -> dict[str, Any]:
    """The request body of a document, whether bare or under ``request``."""
    request = document.get("request")
    return request if isinstance(request, dict) else document


def response_of(document: dict[str, Any]) -> dict[str, Any] | None:
    response = document.get("response")
    return response if isinstance(response, dict) else None


def chat_markers(document: dict[str, Any]) -> bool:
    """Fields only an OpenAI Chat Completions document has."""
    response = response_of(document) or document
    if "choices" in document or response.get("object") == "chat.completion":
        return True
    for message in _messages(request_of(document)):
        if str(message.get("role")) in CHAT_ONLY_ROLES or CHAT_ONLY_MESSAGE_KEYS & message.keys():
            return True
        if _part_types(message) & CHAT_ONLY_PART_TYPES:
            return True
    return False


def anthropic_markers(document: dict[str, Any]) -> bool:
    """Fields only an Anthropic Messages document has."""
    request = request_of(document)
    if ANTHROPIC_ONLY_REQUEST_KEYS & request.keys():
        return True
    if (response_of(document) or document).get("type") == "message":
        return True
    for message in _messages(request):
        types = _part_types(message)
        if types & ANTHROPIC_ONLY_BLOCK_TYPES or any(t.endswith("_tool_result") for t in types):
            return True
    return False
