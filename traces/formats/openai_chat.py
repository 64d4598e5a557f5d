"""OpenAI Chat Completions: a request's ``messages``, plus the response when it was logged.

Accepted shapes: the request body (the response under ``response``, or its ``choices`` merged
in), ``{"request": ..., "response": ...}``, or a response object alone. Reasoning is read wherever
OpenAI-compatible providers put it: ``reasoning_content`` (DeepSeek, vLLM), ``reasoning`` and
``reasoning_details`` (OpenRouter).
"""

from typing import Any

from traces.formats import _build as b
from traces.schema import TraceDoc

NAME = "openai_chat"
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
RESPONSE_KEYS = ("id", "object", "created", "choices", "usage", "system_fingerprint")
ASSISTANT_KEYS = (
    "role",
    "content",
    "reasoning_content",
    "reasoning",
    "reasoning_details",
    "refusal",
    "tool_calls",
    "function_call",
)
ROLE_KEYS = {
    "system": ("role", "content"),
    "developer": ("role", "content"),
    "user": ("role", "content"),
    "assistant": ASSISTANT_KEYS,
    "tool": ("role", "content", "tool_call_id"),
    "function": ("role", "content", "name"),
}


def content_text(content: Any, path: str) -> tuple[str, dict[str, Any]]:
    """Message content, a string or a list of parts, as one text; non-text parts as placeholders."""
    if content is None:
        return "", {}
    if isinstance(content, str):
        return content, {}
    texts: list[str] = []
    metadata: dict[str, Any] = {}
    part_extras: list[dict[str, Any]] = []
    for i, part in enumerate(b.need_list(content, path)):
        ppath = b.index(path, i)
        part = b.need_object(part, ppath)
        kind = b.required_str(part, "type", ppath)
        known: tuple[str, ...] = ("type", kind)
        if kind == "text":
            texts.append(b.required_str(part, "text", ppath))
        elif kind == "refusal":
            texts.append(b.required_str(part, "refusal", ppath))
            metadata["refusal"] = True
        elif kind == "image_url":
            image = b.need_object(b.required(part, "image_url", ppath), b.key(ppath, "image_url"))
            texts.append(b.media("image", url=b.optional_str(image, "url", ppath)))
            part_extras.append({**b.extras(part, known), **b.extras(image, ("url",))})
            continue
        elif kind == "input_audio":
            audio = b.need_object(
                b.required(part, "input_audio", ppath), b.key(ppath, "input_audio")
            )
            texts.append(
                b.media(
                    "audio",
                    media_type=str(audio.get("format") or ""),
                    data=str(audio.get("data") or ""),
                )
            )
        elif kind == "file":
            file = b.need_object(b.required(part, "file", ppath), b.key(ppath, "file"))
            texts.append(
                b.media(
                    "file",
                    name=str(file.get("filename") or file.get("file_id") or ""),
                    data=str(file.get("file_data") or ""),
                )
            )
        else:
            texts.append(f"[{kind}]")
            metadata.setdefault("unknown_parts", []).append(part)
            part_extras.append({})
            continue
        part_extras.append(b.extras(part, known))
    if any(part_extras):
        metadata["parts"] = part_extras
    return "\n".join(texts), metadata


def reasoning_steps(message: dict[str, Any], path: str, timestamp: Any) -> list[dict[str, Any]]:
    """Reasoning beside the answer, under whichever field the provider used."""
    texts: list[str] = []
    for field in ("reasoning_content", "reasoning"):
        text = b.optional_str(message, field, path)
        if text and text not in texts:
            texts.append(text)
    steps = [b.step("reasoning", text, timestamp=timestamp) for text in texts]
    details = b.optional_list(message, "reasoning_details", path)
    if details:
        steps = steps or [details_step(details, timestamp)]
        b.add_metadata(steps, {"reasoning_details": details})
    return steps


def details_step(details: list[Any], timestamp: Any) -> dict[str, Any]:
    """OpenRouter's ``reasoning_details`` alone: its text or summaries, else a placeholder."""
    entries = [d for d in details if isinstance(d, dict) and d.get("type") != "reasoning.encrypted"]
    text = "\n".join(str(d.get("text") or d.get("summary") or "") for d in entries).strip()
    if not text:
        metadata = {"placeholder": True, "readable": False}
        return b.step("reasoning", "[encrypted reasoning]", timestamp=timestamp, metadata=metadata)
    summaries = all(d.get("type") == "reasoning.summary" for d in entries)
    return b.step(
        "reasoning", text, timestamp=timestamp, metadata={"is_summary": True} if summaries else {}
    )


def tool_call_steps(message: dict[str, Any], path: str, timestamp: Any) -> list[dict[str, Any]]:
    steps = []
    for i, call in enumerate(b.optional_list(message, "tool_calls", path)):
        cpath = b.index(b.key(path, "tool_calls"), i)
        call = b.need_object(call, cpath)
        kind = b.optional_str(call, "type", cpath) or "function"
        metadata = b.extras(call, ("id", "type", kind))
        if kind == "function":
            function = b.need_object(b.required(call, "function", cpath), b.key(cpath, "function"))
            fpath = b.key(cpath, "function")
            name = b.required_str(function, "name", fpath)
            arguments, invalid = b.parse_arguments(function.get("arguments"))
            metadata.update(b.extras(function, ("name", "arguments")))
        elif kind == "custom":
            custom = b.need_object(b.required(call, "custom", cpath), b.key(cpath, "custom"))
            name = b.required_str(custom, "name", b.key(cpath, "custom"))
            arguments, invalid = custom.get("input"), False
            metadata["tool_type"] = "custom"
        else:
            payload = call.get(kind)
            name = str(payload.get("name") or kind) if isinstance(payload, dict) else kind
            arguments, invalid = payload, False
            metadata["tool_type"] = kind
        if invalid:
            metadata["arguments_invalid_json"] = True
        steps.append(
            b.step(
                "tool_call",
                tool=name,
                call_id=b.optional_str(call, "id", cpath),
                arguments=arguments,
                timestamp=timestamp,
                metadata=metadata,
            )
        )
    legacy = b.optional_object(message, "function_call", path)
    if legacy is not None:
        fpath = b.key(path, "function_call")
        arguments, invalid = b.parse_arguments(legacy.get("arguments"))
        metadata = {"legacy_function_call": True}
        if invalid:
            metadata["arguments_invalid_json"] = True
        steps.append(
            b.step(
                "tool_call",
                tool=b.required_str(legacy, "name", fpath),
                arguments=arguments,
                timestamp=timestamp,
                metadata=metadata,
            )
        )
    return steps


def message_steps(message: Any, path: str, timestamp: Any = None) -> list[dict[str, Any]]:
    """The steps of one chat message, in the order the model produced them."""
    message = b.need_object(message, path)
    role = b.one_of(b.required_str(message, "role", path), ROLES, b.key(path, "role"))
    text, part_meta = content_text(message.get("content"), b.key(path, "content"))
    steps: list[dict[str, Any]] = []
    if role in ("system", "developer", "user"):
        meta = {"role": "developer"} if role == "developer" else {}
        steps.append(
            b.step("user" if role == "user" else "system", text, timestamp=timestamp, metadata=meta)
        )
    elif role == "tool":
        steps.append(
            b.step(
                "tool_result",
                text,
                call_id=b.required_str(message, "tool_call_id", path),
                timestamp=timestamp,
            )
        )
    elif role == "function":
        steps.append(
            b.step(
                "tool_result",
                text,
                tool=b.optional_str(message, "name", path),
                timestamp=timestamp,
                metadata={"legacy_function_call": True},
            )
        )
    else:
        steps.extend(reasoning_steps(message, path, timestamp))
        refusal = b.optional_str(message, "refusal", path)
        if text:
            steps.append(b.step("assistant", text, timestamp=timestamp))
        if refusal and refusal != text:
            steps.append(
                b.step("assistant", refusal, timestamp=timestamp, metadata={"refusal": True})
            )
        audio = b.optional_object(message, "audio", path)
        if audio is not None and audio.get("transcript") and not text:
            steps.append(b.step("assistant", str(audio["transcript"]), timestamp=timestamp))
        steps.extend(tool_call_steps(message, path, timestamp))
        if not steps:
            steps.append(b.step("assistant", "", timestamp=timestamp))
    extra = b.extras(message, ROLE_KEYS[role])
    if isinstance(extra.get("audio"), dict) and "data" in extra["audio"]:
        audio = dict(extra["audio"])
        audio["data"] = b.media("audio", data=str(audio["data"]))
        extra["audio"] = audio
    content_step = next((s for s in steps if s["kind"] != "reasoning"), steps[0])
    if part_meta:
        content_step.setdefault("metadata", {}).update(part_meta)
    b.add_metadata(steps, extra)
    return steps


def split(document: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any] | None, str]:
    """The request body and the response, with the paths they sit at in the document."""
    if isinstance(document.get("request"), dict):
        return (
            document["request"],
            "request",
            b.optional_object(document, "response", ""),
            "response",
        )
    if "choices" in document and "messages" not in document:  # a response object alone
        return {}, "", document, ""
    if "choices" in document:  # a request with the response's fields merged in
        response = {k: document[k] for k in RESPONSE_KEYS if k in document}
        request = {k: v for k, v in document.items() if k not in RESPONSE_KEYS}
        return request, "", response, ""
    return document, "", b.optional_object(document, "response", ""), "response"


class OpenAIChatFormat:
    """``messages`` with no Anthropic-only field: chat is the reading of plain text turns."""

    name = NAME

    def detect(self, document: Any) -> bool:
        if not isinstance(document, dict) or "steps" in document:
            return False
        if b.anthropic_markers(document):
            return False
        request = b.request_of(document)
        return isinstance(request.get("messages"), list) or b.chat_markers(document)

    def convert(self, document: Any) -> list[TraceDoc]:
        document = b.need_object(document, "")
        request, request_path, response, response_path = split(document)
        steps: list[dict[str, Any]] = []
        messages_path = b.key(request_path, "messages")
        for i, message in enumerate(b.optional_list(request, "messages", request_path)):
            steps.extend(message_steps(message, b.index(messages_path, i)))
        derived: dict[str, Any] = {}
        if request_path:
            derived["document"] = b.extras(
                document, ("request", "response", "metadata", *b.ENVELOPE_KEYS)
            )
        derived["request"] = b.extras(
            request, ("messages", "response", "metadata", *b.ENVELOPE_KEYS, *RESPONSE_KEYS)
        )
        model = b.optional_str(request, "model", request_path)
        external_id = ""
        created = None
        if response is not None:
            external_id = b.optional_str(response, "id", response_path)
            model = b.optional_str(response, "model", response_path) or model
            created = b.from_unix(response.get("created"), b.key(response_path, "created"))
            choices_path = b.key(response_path, "choices")
            choices = b.optional_list(response, "choices", response_path)
            response_meta = b.extras(response, ("choices",))
            if choices:
                choice_path = b.index(choices_path, 0)
                choice = b.need_object(choices[0], choice_path)
                message = b.required(choice, "message", choice_path)
                steps.extend(message_steps(message, b.key(choice_path, "message"), created))
                response_meta.update(b.extras(choice, ("message", "index")))
                if len(choices) > 1:
                    response_meta["other_choices"] = choices[1:]
            derived["response"] = response_meta
        metadata = b.user_metadata(request, request_path)
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


FORMAT = OpenAIChatFormat()
