"""OpenTelemetry GenAI spans in OTLP/JSON (``resourceSpans`` → ``scopeSpans`` → ``spans``).

One trace per trace id that has GenAI spans. Steps come from the messages of inference spans
(``gen_ai.input.messages`` at the span's start, ``gen_ai.output.messages`` at its end) and from
``execute_tool`` spans, merged in time order. Each inference call sends the whole conversation
again, so an input message already seen at the same position in an earlier call is not repeated;
likewise a tool call or result seen both in messages and in an ``execute_tool`` span appears once.
Agent spans (``invoke_agent``) repeat their children's messages and are read only when no
inference span carries any. Everything else a span holds is kept in the trace metadata.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from traces.formats import _build as b
from traces.schema import DocumentError, TraceDoc, decode_json

NAME = "otel_genai"
INPUT = "gen_ai.input.messages"
OUTPUT = "gen_ai.output.messages"
INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
CONTENT_KEYS = (INPUT, OUTPUT, INSTRUCTIONS, TOOL_ARGUMENTS, TOOL_RESULT)
# Content may be recorded on this event instead of on the span's own attributes.
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
AGENT_OPERATIONS = ("invoke_agent", "create_agent")
ROLE_KINDS = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool_result",
}
STATUS_ERROR = (2, "STATUS_CODE_ERROR")


class Attr(NamedTuple):
    value: Any
    path: str


@dataclass
class Span:
    trace_id: str
    span_id: str
    path: str
    order: int
    start: int
    end: int
    raw: dict[str, Any]
    attrs: dict[str, Attr]
    events: list[dict[str, Any]]
    resource: int
    scope: dict[str, Any]
    content: dict[str, Attr] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        attr = self.attrs.get(name)
        return None if attr is None else attr.value

    @property
    def operation(self) -> str:
        return str(self.get("gen_ai.operation.name") or "")

    @property
    def is_genai(self) -> bool:
        return any(k.startswith("gen_ai.") for k in self.attrs) or any(
            str(e.get("name", "")).startswith("gen_ai.") for e in self.events
        )

    @property
    def failed(self) -> bool:
        status = self.raw.get("status")
        return isinstance(status, dict) and status.get("code") in STATUS_ERROR


def any_value(value: Any, path: str) -> Any:
    """An OTLP/JSON ``AnyValue`` as plain JSON (int64 may arrive as a string)."""
    value = b.need_object(value, path)
    if "stringValue" in value:
        return b.need_str(value["stringValue"], b.key(path, "stringValue"))
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            raise DocumentError(b.key(path, "intValue"), "expected an integer") from None
    if "doubleValue" in value:
        try:
            return float(value["doubleValue"])
        except (TypeError, ValueError):
            raise DocumentError(b.key(path, "doubleValue"), "expected a number") from None
    if "arrayValue" in value:
        apath = b.key(b.key(path, "arrayValue"), "values")
        array = b.need_object(value["arrayValue"], b.key(path, "arrayValue"))
        return [
            any_value(v, b.index(apath, i))
            for i, v in enumerate(b.optional_list(array, "values", apath))
        ]
    if "kvlistValue" in value:
        kpath = b.key(path, "kvlistValue")
        kvlist = b.need_object(value["kvlistValue"], kpath)
        pairs = attributes(kvlist.get("values"), b.key(kpath, "values"))
        return {k: v.value for k, v in pairs.items()}
    if "bytesValue" in value:
        return b.need_str(value["bytesValue"], b.key(path, "bytesValue"))
    return None


def attributes(pairs: Any, path: str) -> dict[str, Attr]:
    out: dict[str, Attr] = {}
    for i, pair in enumerate([] if pairs is None else b.need_list(pairs, path)):
        ppath = b.index(path, i)
        pair = b.need_object(pair, ppath)
        name = b.required_str(pair, "key", ppath)
        vpath = b.key(ppath, "value")
        out[name] = Attr(
            None if pair.get("value") is None else any_value(pair["value"], vpath), vpath
        )
    return out


def parsed(attr: Attr) -> tuple[Any, str]:
    """A content attribute as structured JSON; spans may record it as a JSON string."""
    if not isinstance(attr.value, str):
        return attr.value, attr.path
    path = b.key(attr.path, "stringValue")
    return decode_json(attr.value, path), path


def read_spans(document: dict[str, Any]) -> tuple[list[Span], list[dict[str, Any]]]:
    """Every span of the export, with the resources they came from (referred to by index)."""
    spans: list[Span] = []
    resources: list[dict[str, Any]] = []
    for r, resource_spans in enumerate(
        b.need_list(b.required(document, "resourceSpans", ""), "resourceSpans")
    ):
        rpath = b.index("resourceSpans", r)
        resource_spans = b.need_object(resource_spans, rpath)
        resource = b.optional_object(resource_spans, "resource", rpath) or {}
        rattrs = attributes(
            resource.get("attributes"), b.key(b.key(rpath, "resource"), "attributes")
        )
        resources.append({k: v.value for k, v in rattrs.items()})
        for s, scope_spans in enumerate(b.optional_list(resource_spans, "scopeSpans", rpath)):
            spath = b.index(b.key(rpath, "scopeSpans"), s)
            scope_spans = b.need_object(scope_spans, spath)
            scope = b.optional_object(scope_spans, "scope", spath) or {}
            scope = {k: v for k, v in scope.items() if k in ("name", "version") and v}
            for n, raw in enumerate(b.optional_list(scope_spans, "spans", spath)):
                path = b.index(b.key(spath, "spans"), n)
                raw = b.need_object(raw, path)
                span = Span(
                    trace_id=b.required_str(raw, "traceId", path),
                    span_id=b.optional_str(raw, "spanId", path),
                    path=path,
                    order=len(spans),
                    start=nanos(raw.get("startTimeUnixNano"), b.key(path, "startTimeUnixNano")),
                    end=nanos(raw.get("endTimeUnixNano"), b.key(path, "endTimeUnixNano")),
                    raw=raw,
                    attrs=attributes(raw.get("attributes"), b.key(path, "attributes")),
                    events=[],
                    resource=r,
                    scope=scope,
                )
                for e, event in enumerate(b.optional_list(raw, "events", path)):
                    epath = b.index(b.key(path, "events"), e)
                    event = b.need_object(event, epath)
                    eattrs = attributes(event.get("attributes"), b.key(epath, "attributes"))
                    if event.get("name") == DETAILS_EVENT:
                        span.content.update({k: v for k, v in eattrs.items() if k in CONTENT_KEYS})
                    span.events.append(
                        {
                            **b.extras(event, ("attributes",)),
                            "attributes": {
                                k: v.value for k, v in eattrs.items() if k not in CONTENT_KEYS
                            },
                        }
                    )
                span.content.update({k: v for k, v in span.attrs.items() if k in CONTENT_KEYS})
                spans.append(span)
    return spans, resources


def nanos(value: Any, path: str) -> int:
    """A span time in nanoseconds, 0 when absent (such spans sort first, in document order)."""
    moment = b.from_unix_nano(value, path)
    return 0 if moment is None else int(value)


def moment(ns: int) -> datetime | None:
    return b.from_unix_nano(ns, "") if ns else None


def iso(ns: int) -> str | None:
    """Times in metadata as text: metadata is stored as plain JSON."""
    at = moment(ns)
    return at.isoformat() if at else None


def message_key(message: dict[str, Any]) -> bytes:
    """What makes two recordings of a message the same message: its role and its parts.

    Reasoning parts are left out: most clients do not send reasoning back to the model, so a turn
    recorded as output with its reasoning comes back as input without it.
    """
    parts = []
    for part in message.get("parts") or []:
        if isinstance(part, dict):
            if part.get("type") in ("reasoning", "thinking"):
                continue
            part = {k: v for k, v in part.items() if v is not None}
            if isinstance(part.get("arguments"), str):
                part["arguments"], _ = b.parse_arguments(part["arguments"])
        parts.append(part)
    return msgspec.json.encode({"role": message.get("role"), "parts": parts}, order="sorted")


def common_prefix(a: list[bytes], c: list[bytes]) -> int:
    n = 0
    for x, y in zip(a, c, strict=False):
        if x != y:
            break
        n += 1
    return n


class TraceBuilder:
    """Turns one trace's spans, in time order, into steps without repeats."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.contexts: list[list[bytes]] = []
        self.calls: dict[str, dict[str, Any]] = {}  # call id → its step
        self.results: set[str] = set()
        self.instructions: bytes | None = None
        self.tool_calls: dict[int, str] = {}  # execute_tool span → the call id it answers

    def messages(self, value: Any, path: str) -> list[dict[str, Any]]:
        messages = b.need_list(value, path)
        for i, message in enumerate(messages):
            mpath = b.index(path, i)
            message = b.need_object(message, mpath)
            b.required_str(message, "role", mpath)
            b.need_list(b.required(message, "parts", mpath), b.key(mpath, "parts"))
        return messages

    def on_input(self, span: Span) -> list[bytes]:
        """Steps for the messages a call was sent that earlier calls did not already show."""
        at = moment(span.start)
        if INSTRUCTIONS in span.content:
            value, path = parsed(span.content[INSTRUCTIONS])
            parts = b.need_list(value, path)
            key = msgspec.json.encode(parts, order="sorted")
            if key != self.instructions:
                self.instructions = key
                message = {"role": "system", "parts": parts}
                self.emit(message, path, span, at, prefix_parts=True)
        if INPUT not in span.content:
            return []
        value, path = parsed(span.content[INPUT])
        messages = self.messages(value, path)
        keys = [message_key(m) for m in messages]
        seen = max((common_prefix(keys, c) for c in self.contexts), default=0)
        for i in range(seen, len(messages)):
            self.emit(messages[i], b.index(path, i), span, at)
        return keys

    def on_output(self, span: Span, input_keys: list[bytes]) -> None:
        at = moment(span.end)
        output_keys: list[bytes] = []
        if OUTPUT in span.content:
            value, path = parsed(span.content[OUTPUT])
            messages = self.messages(value, path)
            if messages:
                first = len(self.steps)
                self.emit(messages[0], b.index(path, 0), span, at)
                output_keys = [message_key(messages[0])]
                if len(messages) > 1 and len(self.steps) > first:
                    b.add_metadata(self.steps[first:], {"other_choices": messages[1:]})
        self.contexts.append(input_keys + output_keys)

    def on_tool_start(self, span: Span) -> None:
        call_id = str(span.get("gen_ai.tool.call.id") or "")
        name = str(span.get("gen_ai.tool.name") or "")
        if not call_id:  # adopt the id of a call the model made to this tool, still unanswered
            call_id = next(
                (
                    cid
                    for cid, s in self.calls.items()
                    if s.get("tool") == name and cid not in self.results
                ),
                "",
            )
        self.tool_calls[span.order] = call_id
        if call_id and call_id in self.calls:
            return
        arguments = None
        if TOOL_ARGUMENTS in span.content:
            arguments, _ = b.parse_arguments(span.content[TOOL_ARGUMENTS].value)
        metadata = {"span_id": span.span_id}
        for attr in ("gen_ai.tool.type", "gen_ai.tool.description"):
            if span.get(attr) is not None:
                metadata[attr.removeprefix("gen_ai.")] = span.get(attr)
        self.add(
            b.step(
                "tool_call",
                tool=name,
                call_id=call_id,
                arguments=arguments,
                timestamp=moment(span.start),
                metadata=metadata,
            )
        )

    def on_tool_end(self, span: Span) -> None:
        call_id = self.tool_calls.pop(span.order, "")
        if call_id and call_id in self.results:
            return
        metadata: dict[str, Any] = {"span_id": span.span_id}
        if span.failed or span.get("error.type"):
            metadata["is_error"] = True
        if TOOL_RESULT in span.content:
            text = b.as_text(span.content[TOOL_RESULT].value)
        elif metadata.get("is_error"):
            status = span.raw.get("status") or {}
            text = str(status.get("message") or span.get("error.type") or "error")
        else:
            return  # result not captured: the next call's input may carry it
        if call_id:
            self.results.add(call_id)
        tool = str(span.get("gen_ai.tool.name") or "")
        self.add(
            b.step(
                "tool_result",
                text,
                tool=tool,
                call_id=call_id,
                timestamp=moment(span.end),
                metadata=metadata,
            )
        )

    def add(self, step: dict[str, Any]) -> None:
        self.steps.append(step)
        if step["kind"] == "tool_call" and step.get("call_id"):
            self.calls[step["call_id"]] = step
        if step["kind"] == "tool_result" and step.get("call_id"):
            self.results.add(step["call_id"])

    def emit(
        self, message: dict[str, Any], path: str, span: Span, at: Any, *, prefix_parts: bool = False
    ) -> None:
        """The steps of one message; ``prefix_parts`` when ``path`` already names the parts list."""
        role = str(message["role"])
        kind = ROLE_KINDS.get(role, "user")
        first = len(self.steps)
        parts_path = path if prefix_parts else b.key(path, "parts")
        for j, part in enumerate(message["parts"]):
            self.part(part, b.index(parts_path, j), kind, span, at)
        if len(self.steps) > first:
            extra = b.extras(message, ("role", "parts"))
            if role not in ROLE_KINDS:
                extra["role"] = role
            b.add_metadata(self.steps[first:], extra)

    def part(self, part: Any, path: str, kind: str, span: Span, at: Any) -> None:
        part = b.need_object(part, path)
        ptype = b.required_str(part, "type", path)
        meta = {"span_id": span.span_id}
        if ptype == "text":
            text = b.optional_str(part, "content", path)
            self.add(
                b.step(
                    kind,
                    text,
                    timestamp=at,
                    metadata={**meta, **b.extras(part, ("type", "content"))},
                )
            )
        elif ptype in ("reasoning", "thinking"):
            text = b.optional_str(part, "content", path)
            self.add(
                b.step(
                    "reasoning",
                    text,
                    timestamp=at,
                    metadata={**meta, **b.extras(part, ("type", "content"))},
                )
            )
        elif ptype in ("tool_call", "server_tool_call"):
            call_id = b.optional_str(part, "id", path)
            if call_id and call_id in self.calls:
                return
            payload = "server_tool_call" if ptype == "server_tool_call" else "arguments"
            arguments, invalid = b.parse_arguments(part.get(payload))
            meta.update(b.extras(part, ("type", "id", "name", payload)))
            if ptype == "server_tool_call":
                meta["server_tool"] = True
            if invalid:
                meta["arguments_invalid_json"] = True
            self.add(
                b.step(
                    "tool_call",
                    tool=b.required_str(part, "name", path),
                    call_id=call_id,
                    arguments=arguments,
                    timestamp=at,
                    metadata=meta,
                )
            )
        elif ptype in ("tool_call_response", "server_tool_call_response"):
            call_id = b.optional_str(part, "id", path)
            if call_id and call_id in self.results:
                return
            # The schema names the payload ``response``; earlier drafts and some SDKs ``result``.
            fields = (ptype,) if ptype == "server_tool_call_response" else ("response", "result")
            value = next((part[f] for f in fields if f in part), None)
            meta.update(b.extras(part, ("type", "id", *fields)))
            if ptype == "server_tool_call_response":
                meta["server_tool"] = True
            self.add(
                b.step(
                    "tool_result", b.as_text(value), call_id=call_id, timestamp=at, metadata=meta
                )
            )
        elif ptype in ("blob", "uri", "file", "file_data"):
            text = b.media(
                str(part.get("modality") or "file"),
                url=str(part.get("uri") or ""),
                media_type=str(part.get("mime_type") or ""),
                data=str(part.get("content") or "") if ptype == "blob" else "",
                name=str(part.get("file_id") or ""),
            )
            meta.update(b.extras(part, ("type", "content")))
            meta["placeholder"] = True
            self.add(b.step(kind, text, timestamp=at, metadata=meta))
        else:
            self.add(
                b.step(
                    kind,
                    f"[{ptype}]",
                    timestamp=at,
                    metadata={**meta, "placeholder": True, "part": part},
                )
            )


def span_summary(span: Span, several_resources: bool) -> dict[str, Any]:
    """What a span holds beyond its messages, for the trace metadata."""
    summary: dict[str, Any] = {
        "span_id": span.span_id,
        "parent_span_id": span.raw.get("parentSpanId") or None,
        "name": span.raw.get("name"),
        "kind": span.raw.get("kind"),
        "start": iso(span.start),
        "end": iso(span.end),
        "status": span.raw.get("status") or None,
        "scope": span.scope or None,
        "resource": span.resource if several_resources else None,
        "attributes": {k: v.value for k, v in span.attrs.items() if k not in CONTENT_KEYS},
        "events": span.events,
        "extra": b.extras(
            span.raw,
            (
                "traceId",
                "spanId",
                "parentSpanId",
                "name",
                "kind",
                "startTimeUnixNano",
                "endTimeUnixNano",
                "attributes",
                "events",
                "status",
            ),
        ),
    }
    return {k: v for k, v in summary.items() if v not in (None, {}, [], "")}


def trace_of(trace_id: str, spans: list[Span], resources: list[dict[str, Any]]) -> TraceDoc:
    """One trace id's spans as a trace: steps in time order, the spans themselves in metadata."""
    spans = sorted(spans, key=lambda s: (s.start, s.order))
    chats = [
        s
        for s in spans
        if s.operation not in AGENT_OPERATIONS and (INPUT in s.content or OUTPUT in s.content)
    ]
    readers = chats or [s for s in spans if INPUT in s.content or OUTPUT in s.content]
    tools = [s for s in spans if s.operation == "execute_tool"]
    # Moments in time order: a call's input at its start, its output at its end.
    moments: list[tuple[int, int, str, Span]] = []
    for s in readers:
        moments += [
            (s.start, 2 * s.order, "input", s),
            (s.end or s.start, 2 * s.order + 1, "output", s),
        ]
    for s in tools:
        moments += [
            (s.start, 2 * s.order, "tool_start", s),
            (s.end or s.start, 2 * s.order + 1, "tool_end", s),
        ]
    builder = TraceBuilder()
    inputs: dict[int, list[bytes]] = {}
    for _, _, what, span in sorted(moments, key=lambda m: (m[0], m[1])):
        if what == "input":
            inputs[span.order] = builder.on_input(span)
        elif what == "output":
            builder.on_output(span, inputs.pop(span.order, []))
        elif what == "tool_start":
            builder.on_tool_start(span)
        else:
            builder.on_tool_end(span)
    if not builder.steps:
        raise DocumentError(
            spans[0].path,
            f"trace {trace_id} has GenAI spans but no captured messages or tool calls "
            "(turn on content capture in the instrumentation)",
        )
    agents = list(
        dict.fromkeys(str(s.get("gen_ai.agent.name")) for s in spans if s.get("gen_ai.agent.name"))
    )
    models = list(
        dict.fromkeys(
            str(s.get("gen_ai.response.model") or s.get("gen_ai.request.model"))
            for s in spans
            if s.get("gen_ai.response.model") or s.get("gen_ai.request.model")
        )
    )
    used = sorted({s.resource for s in spans})
    several = len({msgspec.json.encode(resources[r], order="sorted") for r in used}) > 1
    metadata: dict[str, Any] = {
        "resource": resources[used[0]] if not several else None,
        "resources": {str(r): resources[r] for r in used} if several else None,
        "agents": agents if len(agents) > 1 else None,
        "models": models if len(models) > 1 else None,
        "spans": [span_summary(s, several) for s in spans],
    }
    starts = [s.start for s in spans if s.start]
    ends = [s.end for s in spans if s.end]
    return b.assemble(
        external_id=trace_id,
        steps=builder.steps,
        path=spans[0].path,
        agent=agents[0] if agents else "",
        model=models[0] if models else "",
        started_at=moment(min(starts)) if starts else None,
        ended_at=moment(max(ends)) if ends else None,
        metadata={k: v for k, v in metadata.items() if v not in (None, {}, [])},
    )


class OtelGenAIFormat:
    """An OTLP/JSON export: a top-level ``resourceSpans`` list."""

    name = NAME

    def detect(self, document: Any) -> bool:
        return isinstance(document, dict) and isinstance(document.get("resourceSpans"), list)

    def convert(self, document: Any) -> list[TraceDoc]:
        document = b.need_object(document, "")
        spans, resources = read_spans(document)
        by_trace: dict[str, list[Span]] = {}
        for span in spans:
            by_trace.setdefault(span.trace_id, []).append(span)
        traces = [
            trace_of(trace_id, members, resources)
            for trace_id, members in by_trace.items()
            if any(s.is_genai for s in members)
        ]
        if not traces:
            raise DocumentError(
                "resourceSpans", "no GenAI spans (no gen_ai.* attributes) in this export"
            )
        return traces


FORMAT = OtelGenAIFormat()
