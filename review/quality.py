"""Detection quality judged by people: the console's final labels, or an exported dataset version,
as labeled items for ``detection.evaluation``.

A trace labeled as a whole counts at the trace level, flagged when any finding of a detector lies
anywhere in it; a labeled segment counts at the segment level, flagged when a finding of the
detector overlaps it in the same step. Spans that people marked and called misaligned, with no
detector's finding on them, are the misses that tell admins what no detector finds.
"""

import csv
import gzip
import io
import json
import tarfile
from argparse import ArgumentParser
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec
import pyarrow.parquet as pq
import zstandard
from django.db.models import F, QuerySet
from django.urls import reverse

from detection.evaluation import Flag, LabeledItem, Report, evaluate, overlaps
from detection.models import Detector, Finding
from review import selectors
from review.datasets.formats import NESTED
from review.datasets.rows import latest_decisions
from review.datasets.services import export_root
from review.models import DatasetVersion, Label, Verdict

VERDICTS: tuple[str, ...] = tuple(Verdict.values)


def trace_links() -> Callable[[int, int | None], str]:
    """Links to the evidence from a single ``reverse()``: the URL of a stand-in trace, filled in
    per item (reversing each of 30,000 links took longer than the rest of the report)."""
    stand_in = "2147483647"
    head, tail = reverse("review:trace", args=[int(stand_in)]).split(stand_in)

    def link(trace_id: int, step_index: int | None = None) -> str:
        url = f"{head}{trace_id}{tail}"
        return url if step_index is None else f"{url}#step-{step_index}"

    return link


def _labeled(labels: QuerySet[Label]) -> Iterator[tuple]:
    """Every item of ``labels``, one row each with its verdicts counted by the database: trace,
    segment (0 for the whole trace), the segment's start, end and step index, the trace's
    source, then the count of each verdict. Ordered as exports order items."""
    rows = selectors.item_verdict_counts(
        labels,
        start=F("segment__start"),
        end=F("segment__end"),
        step_index=F("segment__step__index"),
        source=F("trace__source__slug"),
    )
    columns = ["item_trace", "item_segment", "start", "end", "step_index", "source"]
    columns += [f"n_{verdict}" for verdict in VERDICTS]
    return rows.order_by("item_trace", "item_segment").values_list(*columns).iterator(5000)


def _final_verdict(counts: Sequence[int], decision: tuple | None) -> str:
    """The verdict ``final_label`` gives, from the counts alone: the decision, else the verdict
    most labelers gave (one label is its own majority), else "tied", which the evaluation leaves
    out like unsure."""
    if decision is not None:
        return decision[0]
    most = max(counts)
    return VERDICTS[counts.index(most)] if counts.count(most) == 1 else "tied"


def _flags(trace_ids: list[int]) -> dict[tuple[int, int | None], list[Flag]]:
    """Every stored finding on the traces (all versions of all detectors, so each version is
    scored on what it flagged), by trace and step, and by trace alone under step None."""
    flags: dict[tuple[int, int | None], list[Flag]] = {}
    findings = Finding.objects.filter(trace_id__in=trace_ids).values_list(
        "trace_id",
        "detector__name",
        "detector_version",
        "rule",
        "segment__step__index",
        "segment__start",
        "segment__end",
    )
    for trace_id, *finding in findings.iterator(chunk_size=5000):
        flag = Flag(*finding)
        flags.setdefault((trace_id, None), []).append(flag)
        flags.setdefault((trace_id, flag.step_index), []).append(flag)
    return flags


def _batches(rows: Iterator[tuple], traces: int) -> Iterator[list[tuple]]:
    """Rows in batches of whole traces, about ``traces`` traces each."""
    batch: list[tuple] = []
    seen = 0
    for row in rows:
        if not batch or row[0] != batch[-1][0]:
            seen += 1
            if seen > traces:
                yield batch
                batch, seen = [], 1
        batch.append(row)
    if batch:
        yield batch


def console_items(*, labels: QuerySet[Label] | None = None) -> list[LabeledItem]:
    """Every item people labeled, with its final verdict and every stored finding that covers
    it. The database counts each item's verdicts; Python sees one row per item, not per label.

    ``labels``, some of the latest labels: only their items, each judged by them alone (their
    majority, without reviewers' decisions), to compare what labelers said in one setting with
    what they said in another."""
    link = trace_links()
    decisions: dict[tuple[int, int | None], tuple] = {}
    if labels is None:
        labels, decisions = selectors.latest_labels(), latest_decisions(None)
    items: list[LabeledItem] = []
    for batch in _batches(_labeled(labels), traces=1000):
        flags = _flags(sorted({row[0] for row in batch}))
        for trace_id, segment_id, start, end, index, source, *counts in batch:
            verdict = _final_verdict(counts, decisions.get((trace_id, segment_id or None)))
            if not segment_id:
                level, ref, covering = "trace", link(trace_id), flags.get((trace_id, None), [])
            else:
                level, ref = "segment", link(trace_id, index)
                of_step = flags.get((trace_id, index), [])
                covering = [f for f in of_step if overlaps(f, index, start, end)]
            items.append(LabeledItem(level, ref, verdict, covering, source))
    return items


def detector_versions(*, disabled: bool = False) -> list[tuple[str, int]]:
    """Every enabled detector (every one with ``disabled``) at its current version, listed even
    before it flags anything. A disabled detector is otherwise listed by the findings it made:
    one that never ran would show every misaligned item as its miss."""
    detectors = Detector.objects.order_by("name")
    if not disabled:
        detectors = detectors.filter(enabled=True)
    return list(detectors.values_list("name", "version"))


def console_report(*, keep: int = 50) -> Report:
    """Every detector, version and rule against the console's final human labels."""
    return evaluate(console_items(), detectors=detector_versions(), keep=keep)


# -- exported dataset versions ------------------------------------------------------------------


class UnreadableExport(ValueError):
    """A file that is not a dataset export this version of Tracewatch writes."""


def open_file(path: Path) -> IO[bytes]:
    """A file's bytes, gunzipped or unzstded when its name ends in .gz or .zst."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # closes the file it opened
    raw = path.open("rb")
    if path.suffix == ".zst":
        return zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
    return raw


def _parquet_rows(source: Any) -> Iterator[dict[str, Any]]:
    for batch in pq.ParquetFile(source).iter_batches(batch_size=2000):
        yield from batch.to_pylist()


def _csv_rows(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    for row in csv.DictReader(text):
        decoded: dict[str, Any] = {
            key: value if value != "" else None for key, value in row.items()
        }
        for column in NESTED:
            decoded[column] = json.loads(row[column]) if row.get(column) else []
        yield decoded


def export_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of an export file in any format Tracewatch writes, compressed or not."""
    name = path.name.removesuffix(".gz").removesuffix(".zst")
    try:
        if name.endswith(".jsonl"):
            with open_file(path) as stream:
                for line in stream:
                    if line.strip():
                        yield msgspec.json.decode(line)
        elif name.endswith(".csv"):
            with open_file(path) as stream:
                yield from _csv_rows(stream)
        elif name.endswith(".parquet"):
            yield from _parquet_rows(path)
        elif name.endswith(".tar"):
            with tarfile.open(path) as archive:
                for member in sorted(archive.getmembers(), key=lambda m: m.name):
                    if member.isfile() and member.name.endswith(".parquet"):
                        data = archive.extractfile(member)
                        assert data is not None
                        yield from _parquet_rows(io.BytesIO(data.read()))
        else:
            raise UnreadableExport(
                f"{path.name}: not an export (.jsonl, .csv, .parquet or .tar, "
                "optionally .gz or .zst)"
            )
    except (OSError, ValueError, EOFError, tarfile.TarError, zstandard.ZstdError) as exc:
        if isinstance(exc, UnreadableExport):
            raise
        raise UnreadableExport(f"{path.name}: {exc}") from None


def row_items(rows: Iterable[dict[str, Any]]) -> list[LabeledItem]:
    """Labeled items from export rows, flagged by the findings each row recorded when exported
    (a segment row's are the findings on that very segment)."""
    items = []
    link = trace_links()
    for number, row in enumerate(rows, 1):
        try:
            level = row["level"]
            trace_id = int(row["trace_id"])
            step = row["step_index"]
            flags = [
                Flag(
                    f["detector"],
                    int(f["detector_version"]),
                    f.get("rule") or "",
                    None if f.get("step_index") is None else int(f["step_index"]),
                )
                for f in row["findings"] or []
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise UnreadableExport(f"row {number}: not an export row ({exc!r})") from None
        if level not in ("trace", "segment"):
            raise UnreadableExport(f"row {number}: level {level!r} is neither trace nor segment")
        ref = link(trace_id, None if step is None else int(step))
        verdict = row.get("verdict") or row.get("label_source") or "tied"
        items.append(
            LabeledItem(level, ref, verdict, flags, row.get("source") or "", row.get("category"))
        )
    return items


def add_dataset_arguments(parser: ArgumentParser) -> None:
    """A command's ``--dataset NAME [--dataset-version N]``, read with ``finished_version``."""
    parser.add_argument("--dataset", metavar="NAME", help="A dataset exported in the console.")
    parser.add_argument(
        "--dataset-version",
        type=int,
        metavar="N",
        help="Which version of it (the newest by default).",
    )


def finished_version(name: str, number: int | None) -> DatasetVersion | None:
    """A dataset's finished version: number ``number``, or the newest."""
    versions = DatasetVersion.objects.select_related("dataset").filter(
        dataset__name=name, state=DatasetVersion.State.DONE
    )
    if number is not None:
        versions = versions.filter(version=number)
    return versions.order_by("-version").first()


def version_file(version: DatasetVersion) -> Path:
    """Where a finished version's file lies."""
    return export_root() / version.file
