"""Writers of an export's file: JSON Lines, CSV, Parquet, and a Hugging Face ``datasets`` folder.

Each writes batches of rows as they come and holds none of them afterwards. Output depends only
on the rows: no timestamps, names or versions inside the data files (gzip's header time is zero),
so the same rows always give the same bytes. The one exception is the folder's dataset card,
which names its version and date.
"""

import csv
import gzip
import io
import tarfile
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from review.datasets.rows import COLUMNS, Row
from review.datasets.spec import SPLITS, Spec

NESTED = ("context", "findings", "labels")
_STRING = pa.string()
_TIME = pa.timestamp("us", tz="UTC")

SCHEMA = pa.schema(
    [
        ("id", _STRING),
        ("level", _STRING),
        ("split", _STRING),
        ("source", _STRING),
        ("trace_id", pa.int64()),
        ("external_id", _STRING),
        ("agent", _STRING),
        ("model", _STRING),
        ("task", _STRING),
        ("step_index", pa.int32()),
        ("step_kind", _STRING),
        ("segment_id", pa.int64()),
        ("origin", _STRING),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("text", _STRING),
        (
            "context",
            pa.list_(
                pa.struct(
                    [
                        ("index", pa.int32()),
                        ("kind", _STRING),
                        ("tool", _STRING),
                        ("content", _STRING),
                    ]
                )
            ),
        ),
        (
            "findings",
            pa.list_(
                pa.struct(
                    [
                        ("detector", _STRING),
                        ("detector_version", pa.int32()),
                        ("rule", _STRING),
                        ("step_index", pa.int32()),
                        ("score", pa.float64()),
                        ("category", _STRING),
                    ]
                )
            ),
        ),
        ("verdict", _STRING),
        ("label_source", _STRING),
        ("agreement", pa.float64()),
        ("labelers", pa.int32()),
        ("category", _STRING),
        ("severity", _STRING),
        ("decision_note", _STRING),
        (
            "labels",
            pa.list_(
                pa.struct(
                    [
                        ("labeler", _STRING),
                        ("verdict", _STRING),
                        ("category", _STRING),
                        ("severity", _STRING),
                        ("note", _STRING),
                        ("labeled_at", _TIME),
                    ]
                )
            ),
        ),
        ("labeled_at", _TIME),
    ]
)
assert tuple(SCHEMA.names) == COLUMNS, "the Parquet schema must follow Row's fields"

EXTENSIONS = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet", "hf": ".tar"}
COMPRESSED = {"none": "", "gzip": ".gz", "zstd": ".zst"}


def file_extension(spec: Spec) -> str:
    return EXTENSIONS[spec.format] + COMPRESSED[spec.compression]


def _open(path: Path, compression: str, stack: ExitStack) -> BinaryIO:
    raw = stack.enter_context(open(path, "wb"))  # noqa: SIM115 - closed by the stack
    if compression == "gzip":
        return stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0))
    if compression == "zstd":
        compressor = zstandard.ZstdCompressor(level=3)
        return stack.enter_context(compressor.stream_writer(raw, closefd=False))
    return raw


def _table(rows: list[Row]) -> pa.Table:
    return pa.Table.from_pylist(msgspec.to_builtins(rows, builtin_types=(datetime,)), SCHEMA)


class ExportFile:
    """The file of one export being written in ``folder``; ``finish`` returns the deliverable."""

    def __init__(self, spec: Spec, folder: Path) -> None:
        self.spec = spec
        self.folder = folder
        self.path = folder / f"{spec.name}{file_extension(spec)}"
        self._stack = ExitStack()
        self._parquet: dict[str, pq.ParquetWriter] = {}
        if spec.format in ("jsonl", "csv"):
            stream = _open(self.path, spec.compression, self._stack)
            if spec.format == "jsonl":
                self._stream = stream
                self._encoder = msgspec.json.Encoder()
            else:
                text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
                self._stack.callback(text.detach)
                self._csv = csv.writer(text, lineterminator="\n")
                self._csv.writerow(COLUMNS)
                self._nested = [COLUMNS.index(name) for name in NESTED]
        elif spec.format == "parquet":
            self._parquet[""] = self._parquet_writer(self.path)
        else:
            (
                folder / "data"
            ).mkdir()  # a file per split that gets rows: datasets refuses empty ones

    def data_file(self, split: str) -> Path:
        return self.folder / "data" / f"{split}.parquet"

    def _parquet_writer(self, path: Path) -> pq.ParquetWriter:
        writer = pq.ParquetWriter(path, SCHEMA, compression="zstd")
        self._stack.callback(writer.close)
        return writer

    def write(self, rows: list[Row]) -> None:
        if self.spec.format == "jsonl":
            self._stream.write(self._encoder.encode_lines(rows))
        elif self.spec.format == "csv":
            self._csv.writerows(self._csv_rows(rows))
        elif self.spec.format == "parquet":
            self._parquet[""].write_table(_table(rows))
        else:
            for split in SPLITS:
                of_split = [row for row in rows if row.split == split]
                if of_split:
                    if split not in self._parquet:
                        self._parquet[split] = self._parquet_writer(self.data_file(split))
                    self._parquet[split].write_table(_table(of_split))

    def _csv_rows(self, rows: list[Row]) -> Iterable[list]:
        """Nested columns as JSON text; empty cells are nulls; times in ISO 8601."""
        for row in rows:
            values = list(msgspec.structs.astuple(row))
            for at in self._nested:
                values[at] = msgspec.json.encode(values[at]).decode()
            values[-1] = values[-1].isoformat().replace("+00:00", "Z")  # as in JSON
            yield ["" if value is None else value for value in values]

    def finish(self, card: str) -> Path:
        """Close the file; the folder format gets its card and becomes one tar archive."""
        if self.spec.format == "hf" and not self._parquet:  # no rows at all
            self._parquet["train"] = self._parquet_writer(self.data_file("train"))
        self._stack.close()
        if self.spec.format != "hf":
            return self.path
        (self.folder / "README.md").write_text(card, encoding="utf-8")
        splits = [split for split in SPLITS if split in self._parquet]
        members = ["README.md", *(f"data/{split}.parquet" for split in splits)]
        with tarfile.open(self.path, "w", format=tarfile.USTAR_FORMAT) as archive:
            for member in members:
                info = archive.gettarinfo(
                    self.folder / member, arcname=f"{self.spec.name}/{member}"
                )
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                info.mode = 0o644
                with open(self.folder / member, "rb") as content:
                    archive.addfile(info, content)
        return self.path

    def abandon(self) -> None:
        """Close whatever is open after a failure; the caller removes the folder."""
        self._stack.close()
