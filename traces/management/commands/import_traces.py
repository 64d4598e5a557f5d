import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from traces.formats import format_names
from traces.services import IngestResult, SourceResolver, ingest_documents

LINE_FORMATS = {".jsonl", ".ndjson"}
DOCUMENT_SUFFIXES = {".json", ".eval"}
KNOWN_SUFFIXES = LINE_FORMATS | DOCUMENT_SUFFIXES


def expand(paths: list[str]) -> list[str]:
    """Files as given, folders as the trace files under them, ``-`` as stdin."""
    found: list[str] = []
    for name in paths:
        path = Path(name)
        if name == "-" or path.is_file():
            found.append(name)
        elif path.is_dir():
            found.extend(
                str(p)
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix in KNOWN_SUFFIXES
            )
        else:
            raise CommandError(f"{name}: no such file or folder")
    return found


def documents(stream: IO[bytes], *, whole: bool, progress: tqdm) -> Iterator[tuple[int, bytes]]:
    """Numbered documents of a file: the whole file, or one per non-blank line."""
    if whole:
        raw = stream.read()
        progress.update(len(raw))
        yield 1, raw
        return
    for number, line in enumerate(stream, 1):
        progress.update(len(line))
        if line.strip():
            yield number, line


def split_stdin(raw: bytes) -> list[tuple[int, bytes]]:
    """Standard input holds one document (JSON, maybe pretty-printed, or a zip) or JSONL."""
    if raw.startswith(b"PK\x03\x04"):
        return [(1, raw)]
    try:
        msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return [(n, line) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    except RecursionError:  # one document, too deep: reading it says so, naming where
        pass
    return [(1, raw)]


class Command(BaseCommand):
    help = (
        "Import traces from files, folders (their .json, .jsonl, .ndjson and .eval files) or - for "
        "stdin. JSONL holds one trace per line; .json one document. Safe to run again: traces "
        "already stored are left unchanged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--format", choices=format_names(), help="Detected when omitted.")
        parser.add_argument(
            "--source",
            help="Source slug for the traces (created if missing); otherwise each trace's own.",
        )
        parser.add_argument(
            "--replace", action="store_true", help="Replace traces stored under the same id."
        )

    def handle(
        self,
        *args,
        paths: list[str],
        format: str | None,
        source: str | None,
        replace: bool,
        **options,
    ) -> None:
        files = expand(paths)
        sizes = [0 if f == "-" else Path(f).stat().st_size for f in files]
        resolver = SourceResolver(default=source, create=True)
        counts: Counter[str] = Counter()
        failures: list[str] = []
        disable = not sys.stderr.isatty() or options["verbosity"] == 0
        with tqdm(total=sum(sizes), unit="B", unit_scale=True, disable=disable) as progress:
            for name in files:
                for result in self.import_file(name, format, resolver, replace, progress):
                    counts[result.status] += 1
                    if not result.ok:
                        failures.append(f"{name}:{result.line}: {result.error}")
        imported = counts["created"] + counts["replaced"]
        self.stdout.write(
            f"{imported} imported ({counts['created']} new, {counts['replaced']} replaced), "
            f"{counts['unchanged']} unchanged, {len(failures)} failed"
        )
        for failure in failures:
            self.stderr.write(f"  {failure}")
        if failures:
            raise CommandError(f"{len(failures)} trace(s) failed to import")

    def import_file(
        self,
        name: str,
        format: str | None,
        resolver: SourceResolver,
        replace: bool,
        progress: tqdm,
    ) -> Iterator[IngestResult]:
        if name == "-":
            raw = sys.stdin.buffer.read()
            progress.update(len(raw))
            yield from ingest_documents(
                documents=split_stdin(raw), source_for=resolver, format=format, replace=replace
            )
            return
        whole = Path(name).suffix in DOCUMENT_SUFFIXES
        with open(name, "rb") as stream:
            yield from ingest_documents(
                documents=documents(stream, whole=whole, progress=progress),
                source_for=resolver,
                format=format,
                replace=replace,
            )
