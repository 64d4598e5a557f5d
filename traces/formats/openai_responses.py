"""OpenAI Responses API: the ``input`` and ``output`` item lists.

Accepted shapes: a request body with the ``output`` items merged in (or the response object under
``response``), ``{"request": ..., "response": ...}``, or a response object alone. Every item type
becomes a step: built-in tools (shell, computer, web and file search, code interpreter, MCP...) are
tool calls like functions, because what an agent ran is exactly what a monitor must see. Item types
this importer does not know are kept in the trace metadata, in order, with their position.
"""

from typing import Any

from traces.formats import _build as b
from traces.schema import TraceDoc

NAME = "openai_responses"
MESSAGE_ROLES = ("user", "system", "developer", "assistant")

# Items that call a tool: type → (tool name, the fields that are its arguments).
BUILT_IN_CALLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "local_shell_call": ("local_shell", ("action",)),
    "shell_call": ("shell", ("action", "environment")),
    "apply_patch_call": ("apply_patch", ("operation",)),
    "computer_call": ("computer", ("action", "actions")),
    "web_search_call": ("web_search", ("action",)),
    "file_search_call": ("file_search", ("queries",)),
    "code_interpreter_call": ("code_interpreter", ("code", "container_id")),
    "image_generation_call": ("image_generation", ("revised_prompt",)),
    "tool_search_call": ("tool_search", ("arguments",)),
}
# Items that hold a tool's output, joined to their call by ``call_id``.
OUTPUT_TYPES = (
    "function_call_output",
    "custom_tool_call_output",
    "local_shell_call_output",
    "shell_call_output",
    "apply_patch_call_output",
    "computer_call_output",
    "tool_search_output",
)


def part_text(part: dict[str, Any], path: str, metadata: dict[str, Any]) -> str:
    """One content part as text; images, files and audio as placeholders."""
    kind = b.required_str(part, "type", path)
    if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
        return b.required_str(part, "text", path)
    if kind == "refusal":
        metadata["refusal"] = True
        return b.required_str(part, "refusal", path)
    if kind == "input_image":
        return b.media(
            "image",
            url=b.optional_str(part, "image_url", path),
            name=b.optional_str(part, "file_id", path),
        )
    if kind == "input_file":
        return b.media(
            "file",
            url=b.optional_str(part, "file_url", path),
            name=b.optional_str(part, "filename", path) or b.optional_str(part, "file_id", path),
            data=b.optional_str(part, "file_data", path),
        )
    if kind == "input_audio":
        audio = part.get("input_audio") if isinstance(part.get("input_audio"), dict) else {}
        return b.media(
            "audio", media_type=str(audio.get("format") or ""), data=str(audio.get("data") or "")
        )
    if kind == "computer_screenshot":
        return b.media(
            "screenshot",
            url=b.optional_str(part, "image_url", path),
            name=b.optional_str(part, "file_id", path),
        )
    metadata.setdefault("unknown_parts", []).append(part)
    return f"[{kind}]"


PART_FIELDS = (
    "type", "text", "refusal", "image_url", "file_id", "file_url", "filename", "file_data",
    "input_audio",
)  # fmt: skip


def parts_text(content: Any, path: str) -> tuple[str, dict[str, Any]]:
    """Content as a string or a list of parts, as one text; non-text parts as placeholders."""
    if content is None or isinstance(content, str):
        return content or "", {}
    metadata: dict[str, Any] = {}
    texts, part_extras = [], []
    for i, part in enumerate(b.need_list(content, path)):
        ppath = b.index(path, i)
        part = b.need_object(part, ppath)
        texts.append(part_text(part, ppath, metadata))
        part_extras.append({k: v for k, v in b.extras(part, PART_FIELDS).items() if v != []})
    if any(part_extras):
        metadata["parts"] = part_extras
    return "\n".join(texts), metadata


def message_step(item: dict[str, Any], path: str, timestamp: Any) -> dict[str, Any]:
    """A message item; developer and system messages are both system steps."""
    role = b.one_of(b.required_str(item, "role", path), MESSAGE_ROLES, b.key(path, "role"))
    text, metadata = parts_text(b.required(item, "content", path), b.key(path, "content"))
    kind = {"user": "user", "assistant": "assistant"}.get(role, "system")
    if role == "developer":
        metadata["role"] = "developer"
    metadata.update(b.extras(item, ("type", "role", "content")))
    return b.step(kind, text, timestamp=timestamp, metadata=metadata)


def reasoning_step(item: dict[str, Any], path: str, timestamp: Any) -> dict[str, Any]:
    """The reasoning itself when the item carries it, else its summary, else a placeholder."""
    summary, _ = parts_text(b.optional_list(item, "summary", path), b.key(path, "summary"))
    content, _ = parts_text(b.optional_list(item, "content", path), b.key(path, "content"))
    encrypted = b.optional_str(item, "encrypted_content", path)
    metadata = b.extras(item, ("type", "summary", "content", "encrypted_content"))
    if content:
        text = content
        if summary:
            metadata["summary"] = summary
    elif summary:
        text = summary
        metadata["is_summary"] = True
    else:
        text = "[encrypted reasoning: not readable]" if encrypted else "[reasoning not returned]"
        metadata["placeholder"] = True
    if encrypted:
        metadata["encrypted_content"] = encrypted
    if not content:  # the reasoning itself is encrypted or withheld: only a summary, if any
        metadata["readable"] = False
    return b.step("reasoning", text, timestamp=timestamp, metadata=metadata)


def output_text(item: dict[str, Any], path: str) -> tuple[str, dict[str, Any]]:
    """What a tool returned, as text; shell output as its stdout and stderr."""
    output = item.get("output")
    kind = item["type"]
    if kind == "shell_call_output" and isinstance(output, list):
        chunks = []
        for i, chunk in enumerate(output):
            chunk = b.need_object(chunk, b.index(b.key(path, "output"), i))
            chunks.extend(str(chunk[k]) for k in ("stdout", "stderr") if chunk.get(k))
        return "\n".join(chunks), {"outcomes": [c.get("outcome") for c in output]}
    if kind == "computer_call_output" and isinstance(output, dict):
        return part_text(output, b.key(path, "output"), {}), {"placeholder": True}
    if isinstance(output, list):
        return parts_text(output, b.key(path, "output"))
    return b.as_text(output), {}


def item_steps(
    item: Any, path: str, timestamp: Any, other: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The steps of one input or output item; unknown items go to ``other`` instead."""
    item = b.need_object(item, path)
    kind = item.get("type")
    if kind is None and "role" in item:
        kind = "message"  # the short form of an input message
    kind = b.need_str(kind, b.key(path, "type"))
    if kind == "message":
        return [message_step(item, path, timestamp)]
    if kind == "reasoning":
        return [reasoning_step(item, path, timestamp)]
    if kind in ("function_call", "custom_tool_call"):
        field = "arguments" if kind == "function_call" else "input"
        arguments, invalid = (
            b.parse_arguments(item.get(field))
            if kind == "function_call"
            else (item.get(field), False)
        )
        metadata = b.extras(item, ("type", "name", "call_id", field))
        if kind == "custom_tool_call":
            metadata["item_type"] = kind
        if invalid:
            metadata["arguments_invalid_json"] = True
        return [
            b.step(
                "tool_call",
                tool=b.required_str(item, "name", path),
                call_id=b.required_str(item, "call_id", path),
                arguments=arguments,
                timestamp=timestamp,
                metadata=metadata,
            )
        ]
    if kind == "mcp_call":
        arguments, invalid = b.parse_arguments(item.get("arguments"))
        call_id = b.required_str(item, "id", path)
        metadata = b.extras(item, ("type", "id", "name", "arguments", "output", "error"))
        metadata["item_type"] = kind
        if invalid:
            metadata["arguments_invalid_json"] = True
        steps = [
            b.step(
                "tool_call",
                tool=b.required_str(item, "name", path),
                call_id=call_id,
                arguments=arguments,
                timestamp=timestamp,
                metadata=metadata,
            )
        ]
        if item.get("output") is not None or item.get("error") is not None:
            error = item.get("error")
            steps.append(
                b.step(
                    "tool_result",
                    b.as_text(item.get("output") if error is None else error),
                    call_id=call_id,
                    timestamp=timestamp,
                    metadata={"is_error": True} if error is not None else {},
                )
            )
        return steps
    if kind in BUILT_IN_CALLS:
        return built_in_steps(item, kind, path, timestamp)
    if kind in OUTPUT_TYPES:
        # local_shell_call_output names its call with ``id`` (the call's call_id), the rest
        # with ``call_id``.
        call_id = b.optional_str(item, "call_id", path)
        known = ("type", "call_id", "output") if call_id else ("type", "id", "output")
        call_id = call_id or b.optional_str(item, "id", path)
        text, metadata = output_text(item, path)
        metadata.update(b.extras(item, known))
        return [
            b.step("tool_result", text, call_id=call_id, timestamp=timestamp, metadata=metadata)
        ]
    other.append({"position": path, "item": item})
    return []


def built_in_steps(
    item: dict[str, Any], kind: str, path: str, timestamp: Any
) -> list[dict[str, Any]]:
    """A call to one of OpenAI's own tools, with its result when the item carries one."""
    tool, argument_fields = BUILT_IN_CALLS[kind]
    call_id = b.optional_str(item, "call_id", path)
    id_field = "call_id" if call_id else "id"  # web, file search and the like have only an id
    call_id = call_id or b.optional_str(item, "id", path)
    arguments = {f: item[f] for f in argument_fields if item.get(f) is not None}
    if len(arguments) == 1 and argument_fields[0] in arguments and kind != "file_search_call":
        arguments = arguments[argument_fields[0]]
    results: tuple[str, ...] = ()
    if kind == "file_search_call":
        results = ("results",)
    elif kind == "code_interpreter_call":
        results = ("outputs",)
    elif kind == "image_generation_call":
        results = ("result",)
    metadata = b.extras(item, ("type", id_field, *argument_fields, *results))
    metadata["item_type"] = kind
    steps = [
        b.step(
            "tool_call",
            tool=tool,
            call_id=call_id,
            arguments=arguments,
            timestamp=timestamp,
            metadata=metadata,
        )
    ]
    for field in results:
        value = item.get(field)
        if value is None:
            continue
        if field == "result":  # a base64 image: what it was, not its bytes
            text, meta = (
                b.media("image", media_type="image", data=str(value)),
                {"placeholder": True},
            )
        elif field == "outputs":
            text, meta = code_outputs(value), {}
        else:
            text, meta = b.as_text(value), {}
        steps.append(
            b.step("tool_result", text, call_id=call_id, timestamp=timestamp, metadata=meta)
        )
    return steps


def code_outputs(outputs: Any) -> str:
    """Code interpreter outputs: logs as text, images as placeholders."""
    if not isinstance(outputs, list):
        return b.as_text(outputs)
    texts = []
    for out in outputs:
        if isinstance(out, dict) and out.get("type") == "logs":
            texts.append(str(out.get("logs") or ""))
        elif isinstance(out, dict) and out.get("type") == "image":
            texts.append(b.media("image", url=str(out.get("url") or "")))
        else:
            texts.append(b.as_text(out))
    return "\n".join(texts)


def split(document: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any] | None, str]:
    """The request and the response, with their paths; a response alone has no request."""
    if isinstance(document.get("request"), dict):
        return (
            document["request"],
            "request",
            b.optional_object(document, "response", ""),
            "response",
        )
    if isinstance(document.get("response"), dict):
        return document, "", document["response"], "response"
    if document.get("object") == "response" or "output" in document:
        # A response object (perhaps with the request's ``input`` logged beside it).
        return document, "", document, ""
    return document, "", None, ""


REQUEST_ONLY = ("input", "response", "metadata", *b.ENVELOPE_KEYS)
RESPONSE_MAPPED = ("output", "id", "model", "instructions", "input", "metadata", *b.ENVELOPE_KEYS)


class OpenAIResponsesFormat:
    """``input`` or ``output`` item lists, or an object of type ``response``."""

    name = NAME

    def detect(self, document: Any) -> bool:
        if not isinstance(document, dict):
            return False
        if any(k in document for k in ("steps", "messages", "eval", "resourceSpans")):
            return False
        request = b.request_of(document)
        response = b.response_of(document) or document
        return (
            response.get("object") == "response"
            or isinstance(request.get("input"), str | list)
            or isinstance(response.get("output"), list)
        )

    def convert(self, document: Any) -> list[TraceDoc]:
        document = b.need_object(document, "")
        request, request_path, response, response_path = split(document)
        steps: list[dict[str, Any]] = []
        other: list[dict[str, Any]] = []
        instructions = request.get("instructions")
        if response is not None and instructions is None:
            instructions = response.get("instructions")
            instructions_path = b.key(response_path, "instructions")
        else:
            instructions_path = b.key(request_path, "instructions")
        if isinstance(instructions, str):
            steps.append(b.step("system", instructions, metadata={"role": "instructions"}))
        elif instructions is not None:
            for i, item in enumerate(b.need_list(instructions, instructions_path)):
                steps.extend(item_steps(item, b.index(instructions_path, i), None, other))
        input_path = b.key(request_path, "input")
        items = request.get("input")
        if isinstance(items, str):
            steps.append(b.step("user", items))
        elif items is not None:
            for i, item in enumerate(b.need_list(items, input_path)):
                steps.extend(item_steps(item, b.index(input_path, i), None, other))
        derived: dict[str, Any] = {}
        if request_path:
            derived["document"] = b.extras(
                document, ("request", "response", "metadata", *b.ENVELOPE_KEYS)
            )
        model = b.optional_str(request, "model", request_path)
        external_id = ""
        if response is not request:
            derived["request"] = b.extras(request, (*REQUEST_ONLY, "instructions"))
        if response is not None:
            external_id = b.optional_str(response, "id", response_path)
            model = b.optional_str(response, "model", response_path) or model
            created = b.from_unix(response.get("created_at"), b.key(response_path, "created_at"))
            output_path = b.key(response_path, "output")
            for i, item in enumerate(b.optional_list(response, "output", response_path)):
                steps.extend(item_steps(item, b.index(output_path, i), created, other))
            derived["response"] = b.extras(response, RESPONSE_MAPPED)
        if other:
            derived["other_items"] = other
        metadata = b.user_metadata(request, request_path)
        if response is not None and response is not request:
            metadata.update(b.user_metadata(response, response_path))
        if request_path:
            metadata.update(b.user_metadata(document, ""))
        return b.provider_trace(
            format_name=NAME,
            document=document,
            external_id=external_id,
            steps=steps,
            model=model,
            metadata=metadata,
            derived=derived,
        )


FORMAT = OpenAIResponsesFormat()
