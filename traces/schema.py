"""The native trace format (DESIGN.md), as msgspec structs that decode and validate in one pass.

Every importer converts its format into these structs; everything after that (limits, masking,
storage) sees only them.
"""

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

StepKind = Literal["system", "user", "reasoning", "assistant", "tool_call", "tool_result"]
STEP_KINDS: tuple[str, ...] = StepKind.__args__

ShortText = Annotated[str, msgspec.Meta(max_length=255)]


class StepDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    kind: StepKind
    content: str = ""
    tool: ShortText = ""
    call_id: ShortText = ""
    arguments: Any = None
    timestamp: datetime | None = None
    token_count: Annotated[int, msgspec.Meta(ge=0)] | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class TraceDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    steps: Annotated[list[StepDoc], msgspec.Meta(min_length=1)]
    source: ShortText | None = None
    agent: ShortText = ""
    model: ShortText = ""
    task: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class DocumentError(ValueError):
    """A document that cannot be stored, with the path of the offending field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"field": self.path, "message": self.message}


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_ENUM = re.compile(r"Invalid enum value (?P<value>.+)")


def _join(path: str, field: str) -> str:
    if not path or not field:
        return path or field
    return f"{path}.{field}"


def document_error(exc: msgspec.ValidationError, prefix: str = "") -> DocumentError:
    """Turn msgspec's message into ``steps[3].kind: must be one of ...``."""
    match = _AT.match(str(exc))
    assert match is not None
    message = match["message"]
    path = _join(prefix, (match["path"] or "").lstrip("."))
    if m := _MISSING.fullmatch(message):
        return DocumentError(_join(path, m["field"]), "required")
    if m := _UNKNOWN.fullmatch(message):
        return DocumentError(_join(path, m["field"]), "unknown field")
    if (m := _ENUM.fullmatch(message)) and path.endswith(".kind"):
        return DocumentError(path, f"must be one of {', '.join(STEP_KINDS)} (got {m['value']})")
    return DocumentError(path, message[0].lower() + message[1:] if message else "invalid")


def decode_native(raw: bytes) -> TraceDoc:
    """Decode one native trace; raises DocumentError naming the field."""
    try:
        return normalise(msgspec.json.decode(raw, type=TraceDoc))
    except msgspec.ValidationError as exc:
        raise document_error(exc) from None
    except msgspec.DecodeError as exc:
        raise DocumentError("", f"invalid JSON: {exc}") from None


def convert_native(document: Any, path: str = "") -> TraceDoc:
    """Validate an already parsed document (a dict) as a native trace."""
    try:
        return normalise(msgspec.convert(document, type=TraceDoc))
    except msgspec.ValidationError as exc:
        raise document_error(exc, path) from None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def normalise(doc: TraceDoc) -> TraceDoc:
    """Times without a zone are taken as UTC, so the same trace always hashes the same."""
    doc.started_at = _aware(doc.started_at)
    doc.ended_at = _aware(doc.ended_at)
    for step in doc.steps:
        if step.timestamp is not None:
            step.timestamp = _aware(step.timestamp)
    return doc


def content_hash(doc: TraceDoc) -> str:
    """A hash of what the trace says, independent of key order, spacing and the source field."""
    source, doc.source = doc.source, None
    try:
        encoded = msgspec.json.encode(doc, order="sorted")
    finally:
        doc.source = source
    return hashlib.sha256(encoded).hexdigest()
