"""The native trace format (DESIGN.md), as msgspec structs that decode and validate in one pass.

Every importer converts its format into these structs; everything after that (limits, masking,
storage) sees only them.
"""

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

StepKind = Literal["system", "user", "reasoning", "assistant", "tool_call", "tool_result"]
STEP_KINDS: tuple[str, ...] = StepKind.__args__

ShortText = Annotated[str, msgspec.Meta(max_length=255)]
# A step's token count is stored in a 32-bit integer column.
TokenCount = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]

# Times are kept within a day of the ends of Python's calendar (years 1 to 9999), so that every
# stored time can be read back and shown in any time zone.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)

# Free-form JSON (arguments, metadata, whole documents of other formats) is walked recursively by
# masking, importers and the database driver's reader: no deeper than this, well inside Python's
# recursion limit.
MAX_DEPTH = 100


class StepDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    kind: StepKind
    content: str = ""
    tool: ShortText = ""
    call_id: ShortText = ""
    arguments: Any = None
    timestamp: datetime | None = None
    token_count: TokenCount | None = None
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

    MAX_MESSAGE = 500  # a message may quote the input; an answer never repeats much of it

    def __init__(self, path: str, message: str) -> None:
        if len(message) > self.MAX_MESSAGE:
            message = message[: self.MAX_MESSAGE] + "…"
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
    except RecursionError:
        raise too_deep(raw) from None


def decode_json(raw: bytes | str, path: str = "", *, check: bool = True) -> Any:
    """Decode JSON of any shape, no deeper than ``MAX_DEPTH`` (checked unless ``check`` is
    false, for a caller that checks later); raises DocumentError."""
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise DocumentError(path, f"invalid JSON: {exc}") from None
    except RecursionError:
        raise too_deep(raw, path) from None
    if check:
        check_depth(document, path)
    return document


def convert_native(document: Any, path: str = "") -> TraceDoc:
    """Validate an already parsed document (a dict) as a native trace."""
    try:
        return normalise(msgspec.convert(document, type=TraceDoc), path)
    except msgspec.ValidationError as exc:
        raise document_error(exc, path) from None


def _time(value: datetime | None, path: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value <= LATEST:
        raise DocumentError(
            path, f"{value.isoformat()} is out of range ({EARLIEST.date()} to {LATEST.date()})"
        )
    return value


def normalise(doc: TraceDoc, path: str = "") -> TraceDoc:
    """Check what the types alone do not (time ranges, nesting depth), naming the field.

    Depth counts from the top of the trace, as it would be sent in the native format. Times
    without a zone are taken as UTC, so the same trace always hashes the same.
    """
    doc.started_at = _time(doc.started_at, _join(path, "started_at"))
    doc.ended_at = _time(doc.ended_at, _join(path, "ended_at"))
    check_depth(doc.metadata, _join(path, "metadata"), MAX_DEPTH - 1)
    for i, step in enumerate(doc.steps):
        at = _join(path, f"steps[{i}]")
        step.timestamp = _time(step.timestamp, f"{at}.timestamp")
        # the trace, its steps and the step hold these three levels down
        check_depth(step.arguments, f"{at}.arguments", MAX_DEPTH - 3)
        check_depth(step.metadata, f"{at}.metadata", MAX_DEPTH - 3)
    return doc


def check_depth(value: Any, path: str = "", limit: int = MAX_DEPTH) -> None:
    """Refuse a value with arrays or objects nested more than ``limit`` deep, naming where."""
    if not isinstance(value, dict | list):
        return
    # (container, its depth, its parent's entry, its key in the parent); paths built on failure
    stack: list[tuple[Any, int, Any, str | int]] = [(value, 1, None, "")]
    while stack:
        entry = stack.pop()
        container, depth = entry[0], entry[1]
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, item in items:
            if isinstance(item, dict | list):
                if depth == limit:
                    raise DocumentError(_entry_path(path, (item, 0, entry, key)), _deep())
                stack.append((item, depth + 1, entry, key))


def _entry_path(prefix: str, entry: tuple[Any, int, Any, str | int]) -> str:
    keys: list[str | int] = []
    while entry[2] is not None:
        keys.append(entry[3])
        entry = entry[2]
    return _path(prefix, reversed(keys))


def _path(prefix: str, keys: Iterable[str | int]) -> str:
    path = prefix
    for key in keys:
        path = f"{path}[{key}]" if isinstance(key, int) else _join(path, key)
    return path


def _deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]', re.DOTALL)


def too_deep(raw: bytes | str, prefix: str = "") -> DocumentError:
    """The error for JSON text too deep to decode, naming where it first passes ``MAX_DEPTH``.

    Only called once decoding has failed, so this slower scan costs nothing on good input.
    """
    if isinstance(raw, str):
        raw = raw.encode(errors="surrogatepass")
    keys: list[str | int] = []  # per open container: the key or index being read
    last_string = b'""'
    for match in _JSON_TOKEN.finditer(raw):
        token = match[0]
        if token[:1] == b'"':
            last_string = token
        elif token in (b"{", b"["):
            if len(keys) == MAX_DEPTH:
                return DocumentError(_path(prefix, keys), _deep())
            keys.append(0 if token == b"[" else "")
        elif token in (b"}", b"]"):
            if keys:
                keys.pop()
        elif token == b":" and keys:
            keys[-1] = last_string[1:-1].decode(errors="replace")  # escapes shown as written
        elif token == b"," and keys and isinstance(keys[-1], int):
            keys[-1] += 1
    return DocumentError(prefix, _deep())


def content_hash(doc: TraceDoc) -> str:
    """A hash of what the trace says, independent of key order, spacing and the source field."""
    source, doc.source = doc.source, None
    try:
        encoded = msgspec.json.encode(doc, order="sorted")
    finally:
        doc.source = source
    return hashlib.sha256(encoded).hexdigest()
