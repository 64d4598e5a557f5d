"""Writes to the trace store: ingest (one trace or thousands) and API tokens.

Ingest is idempotent on (source, external_id): the same trace again changes nothing, a different
trace under the same id is a conflict unless replacing is asked for. A batch is stored in one
transaction with bulk inserts (PostgreSQL ``COPY`` for steps); a document that fails stores nothing
of itself and does not stop the others.
"""

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import msgspec
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction

from traces.formats import read_document
from traces.models import ApiToken, Source, Step, Trace, hash_token
from traces.sanitize import (
    SECRET_RULES,
    SecretRule,
    mask_document,
    repair_json_text,
    rules_for_json,
)
from traces.schema import DocumentError, TraceDoc, content_hash
from traces.signals import traces_ingested

Status = Literal["created", "unchanged", "replaced", "conflict", "invalid"]

# Documents (stored or failed) held before a batch is written and its results handed on.
BATCH_DOCUMENTS = 1000


@dataclass
class IngestResult:
    """The outcome for one trace of a request: its id, or why it was not stored."""

    line: int
    status: Status
    external_id: str | None = None
    id: int | None = None
    error: DocumentError | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("created", "unchanged", "replaced")

    def as_dict(self) -> dict:
        out: dict = {"line": self.line, "status": self.status}
        if self.external_id is not None:
            out["external_id"] = self.external_id
        if self.id is not None:
            out["id"] = self.id
        if self.error is not None:
            out["error"] = str(self.error)
            out["field"] = self.error.path
        return out


@dataclass
class Parsed:
    """A decoded trace waiting to be stored, with where it came from."""

    line: int
    doc: TraceDoc
    source: Source
    altered: bool
    secret_rules: tuple[SecretRule, ...] = SECRET_RULES  # those whose triggers the source holds
    hash: str = ""
    secrets_masked: int | None = None  # counted once, so a retried batch keeps the count

    def prepare(self) -> None:
        """Mask secrets, then give argument-only tool calls their text; done once per trace."""
        if self.secrets_masked is None:
            enabled = settings.TRACEWATCH_MASK_SECRETS
            self.secrets_masked = mask_document(self.doc, self.secret_rules) if enabled else 0
            fill_tool_call_content(self.doc)


def fill_tool_call_content(doc: TraceDoc) -> None:
    """A tool call sent without content gets its arguments, pretty-printed, as content.

    Spans (detector flags, people's selections) are offsets into a step's content; this gives
    the arguments of a call a stored text that spans can point into and the viewer can show.
    """
    for step in doc.steps:
        if step.kind == "tool_call" and not step.content and step.arguments is not None:
            # The same text as json.dumps(indent=2, ensure_ascii=False), several times faster.
            step.content = msgspec.json.format(
                msgspec.json.encode(step.arguments), indent=2
            ).decode()


def check_limits(doc: TraceDoc) -> None:
    """Enforce the configured size limits, naming the field that broke one."""
    max_steps = settings.TRACEWATCH_MAX_STEPS_PER_TRACE
    if len(doc.steps) > max_steps:
        raise DocumentError("steps", f"{len(doc.steps)} steps; at most {max_steps} per trace")
    max_chars = settings.TRACEWATCH_MAX_STEP_CHARS
    for i, step in enumerate(doc.steps):
        if len(step.content) > max_chars:
            raise DocumentError(
                f"steps[{i}].content", f"{len(step.content)} characters; at most {max_chars}"
            )


def parse(
    raw: bytes,
    *,
    line: int,
    format: str | None,
    source_for: "SourceResolver",
) -> list[Parsed]:
    """Decode one document into traces ready to store; raises DocumentError."""
    # Archives (Inspect's .eval) are repaired file by file by their format, not as one text.
    is_json_text = raw.lstrip()[:1] in (b"{", b"[")
    repaired, replaced = repair_json_text(raw) if is_json_text else (raw, 0)
    docs = read_document(repaired, format=format)
    rules = rules_for_json(repaired) if is_json_text else SECRET_RULES
    parsed = []
    for doc in docs:
        check_limits(doc)
        parsed.append(
            Parsed(
                line=line, doc=doc, source=source_for(doc), altered=replaced > 0, secret_rules=rules
            )
        )
    return parsed


class SourceResolver:
    """Decides which source a trace belongs to.

    With ``fixed`` (an ingest token's source) every trace goes there, and a trace naming another
    source is refused. Otherwise the trace's own ``source`` field is used, then ``default``;
    sources named that way are created on first use when ``create`` is set.
    """

    def __init__(
        self, *, fixed: Source | None = None, default: str | None = None, create: bool = False
    ) -> None:
        self.fixed = fixed
        self.default = default
        self.create = create
        self._cache: dict[str, Source] = {}

    def __call__(self, doc: TraceDoc) -> Source:
        if self.fixed is not None:
            if doc.source not in (None, "", self.fixed.slug):
                raise DocumentError(
                    "source", f"this token ingests into {self.fixed.slug!r}, not {doc.source!r}"
                )
            return self.fixed
        slug = self.default or doc.source
        if not slug:
            raise DocumentError("source", "required (name it in the trace or with --source)")
        if slug not in self._cache:
            source = Source.objects.filter(slug=slug).first()
            if source is None:
                if not self.create:
                    raise DocumentError("source", f"no source named {slug!r}")
                source, _ = Source.objects.get_or_create(slug=slug)
            self._cache[slug] = source
        return self._cache[slug]


def ingest_documents(
    *,
    documents: Iterable[tuple[int, bytes]],
    source_for: SourceResolver,
    format: str | None = None,
    replace: bool = False,
    batch_steps: int | None = None,
) -> Iterator[IngestResult]:
    """Ingest numbered raw documents, yielding one result per trace as each batch commits.

    Batches are cut by step count (``TRACEWATCH_INGEST_BATCH_STEPS`` unless given) and by
    document count (``BATCH_DOCUMENTS``, failed ones included), so memory stays bounded however
    many documents come in.
    """
    batch_steps = batch_steps or settings.TRACEWATCH_INGEST_BATCH_STEPS
    batch: list[Parsed] = []
    invalid: list[IngestResult] = []
    steps_in_batch = 0
    for line, raw in documents:
        try:
            parsed = parse(raw, line=line, format=format, source_for=source_for)
        except DocumentError as error:
            invalid.append(IngestResult(line=line, status="invalid", error=error))
            parsed = []
        batch.extend(parsed)
        steps_in_batch += sum(len(p.doc.steps) for p in parsed)
        if steps_in_batch >= batch_steps or len(batch) + len(invalid) >= BATCH_DOCUMENTS:
            yield from sorted(store(batch, replace=replace) + invalid, key=lambda r: r.line)
            batch, invalid, steps_in_batch = [], [], 0
    yield from sorted(store(batch, replace=replace) + invalid, key=lambda r: r.line)


def store(batch: list[Parsed], *, replace: bool) -> list[IngestResult]:
    """Store a batch in one transaction, retrying when a concurrent ingest wins a race."""
    if not batch:
        return []
    for p in batch:
        p.hash = p.hash or content_hash(p.doc)
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _store_once(batch, replace=replace)
        except IntegrityError:
            # Another request stored one of these external ids first; the next attempt sees it.
            if attempt == 2:
                raise
        except DataError as exc:
            # A value the checks at the edge let through and the database refuses: the batch
            # was rolled back, so store its documents one by one and keep every good one.
            if len(batch) > 1:
                return [result for p in batch for result in store([p], replace=replace)]
            refused = DocumentError("", f"the database refused a value: {exc}".strip())
            p = batch[0]
            return [IngestResult(p.line, "invalid", p.doc.external_id, error=refused)]
    raise AssertionError("unreachable")


def _store_once(batch: list[Parsed], *, replace: bool) -> list[IngestResult]:
    existing = _existing(batch)
    results: list[IngestResult | None] = [None] * len(batch)
    first_in_batch: dict[tuple[int, str], int] = {}
    to_create: list[int] = []
    to_replace: list[tuple[int, int]] = []  # (batch position, trace id)
    for i, p in enumerate(batch):
        key = (p.source.pk, p.doc.external_id)
        ext = p.doc.external_id
        if key in first_in_batch:
            j = first_in_batch[key]
            if batch[j].hash == p.hash:
                results[i] = IngestResult(line=p.line, status="unchanged", external_id=ext)
            else:
                results[i] = _conflict(p, f"differs from the trace on line {batch[j].line}")
            continue
        first_in_batch[key] = i
        if key not in existing:
            to_create.append(i)
            continue
        trace_id, stored_hash = existing[key]
        if stored_hash == p.hash:
            results[i] = IngestResult(line=p.line, status="unchanged", external_id=ext, id=trace_id)
        elif replace:
            to_replace.append((i, trace_id))
        else:
            results[i] = _conflict(p, "a different trace is stored under this id (use replace)")

    trace_ids: dict[int, int] = dict(to_replace)  # batch position -> trace id
    for i in [*trace_ids, *to_create]:
        batch[i].prepare()
    if to_replace:
        _replace_traces([(batch[i], trace_id) for i, trace_id in to_replace])
    if to_create:
        created = _create_traces([batch[i] for i in to_create])
        trace_ids.update(zip(to_create, created, strict=True))
    _insert_steps([(trace_id, batch[i].doc) for i, trace_id in trace_ids.items()])
    if trace_ids:
        stored = list(trace_ids.values())
        transaction.on_commit(
            lambda: traces_ingested.send(sender=Trace, trace_ids=stored), robust=True
        )
    for i, trace_id in trace_ids.items():
        status: Status = "created" if i in to_create else "replaced"
        results[i] = IngestResult(
            line=batch[i].line, status=status, external_id=batch[i].doc.external_id, id=trace_id
        )
    for i, p in enumerate(batch):  # a repeat inside the batch fares as the first one did
        result, first = results[i], results[first_in_batch[(p.source.pk, p.doc.external_id)]]
        if result is not None and result.status == "unchanged" and result.id is None:
            assert first is not None
            if first.status == "conflict":
                results[i] = _conflict(p, f"the same as line {first.line}, which conflicts")
            else:
                result.id = first.id
    return [r for r in results if r is not None]


def _conflict(p: Parsed, message: str) -> IngestResult:
    return IngestResult(
        line=p.line,
        status="conflict",
        external_id=p.doc.external_id,
        error=DocumentError("external_id", message),
    )


def _existing(batch: list[Parsed]) -> dict[tuple[int, str], tuple[int, str]]:
    by_source: dict[int, set[str]] = {}
    for p in batch:
        by_source.setdefault(p.source.pk, set()).add(p.doc.external_id)
    found = {}
    for source_id, external_ids in by_source.items():
        rows = Trace.objects.filter(source_id=source_id, external_id__in=external_ids).values_list(
            "external_id", "id", "content_hash"
        )
        for external_id, trace_id, stored_hash in rows:
            found[(source_id, external_id)] = (trace_id, stored_hash)
    return found


def _trace_fields(p: Parsed) -> dict:
    doc = p.doc
    return {
        "agent": doc.agent,
        "model": doc.model,
        "task": doc.task,
        "started_at": doc.started_at,
        "ended_at": doc.ended_at,
        "metadata": doc.metadata,
        "content_hash": p.hash,
        "step_count": len(doc.steps),
        "altered": p.altered,
        "secrets_masked": p.secrets_masked,
        "detection_state": Trace.DetectionState.PENDING,
        "max_severity": 0,
        "search_indexed": False,
    }


def _create_traces(parsed: list[Parsed]) -> list[int]:
    traces = [
        Trace(source=p.source, external_id=p.doc.external_id, **_trace_fields(p)) for p in parsed
    ]
    Trace.objects.bulk_create(traces)
    return [t.pk for t in traces]


def _replace_traces(pairs: list[tuple[Parsed, int]]) -> None:
    Step.objects.filter(trace_id__in=[trace_id for _, trace_id in pairs]).delete()
    for p, trace_id in pairs:
        Trace.objects.filter(pk=trace_id).update(**_trace_fields(p))


STEP_COLUMNS = (
    "trace_id",
    "index",
    "kind",
    "content",
    "tool",
    "call_id",
    "arguments",
    "timestamp",
    "token_count",
    "metadata",
)


def _json_text(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _insert_steps(traces: list[tuple[int, TraceDoc]]) -> None:
    if not traces:
        return
    if connection.vendor == "postgresql":
        _copy_steps(traces)
        return
    Step.objects.bulk_create(
        (
            Step(
                trace_id=trace_id,
                index=index,
                kind=s.kind,
                content=s.content,
                tool=s.tool,
                call_id=s.call_id,
                arguments=s.arguments,
                timestamp=s.timestamp,
                token_count=s.token_count,
                metadata=s.metadata,
            )
            for trace_id, doc in traces
            for index, s in enumerate(doc.steps)
        ),
        batch_size=2000,
    )


def _copy_steps(traces: list[tuple[int, TraceDoc]]) -> None:
    table = Step._meta.db_table
    sql = f"COPY {table} ({', '.join(STEP_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for trace_id, doc in traces:
            for index, s in enumerate(doc.steps):
                copy.write_row(
                    (
                        trace_id,
                        index,
                        s.kind,
                        s.content,
                        s.tool,
                        s.call_id,
                        None if s.arguments is None else _json_text(s.arguments),
                        s.timestamp,
                        s.token_count,
                        _json_text(s.metadata),
                    )
                )


def issue_token(
    *, scope: str, source: Source | None = None, name: str = ""
) -> tuple[ApiToken, str]:
    """Create an API token and return it with its raw key, which is shown once and never stored."""
    if scope == ApiToken.Scope.INGEST and source is None:
        raise ValueError("an ingest token needs a source")
    raw = ApiToken.PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name, prefix=raw[:10], key_hash=hash_token(raw), scope=scope, source=source
    )
    return token, raw
