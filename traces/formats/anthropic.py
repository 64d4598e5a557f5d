"""Anthropic Messages: ``system`` and ``messages`` of content blocks, plus the response message.

Accepted shapes: the request body (the response ``Message`` under ``response``),
``{"request": ..., "response": ...}``, or a response ``Message`` alone. Each content block becomes
one step, so thinking, text and tool use keep the order the model produced them in. Redacted
thinking becomes a visible placeholder step: a monitor must see that reasoning happened even when
it cannot read it.
"""

from typing import Any

from traces.formats import _build as b
from traces.schema import TraceDoc

NAME = "anthropic"
ROLES = ("user", "assistant")
TOOL_USE_TYPES = ("tool_use", "server_tool_use", "mcp_tool_use")


def media_text(kind: str, block: dict[str, Any]) -> str:
    """A placeholder for an image or document block, from its ``source``."""
    source = block.get("source") if isinstance(block.get("source"), dict) else {}
    title = str(block.get("title") or "")
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        heading = f"[{kind}: {title}]" if title else f"[{kind}]"
        return f"{heading}\n{source['data']}"
    return b.media(
        kind,
        url=str(source.get("url") or ""),
        media_type=str(source.get("media_type") or ""),
        data=str(source.get("data") or ""),
        name=title or str(source.get("file_id") or ""),
    )


def result_text(content: Any, path: str) -> str:
    """Tool result content: a string, or a list of blocks (text read, the rest as placeholders)."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        return b.as_text(content)
    texts = []
    for i, block in enumerate(content):
        bpath = b.index(path, i)
        block = b.need_object(block, bpath)
        kind = b.required_str(block, "type", bpath)
        if kind == "text":
            texts.append(b.required_str(block, "text", bpath))
        elif kind in ("image", "document"):
            texts.append(media_text(kind, block))
        elif kind == "search_result":
            texts.append(search_result_text(block, bpath))
        else:
            texts.append(b.as_text(block))
    return "\n".join(texts)


def search_result_text(block: dict[str, Any], path: str) -> str:
    body = result_text(block.get("content"), b.key(path, "content"))
    head = " ".join(str(block.get(k)) for k in ("title", "source") if block.get(k))
    return f"[search result: {head}]\n{body}" if head else body


def block_steps(block: Any, path: str, role: str, timestamp: Any = None) -> list[dict[str, Any]]:
    """One content block as steps; ``role`` is system, user or assistant."""
    block = b.need_object(block, path)
    kind = b.required_str(block, "type", path)
    text_kind = role
    if kind == "text":
        content = b.required_str(block, "text", path)
        return [
            b.step(
                text_kind, content, timestamp=timestamp, metadata=b.extras(block, ("type", "text"))
            )
        ]
    if kind == "thinking":
        return [
            b.step(
                "reasoning",
                b.required_str(block, "thinking", path),
                timestamp=timestamp,
                metadata=b.extras(block, ("type", "thinking")),
            )
        ]
    if kind == "redacted_thinking":
        return [
            b.step(
                "reasoning",
                "[redacted thinking: encrypted by the provider, not readable]",
                timestamp=timestamp,
                metadata={"placeholder": True, "readable": False, **b.extras(block, ("type",))},
            )
        ]
    if kind in TOOL_USE_TYPES:
        metadata = b.extras(block, ("type", "id", "name", "input"))
        if kind != "tool_use":
            metadata["block_type"] = kind
        return [
            b.step(
                "tool_call",
                tool=b.required_str(block, "name", path),
                call_id=b.required_str(block, "id", path),
                arguments=block.get("input"),
                timestamp=timestamp,
                metadata=metadata,
            )
        ]
    if kind == "tool_result" or kind.endswith("_tool_result"):
        metadata = b.extras(block, ("type", "tool_use_id", "content"))
        if kind != "tool_result":
            metadata["block_type"] = kind
        return [
            b.step(
                "tool_result",
                result_text(block.get("content"), b.key(path, "content")),
                call_id=b.required_str(block, "tool_use_id", path),
                timestamp=timestamp,
                metadata=metadata,
            )
        ]
    if kind in ("image", "document"):
        metadata = {"placeholder": True, **b.extras(block, ("type", "source", "title"))}
        source = block.get("source")
        if isinstance(source, dict):
            metadata["source"] = b.extras(source, ("data",))
        return [b.step(text_kind, media_text(kind, block), timestamp=timestamp, metadata=metadata)]
    if kind == "search_result":
        return [
            b.step(
                text_kind,
                search_result_text(block, path),
                timestamp=timestamp,
                metadata=b.extras(block, ("type", "content")),
            )
        ]
    return [
        b.step(
            text_kind,
            f"[{kind}]",
            timestamp=timestamp,
            metadata={"placeholder": True, "block": block},
        )
    ]


def content_steps(
    content: Any, path: str, role: str, timestamp: Any = None
) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [b.step(role, content, timestamp=timestamp)]
    steps = []
    for i, block in enumerate(b.need_list(content, path)):
        steps.extend(block_steps(block, b.index(path, i), role, timestamp))
    return steps


def message_steps(message: Any, path: str) -> list[dict[str, Any]]:
    """The steps of one message; its own fields besides role and content go on the first."""
    message = b.need_object(message, path)
    role = b.one_of(b.required_str(message, "role", path), ROLES, b.key(path, "role"))
    steps = content_steps(b.required(message, "content", path), b.key(path, "content"), role)
    if not steps:
        steps.append(b.step(role, ""))
    b.add_metadata(steps, b.extras(message, ("role", "content")))
    return steps


def is_message(document: dict[str, Any]) -> bool:
    """A response ``Message`` on its own."""
    return (
        document.get("type") == "message"
        and document.get("role") == "assistant"
        and isinstance(document.get("content"), list)
        and "model" in document
    )


def split(document: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any] | None, str]:
    """The request body and the response, with the paths they sit at in the document."""
    if isinstance(document.get("request"), dict):
        return (
            document["request"],
            "request",
            b.optional_object(document, "response", ""),
            "response",
        )
    if is_message(document):
        return {}, "", document, ""
    return document, "", b.optional_object(document, "response", ""), "response"


class AnthropicFormat:
    """``messages`` with a field only Anthropic has (``system``, thinking or tool blocks...)."""

    name = NAME

    def detect(self, document: Any) -> bool:
        if not isinstance(document, dict) or "steps" in document:
            return False
        if is_message(document):
            return True
        request = b.request_of(document)
        return (
            isinstance(request.get("messages"), list)
            and b.anthropic_markers(document)
            and not b.chat_markers(document)
        )

    def convert(self, document: Any) -> list[TraceDoc]:
        document = b.need_object(document, "")
        request, request_path, response, response_path = split(document)
        steps: list[dict[str, Any]] = []
        system = request.get("system")
        if system is not None:
            steps.extend(content_steps(system, b.key(request_path, "system"), "system"))
        messages_path = b.key(request_path, "messages")
        for i, message in enumerate(b.optional_list(request, "messages", request_path)):
            steps.extend(message_steps(message, b.index(messages_path, i)))
        derived: dict[str, Any] = {}
        if request_path:
            derived["document"] = b.extras(
                document, ("request", "response", "metadata", *b.ENVELOPE_KEYS)
            )
        derived["request"] = b.extras(
            request, ("messages", "system", "response", "metadata", *b.ENVELOPE_KEYS)
        )
        model = b.optional_str(request, "model", request_path)
        external_id = ""
        if response is not None:
            external_id = b.optional_str(response, "id", response_path)
            model = b.optional_str(response, "model", response_path) or model
            response_steps = content_steps(
                b.required(response, "content", response_path),
                b.key(response_path, "content"),
                "assistant",
            )
            steps.extend(response_steps or [b.step("assistant", "")])
            derived["response"] = b.extras(response, ("content",))
        metadata = b.user_metadata(request, request_path)
        if request_path or response is document:
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


FORMAT = AnthropicFormat()
