"""Making an export: record the request, write the file, publish it as a numbered version.

The file is written in a work folder beside the published ones and moved into place whole; the
version number is given in the same transaction that marks the export done. A failure at any
point leaves the request failed, with its error, and no version: readers never see half a file.
"""

import hashlib
import logging
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import msgspec
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from redis.exceptions import RedisError

from review import audit
from review.datasets.card import Tally, render_card
from review.datasets.formats import ExportFile, file_extension
from review.datasets.rows import Pseudonyms, dataset_rows, matches_any
from review.datasets.spec import Spec, SpecError
from review.models import AuditEntry, Category, Dataset, DatasetVersion, Queue
from traces.models import ApiToken, Source

logger = logging.getLogger(__name__)


# What the audit log keeps of an export request: everything it was asked for.
AUDITED_SPEC = ("filters", "format", "compression", "split", "context_steps")
NOTHING_MATCHES = "no labeled item matches these filters: there is nothing to export"


class NothingToExport(ValueError):
    """No row passed the filters when the file was written (labels can change after the request
    was checked): a version would be empty (and ``datasets`` cannot load an empty folder), so
    none is published."""


def export_root() -> Path:
    return Path(settings.TRACEWATCH_EXPORT_DIR)


def spec_of(version: DatasetVersion) -> Spec:
    """The description an export was requested with, as stored on it."""
    return msgspec.convert(
        {
            "name": version.dataset.name,
            "filters": version.filters,
            "format": version.format,
            "compression": version.compression,
            "split": version.split,
            "context_steps": version.context_steps,
        },
        Spec,
    )


def check_references(spec: Spec) -> None:
    """The filters name a queue, source and category that exist."""
    filters = spec.filters
    if filters.queue is not None and not Queue.objects.filter(pk=filters.queue).exists():
        raise SpecError("filters.queue", f"there is no queue {filters.queue}")
    if filters.source and not Source.objects.filter(slug=filters.source).exists():
        raise SpecError("filters.source", f"there is no source {filters.source!r}")
    if filters.category and not Category.objects.filter(slug=filters.category).exists():
        raise SpecError("filters.category", f"there is no category {filters.category!r}")


def request_export(
    *, spec: Spec, user: AbstractBaseUser | None = None, token: ApiToken | None = None
) -> DatasetVersion:
    """Record an export to be written; the caller queues the writing after commit. Filters that
    no labeled item passes are refused here, as a bad field is, rather than failing later."""
    check_references(spec)
    if not matches_any(spec.filters):
        raise SpecError("filters", NOTHING_MATCHES)
    with transaction.atomic():
        dataset, _ = Dataset.objects.get_or_create(
            name=spec.name, defaults={"salt": secrets.token_hex(32)}
        )
        version = DatasetVersion.objects.create(
            dataset=dataset,
            filters=msgspec.to_builtins(spec.filters),
            format=spec.format,
            compression=spec.compression,
            split=spec.split,
            context_steps=spec.context_steps,
            created_by=user if user is not None and user.is_authenticated else None,
            created_by_token=token,
        )
        detail = {
            "dataset": dataset.name,
            **{name: getattr(version, name) for name in AUDITED_SPEC},
        }
        audit.record(AuditEntry.Action.EXPORT, version, detail=detail)
        return version


def _progress_key(version_id: int) -> str:
    return f"tracewatch:dataset-progress:{version_id}"


def rows_written(version_id: int) -> int:
    """Rows written so far by a running export (kept in the cache, readable while it runs); 0
    when the cache cannot be reached."""
    try:
        return cache.get(_progress_key(version_id), 0)
    except RedisError:
        return 0


def _note_progress(version_id: int, rows: int | None) -> None:
    """Keep a running export's row count in the cache (None: drop it). The count is only shown,
    so a cache that cannot be reached (Redis down) leaves the export to go on without it."""
    try:
        if rows is None:
            cache.delete(_progress_key(version_id))
        else:
            cache.set(_progress_key(version_id), rows, timeout=3600)
    except RedisError as error:
        logger.warning("export %s: progress not recorded: %s", version_id, error)


@contextmanager
def _read_snapshot() -> Iterator[None]:
    """One consistent view of the labels for the whole export: on PostgreSQL, a repeatable-read
    transaction (when not already inside one, as in tests)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _made_by(version: DatasetVersion) -> str:
    if version.created_by is not None:
        return version.created_by.get_username()
    if version.created_by_token is not None:
        return f"API token {version.created_by_token.prefix}"
    return "a command"


def _claim(version_id: int) -> DatasetVersion | None:
    """Mark the export running, unless it is already done (a message delivered twice)."""
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update(of=("self",))
            .select_related("dataset", "created_by", "created_by_token")
            .get(pk=version_id)
        )
        if version.state == DatasetVersion.State.DONE:
            return None
        version.state = DatasetVersion.State.RUNNING
        version.started_at = timezone.now()
        version.attempts += 1
        version.error = ""
        version.save(update_fields=["state", "started_at", "attempts", "error"])
        return version


def write_export(
    version_id: int, *, progress: Callable[[int], None] | None = None
) -> DatasetVersion:
    """Write an export's file and publish it as the dataset's next version.

    Running it again after a failure or a killed worker starts over from nothing; running it on
    an export already done does nothing.
    """
    version = _claim(version_id)
    if version is None:
        return DatasetVersion.objects.get(pk=version_id)
    work = export_root() / ".work"
    for stale in work.glob(f"{version_id}-*"):  # left by an attempt that was killed
        shutil.rmtree(stale, ignore_errors=True)
    folder = work / f"{version_id}-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    spec = spec_of(version)
    tally = Tally()
    try:
        output = ExportFile(spec, folder)
        try:
            with _read_snapshot():
                batches = dataset_rows(
                    filters=spec.filters,
                    split=spec.split,
                    context_steps=spec.context_steps,
                    pseudonym=Pseudonyms(version.dataset.salt),
                )
                try:
                    for rows in batches:
                        output.write(rows)
                        tally.add(rows)
                        _note_progress(version_id, tally.rows)
                        if progress is not None:
                            progress(tally.rows)
                finally:
                    batches.close()  # its server-side cursor, inside the transaction it lives in
            if not tally.rows:
                raise NothingToExport("No labeled item matches these filters: nothing to publish.")
        except BaseException:
            output.abandon()
            raise
        return _publish(version, spec, output, tally)
    except BaseException as error:
        DatasetVersion.objects.filter(pk=version_id).update(
            state=DatasetVersion.State.FAILED,
            error=f"{type(error).__name__}: {error}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        _note_progress(version_id, None)


def _publish(
    version: DatasetVersion, spec: Spec, output: ExportFile, tally: Tally
) -> DatasetVersion:
    counts = tally.as_dict()
    with transaction.atomic():
        Dataset.objects.select_for_update().get(pk=version.dataset_id)
        # A message delivered twice can have two workers write one export; the first to get
        # here publishes it, the other leaves its copy in the work folder to be removed.
        current = DatasetVersion.objects.get(pk=version.pk)
        if current.state == DatasetVersion.State.DONE:
            return current
        last = version.dataset.versions.aggregate(last=Max("version"))["last"] or 0
        number = last + 1
        made_at = timezone.now()
        card = render_card(
            spec=spec,
            version=number,
            made_at=made_at,
            made_by=_made_by(version),
            counts=counts,
            rows=tally.rows,
        )
        written = output.finish(card)
        relative = Path(spec.name) / f"{spec.name}-v{number}{file_extension(spec)}"
        final = export_root() / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        size, sha256 = written.stat().st_size, _sha256(written)
        written.replace(final)
        version.state = DatasetVersion.State.DONE
        version.version = number
        version.row_count = tally.rows
        version.counts = counts
        version.file = str(relative)
        version.size = size
        version.sha256 = sha256
        version.card = card
        version.finished_at = made_at
        version.save()
    return version


def preview_counts(spec: Spec) -> dict:
    """The counts an export with these filters would have now, without writing anything."""
    tally = Tally()
    for rows in dataset_rows(
        filters=spec.filters, split=spec.split, context_steps=0, pseudonym=Pseudonyms("preview")
    ):
        tally.add(rows)
    return {"rows": tally.rows, **tally.as_dict()}


def stalled_exports(
    *, pending_after: timedelta, running_after: timedelta, attempts: int
) -> list[int]:
    """Exports whose message was lost (pending too long) or whose writer died (running too
    long). One whose writer died ``attempts`` times is marked failed instead of sent again."""
    now = timezone.now()
    pending = DatasetVersion.objects.filter(
        state=DatasetVersion.State.PENDING, created_at__lt=now - pending_after
    )
    running = DatasetVersion.objects.filter(
        state=DatasetVersion.State.RUNNING, started_at__lt=now - running_after
    )
    running.filter(attempts__gte=attempts).update(
        state=DatasetVersion.State.FAILED,
        error=f"The writer stopped {attempts} times without finishing.",
        finished_at=now,
    )
    return list(pending.values_list("pk", flat=True)) + list(running.values_list("pk", flat=True))
