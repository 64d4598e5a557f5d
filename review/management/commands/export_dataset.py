import shutil
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from review.datasets import services as datasets
from review.datasets.spec import SPLITS, SpecError, field_of, parse_split, spec_from_fields
from review.models import DatasetVersion


class Command(BaseCommand):
    help = (
        "Export labeled items as the next version of dataset NAME, written here and now (not by "
        "a worker), and print where the file is. The version appears in the console's history."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Dataset name (letters, digits, - and _).")
        parser.add_argument("--format", choices=DatasetVersion.Format.values, default="jsonl")
        parser.add_argument(
            "--compression", choices=DatasetVersion.Compression.values, default="none"
        )
        parser.add_argument("--queue", help="Only items labeled in this queue (its id).")
        parser.add_argument("--source", help="Only traces of this source (its slug).")
        parser.add_argument("--model", help="Only traces of this model.")
        parser.add_argument("--category", help="Only items whose final category is this slug.")
        parser.add_argument("--verdict", help="Only items whose final verdict is this.")
        parser.add_argument("--labeled-after", help="Only items labeled on or after YYYY-MM-DD.")
        parser.add_argument("--adjudicated-only", action="store_true")
        parser.add_argument("--min-agreement", help="Only items whose agreement is at least this.")
        parser.add_argument(
            "--level", choices=["segment", "trace", "both"], default="both", help="Which items."
        )
        parser.add_argument("--context-steps", default="3", help="Steps before each flagged one.")
        parser.add_argument(
            "--split",
            default="train=0.8,validation=0.1,test=0.1",
            help=f"Shares of traces per split ({', '.join(SPLITS)}).",
        )
        parser.add_argument("--output", help="Also copy the file here.")

    def handle(self, *args, **options) -> None:
        output = Path(options["output"]) if options["output"] else None
        if output is not None and not output.parent.is_dir():
            raise CommandError(f"--output: there is no folder {output.parent}")
        try:
            spec = spec_from_fields(options, split=parse_split(options["split"]))
            version = datasets.request_export(spec=spec)
        except SpecError as error:
            field = field_of(error)
            if field == "filters":  # about the filters together: no one option is at fault
                raise CommandError(error.message) from None
            raise CommandError(f"--{field.replace('_', '-')}: {error.message}") from None
        disable = not sys.stderr.isatty() or options["verbosity"] == 0
        with tqdm(unit=" rows", disable=disable) as progress:
            try:
                version = datasets.write_export(
                    version.pk, progress=lambda rows: progress.update(rows - progress.n)
                )
            except Exception as error:
                raise CommandError(f"the export failed: {error}") from error
        path = datasets.export_root() / version.file
        if output is not None:
            try:
                shutil.copyfile(path, output)
            except OSError as error:
                raise CommandError(
                    f"--output: the export is at {path}, not copied: {error}"
                ) from None
        self.stdout.write(f"{version}: {version.get_format_display()}, {version.counts['split']}")
        self.stdout.write(f"rows: {version.row_count} file: {path} sha256: {version.sha256}")
