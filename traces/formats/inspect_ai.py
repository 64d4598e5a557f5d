"""Inspect AI eval logs: the ``.json`` log, and the zipped ``.eval`` log read into the same shape.

One trace per sample and epoch. Reasoning comes from ``ContentReasoning`` parts: the reasoning
itself, or its summary when the provider redacted it (OpenAI keeps reasoning encrypted; Inspect
then stores the summary beside it). The sample's scores, target and metadata go into the trace
metadata. A sample's ``events`` are not imported (they repeat the messages with every model
call's full input); the metadata says how many there were.
"""

import io
import struct
import zipfile
import zlib
from typing import Any

import zstandard

from traces.formats import _build as b
from traces.sanitize import repair_json_text
from traces.schema import DocumentError, TraceDoc, decode_json

NAME = "inspect"
ROLES = ("system", "user", "assistant", "tool")
ATTACHMENT = "attachment://"
MAX_ARCHIVE_BYTES = 1 << 30  # uncompressed; a larger "log" is more likely a zip bomb
# The zip method number of Zstandard, which current Inspect writes and Python's zipfile reads
# only from 3.14 on.
ZIP_ZSTANDARD = 93
LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name's and extra field's lengths
SAMPLE_MAPPED = (
    "id", "epoch", "input", "messages", "output", "scores", "metadata", "target", "choices",
    "started_at", "completed_at", "uuid", "attachments",
)  # fmt: skip
SAMPLE_NOT_IMPORTED = ("events", "events_data", "timelines")


def expanded_size(raw: bytes) -> int | None:
    """The bytes a zip's entries expand to as its directory declares them (reading an entry
    never yields more than its declared size), or None when it is no readable zip."""
    try:
        return sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(raw)).infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def read_eval_archive(raw: bytes) -> dict[str, Any]:
    """A ``.eval`` zip as the EvalLog document a ``.json`` log holds: header plus samples.

    Newer logs keep the header in ``header.json``; logs still being written only have
    ``_journal/start.json``; the oldest put ``start.json`` and ``results.json`` at the root.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        names = archive.namelist()
        if (expanded_size(raw) or 0) > MAX_ARCHIVE_BYTES:
            raise DocumentError("", f"archive expands past {MAX_ARCHIVE_BYTES} bytes")
        if "header.json" in names:
            header = entry(archive, "header.json")
        elif "_journal/start.json" in names:
            header = entry(archive, "_journal/start.json")
        elif "start.json" in names:
            header = entry(archive, "start.json")
            if "results.json" in names:
                header.update(entry(archive, "results.json"))
        else:
            raise DocumentError(
                "",
                "zip archive without header.json or _journal/start.json: not an Inspect .eval log",
            )
        samples = [
            entry(archive, name)
            for name in names
            if name.startswith("samples/") and name.endswith(".json") and name.count("/") == 1
        ]
    except zipfile.BadZipFile as exc:
        raise DocumentError("", f"not a readable zip archive: {exc}") from None
    except NotImplementedError as exc:  # a compression method neither zipfile nor we read
        raise DocumentError("", f"cannot read this .eval archive: {exc}") from None
    samples.sort(key=sample_order)
    return {**header, "samples": samples}


def entry(archive: zipfile.ZipFile, name: str) -> dict[str, Any]:
    """One JSON entry of the archive; its text repaired the way ingest repairs a JSON body."""
    text, _ = repair_json_text(member(archive, name))
    return b.need_object(decode_json(text, name), name)


def member(archive: zipfile.ZipFile, name: str) -> bytes:
    """The bytes of one entry, Zstandard-compressed ones included."""
    info = archive.getinfo(name)
    if info.compress_type != ZIP_ZSTANDARD:
        return archive.read(name)
    fp = archive.fp
    assert fp is not None
    fp.seek(info.header_offset)
    signature, name_length, extra_length = LOCAL_HEADER.unpack(fp.read(LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise DocumentError(name, "not a readable zip entry: bad local header")
    fp.seek(name_length + extra_length, io.SEEK_CUR)
    compressed = fp.read(info.compress_size)
    try:
        # Read at most one byte past the size the archive declares, whatever the data says.
        data = zstandard.ZstdDecompressor().stream_reader(compressed).read(info.file_size + 1)
    except zstandard.ZstdError as exc:
        raise DocumentError(name, f"not readable Zstandard data: {exc}") from None
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        raise DocumentError(name, "Zstandard data does not match the size and CRC declared")
    return data


def sample_order(sample: Any) -> tuple[Any, str]:
    """Inspect's own order: by epoch, then by id (numbers compared as numbers)."""
    if not isinstance(sample, dict):
        return (0, "")
    sid = sample.get("id")
    epoch = sample.get("epoch") if isinstance(sample.get("epoch"), int) else 0
    return (epoch, str(sid).zfill(20) if isinstance(sid, int) else str(sid))


def resolve(value: Any, attachments: dict[str, Any]) -> Any:
    """Put back content Inspect moved into the sample's ``attachments`` (``attachment://<hash>``)."""
    if isinstance(value, str):
        if value.startswith(ATTACHMENT):
            found = attachments.get(value[len(ATTACHMENT) :])
            return found if isinstance(found, str) else value
        return value
    if isinstance(value, list):
        return [resolve(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, attachments) for k, v in value.items()}
    return value


def reasoning_step(part: dict[str, Any], path: str) -> dict[str, Any]:
    """A ``ContentReasoning`` part; when redacted, its summary stands in for it if there is one."""
    reasoning = b.required_str(part, "reasoning", path)
    summary = b.optional_str(part, "summary", path)
    redacted = part.get("redacted") is True
    metadata = b.extras(part, ("type", "reasoning", "summary", "redacted"))
    if not redacted:
        if summary:
            metadata["summary"] = summary
        return b.step("reasoning", reasoning, metadata=metadata)
    metadata.update({"readable": False, "redacted": True})
    if reasoning:
        metadata["redacted_reasoning"] = reasoning
    if summary:
        return b.step("reasoning", summary, metadata={**metadata, "is_summary": True})
    placeholder = "[redacted reasoning: encrypted by the provider, not readable]"
    return b.step("reasoning", placeholder, metadata={**metadata, "placeholder": True})


def content_steps(content: Any, path: str, kind: str) -> list[dict[str, Any]]:
    """Message content; text parts in a row become one step, the rest their own steps."""
    if isinstance(content, str):
        return [b.step(kind, content)]
    steps: list[dict[str, Any]] = []
    texts: list[str] = []
    text_meta: dict[str, Any] = {}

    def flush() -> None:
        if texts:
            steps.append(b.step(kind, "\n".join(texts), metadata=dict(text_meta)))
            texts.clear()
            text_meta.clear()

    for i, part in enumerate(b.need_list(content, path)):
        ppath = b.index(path, i)
        part = b.need_object(part, ppath)
        ptype = b.required_str(part, "type", ppath)
        if ptype == "text":
            texts.append(b.required_str(part, "text", ppath))
            if part.get("refusal"):
                text_meta["refusal"] = True
            for field in ("citations", "internal"):
                if part.get(field) is not None:
                    text_meta.setdefault(field, []).append(part[field])
        elif ptype in ("image", "audio", "video", "document"):
            source = str(part.get(ptype) or "")
            texts.append(b.media(ptype, url=source, name=str(part.get("filename") or "")))
        elif ptype == "reasoning":
            flush()
            steps.append(reasoning_step(part, ppath))
        elif ptype == "tool_use":  # a tool the provider ran itself (web search, MCP, code)
            flush()
            call_id = b.required_str(part, "id", ppath)
            arguments, invalid = b.parse_arguments(part.get("arguments"))
            meta = b.extras(part, ("type", "id", "name", "arguments", "result", "error"))
            if invalid:
                meta["arguments_invalid_json"] = True
            steps.append(
                b.step(
                    "tool_call",
                    tool=b.required_str(part, "name", ppath),
                    call_id=call_id,
                    arguments=arguments,
                    metadata=meta,
                )
            )
            error = part.get("error")
            steps.append(
                b.step(
                    "tool_result",
                    b.as_text(part.get("result") if error is None else error),
                    call_id=call_id,
                    metadata={"is_error": True} if error is not None else {},
                )
            )
        else:  # ContentData and whatever comes next: provider payloads, kept as they are
            flush()
            steps.append(
                b.step(kind, f"[{ptype}]", metadata={"placeholder": True, "content": part})
            )
    flush()
    return steps


def message_steps(message: Any, path: str) -> list[dict[str, Any]]:
    """The steps of one ChatMessage; its id, source and metadata go on the first."""
    message = b.need_object(message, path)
    role = b.one_of(b.required_str(message, "role", path), ROLES, b.key(path, "role"))
    content = b.required(message, "content", path)
    cpath = b.key(path, "content")
    steps: list[dict[str, Any]] = []
    known: tuple[str, ...] = ("role", "content")
    if role == "tool":
        error = b.optional_object(message, "error", path)
        text = "\n".join(
            s["content"] for s in content_steps(content, cpath, "tool_result") if s["content"]
        )
        steps.append(
            b.step(
                "tool_result",
                text,
                tool=b.optional_str(message, "function", path),
                call_id=b.optional_str(message, "tool_call_id", path),
                metadata={"error": error, "is_error": True} if error else {},
            )
        )
        known = ("role", "content", "function", "tool_call_id", "error")
    elif role == "assistant":
        legacy = b.optional_str(message, "reasoning", path)  # logs before ContentReasoning
        if legacy:
            steps.append(b.step("reasoning", legacy))
        steps.extend(content_steps(content, cpath, "assistant"))
        for i, call in enumerate(b.optional_list(message, "tool_calls", path)):
            tpath = b.index(b.key(path, "tool_calls"), i)
            call = b.need_object(call, tpath)
            steps.append(
                b.step(
                    "tool_call",
                    tool=b.required_str(call, "function", tpath),
                    call_id=b.required_str(call, "id", tpath),
                    arguments=call.get("arguments"),
                    metadata=b.extras(call, ("id", "function", "arguments", "type")),
                )
            )
        known = ("role", "content", "reasoning", "tool_calls")
    else:
        steps.extend(content_steps(content, cpath, role))
    if not steps:
        steps.append(b.step("tool_result" if role == "tool" else role, ""))
    b.add_metadata(steps, b.extras(message, known))
    return steps


def sample_trace(sample: Any, path: str, header: dict[str, Any]) -> TraceDoc:
    """One sample at one epoch as a trace, with the eval it belongs to in its metadata."""
    sample = b.need_object(sample, path)
    sample_id = b.required(sample, "id", path)
    if isinstance(sample_id, bool) or not isinstance(sample_id, int | str):
        raise DocumentError(
            b.key(path, "id"), f"expected `int` or `str`, got `{b.json_type(sample_id)}`"
        )
    epoch = sample.get("epoch", 1)
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise DocumentError(b.key(path, "epoch"), f"expected `int`, got `{b.json_type(epoch)}`")
    attachments = sample.get("attachments") or {}
    b.need_object(attachments, b.key(path, "attachments"))
    sample = {k: resolve(v, attachments) for k, v in sample.items() if k != "attachments"}

    messages = b.optional_list(sample, "messages", path)
    steps: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        steps.extend(message_steps(message, b.index(b.key(path, "messages"), i)))
    output = b.optional_object(sample, "output", path) or {}
    choices = b.optional_list(output, "choices", b.key(path, "output"))
    if not messages:  # a log without the conversation: its input, then the model's answer
        sample_input = sample.get("input")
        if isinstance(sample_input, str):
            steps.append(b.step("user", sample_input))
        else:
            for i, message in enumerate(b.optional_list(sample, "input", path)):
                steps.extend(message_steps(message, b.index(b.key(path, "input"), i)))
        if choices:
            cpath = b.index(b.key(b.key(path, "output"), "choices"), 0)
            choice = b.need_object(choices[0], cpath)
            steps.extend(
                message_steps(b.required(choice, "message", cpath), b.key(cpath, "message"))
            )

    spec = header["eval"]
    run = spec.get("eval_id") or spec.get("run_id") or spec.get("task") or "inspect"
    task_input = sample.get("input")
    output_meta = b.extras(output, ("choices", "completion"))
    if choices and isinstance(choices[0], dict):
        output_meta.update(b.extras(choices[0], ("message",)))
    metadata = {
        "eval": spec,
        "eval_status": header.get("status"),
        "sample_id": sample_id,
        "epoch": epoch,
        "sample_uuid": sample.get("uuid"),
        "target": sample.get("target"),
        "choices": sample.get("choices"),
        "scores": sample.get("scores"),
        "sample_metadata": sample.get("metadata"),
        "output": output_meta,
        "sample_extra": b.extras(sample, (*SAMPLE_MAPPED, *SAMPLE_NOT_IMPORTED)),
        "not_imported": {
            k: len(sample[k]) if isinstance(sample[k], list | dict) else 1
            for k in SAMPLE_NOT_IMPORTED
            if sample.get(k)
        },
    }
    return b.assemble(
        external_id=f"{run}/{sample_id}/{epoch}",
        steps=steps,
        path=path,
        agent=agent_name(header),
        model=str(spec.get("model") or ""),
        task=task_input if isinstance(task_input, str) else "",
        started_at=sample.get("started_at"),
        ended_at=sample.get("completed_at"),
        metadata={k: v for k, v in metadata.items() if v not in (None, {}, [])},
    )


def agent_name(header: dict[str, Any]) -> str:
    """The solver that ran the sample: the eval's own, else the plan's steps."""
    solver = header["eval"].get("solver")
    if isinstance(solver, str) and solver:
        return solver[: b.MAX_ID_LENGTH]
    plan = header.get("plan") if isinstance(header.get("plan"), dict) else {}
    steps = plan.get("steps") if isinstance(plan.get("steps"), list) else []
    names = [str(s["solver"]) for s in steps if isinstance(s, dict) and s.get("solver")]
    return ", ".join(names)[: b.MAX_ID_LENGTH]


class InspectFormat:
    """An EvalLog: an ``eval`` spec naming its ``task``, with the ``samples``."""

    name = NAME

    def detect(self, document: Any) -> bool:
        return (
            isinstance(document, dict)
            and isinstance(document.get("eval"), dict)
            and "task" in document["eval"]
            and "steps" not in document
        )

    def convert(self, document: Any) -> list[TraceDoc]:
        document = b.need_object(document, "")
        spec = b.need_object(b.required(document, "eval", ""), "eval")
        b.required_str(spec, "task", "eval")
        samples = b.optional_list(document, "samples", "")
        if not samples:
            raise DocumentError(
                "samples",
                "no samples in this log (written with log_samples=False, or still running)",
            )
        header = {**document, "eval": spec}
        return [sample_trace(s, b.index("samples", i), header) for i, s in enumerate(samples)]


FORMAT = InspectFormat()
