import json
import sys
from collections.abc import Iterator
from pathlib import Path

import zstandard
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from detection.evaluation import (
    Candidate,
    LabeledItem,
    LabeledRun,
    Report,
    evaluate,
    format_report,
    read_labeled,
    scan_runs,
)
from detection.models import Detector
from detection.services import build_detector
from review.quality import (
    UnreadableExport,
    add_dataset_arguments,
    console_items,
    detector_versions,
    export_rows,
    finished_version,
    open_file,
    row_items,
    version_file,
)
from traces.schema import DocumentError

EXPORT_SUFFIXES = (".csv", ".parquet", ".tar")


def _is_export(path: Path) -> bool:
    """An exported dataset version rather than a labeled JSONL set: by its name, or for JSON
    Lines by its first row, which has a ``level`` instead of a ``trace``."""
    name = path.name.removesuffix(".gz").removesuffix(".zst")
    if name.endswith(EXPORT_SUFFIXES):
        return True
    try:
        first = next(export_rows(path), None)
    except UnreadableExport:
        return False
    return isinstance(first, dict) and "level" in first and "trace" not in first


class Command(BaseCommand):
    help = (
        "Precision, recall and F1 of the detectors, per detector, version and rule, at the trace "
        "and the segment level: on a labeled JSONL file (the detectors run here), on a dataset "
        "version exported from the console, or on the console's final labels."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file",
            nargs="?",
            type=Path,
            help="A labeled JSONL file (.jsonl, .gz, .zst), or a dataset export file.",
        )
        add_dataset_arguments(parser)
        parser.add_argument(
            "--console", action="store_true", help="The console's final labels, as they stand."
        )
        parser.add_argument(
            "--detector",
            action="append",
            metavar="NAME",
            help="Only this detector (repeatable). On a labeled file, the enabled detectors run "
            "by default; naming one runs it even when disabled (the LLM judge, say).",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the figures as JSON."
        )
        parser.add_argument(
            "--list",
            type=int,
            dest="listed",
            default=10,
            metavar="N",
            help="Misses and false positives listed per detector (default 10).",
        )

    def handle(
        self,
        *args,
        file: Path | None,
        dataset: str | None,
        dataset_version: int | None,
        console: bool,
        detector: list[str] | None,
        as_json: bool,
        listed: int,
        **options,
    ) -> None:
        chosen = sum((file is not None, dataset is not None, console))
        if chosen != 1:
            raise CommandError("give exactly one of FILE, --dataset NAME and --console")
        if dataset_version is not None and dataset is None:
            raise CommandError("--dataset-version goes with --dataset")
        if listed < 0:
            raise CommandError("--list: must be 0 or more")
        if detector:
            known = set(Detector.objects.filter(name__in=detector).values_list("name", flat=True))
            missing = sorted(set(detector) - known)
            if missing:
                raise CommandError(f"--detector: no detector named {', '.join(missing)}")
        quiet = not sys.stderr.isatty() or options["verbosity"] == 0
        if file is not None:
            if not file.is_file():
                raise CommandError(f"{file}: no such file")
            if _is_export(file):
                report = self._rows_report(file, detector)
            else:
                report = self._runs_report(file, detector, quiet=quiet)
        elif dataset is not None:
            report = self._rows_report(self._version_path(dataset, dataset_version), detector)
        else:
            report = _report(console_items(), detector)
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(format_report(report, list_errors=listed))
        if report.errors:
            raise CommandError(f"{len(report.errors)} detector runs failed (listed above)")

    def _version_path(self, name: str, number: int | None) -> Path:
        found = finished_version(name, number)
        if found is None:
            which = f"version {number} of " if number is not None else ""
            raise CommandError(f"--dataset: no finished export of {which}{name!r}")
        path = version_file(found)
        if not path.is_file():
            raise CommandError(f"--dataset: the file of {name!r} v{found.version} is missing")
        return path

    def _rows_report(self, path: Path, only: list[str] | None) -> Report:
        try:
            return _report(row_items(export_rows(path)), only)
        except UnreadableExport as error:
            raise CommandError(str(error)) from None

    def _runs_report(self, path: Path, only: list[str] | None, *, quiet: bool) -> Report:
        detectors = Detector.objects.order_by("name")
        detectors = detectors.filter(name__in=only) if only else detectors.filter(enabled=True)
        candidates = []
        for configured in detectors:
            try:
                candidates.append(
                    Candidate(configured.name, configured.version, build_detector(configured))
                )
            except DocumentError as error:
                candidates.append(Candidate(configured.name, configured.version, None, str(error)))
        try:
            runs = list(tqdm(_runs(path), unit="run", disable=quiet, desc="reading"))
        except DocumentError as error:
            raise CommandError(f"{path}: {error}") from None
        return scan_runs(tqdm(runs, unit="run", disable=quiet, desc="scanning"), candidates)


def _runs(path: Path) -> Iterator[LabeledRun]:
    try:
        with open_file(path) as stream:
            yield from read_labeled(stream)
    except (OSError, EOFError, zstandard.ZstdError) as error:
        raise CommandError(f"{path}: {error}") from None


def _report(items: list[LabeledItem], only: list[str] | None) -> Report:
    detectors = detector_versions(disabled=bool(only))  # a detector named is listed anyway
    if only:
        detectors = [(name, version) for name, version in detectors if name in only]
        for item in items:
            item.flags = [flag for flag in item.flags if flag.detector in only]
    return evaluate(items, detectors=detectors)
