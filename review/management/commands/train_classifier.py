import json
import re
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from detection.classifiers import classifier_promote
from detection.learning import EmbeddingsUnavailable, TrainingError, TrainingParams, format_metrics
from review.models import DatasetVersion
from review.quality import add_dataset_arguments, finished_version
from review.training import (
    TrainingInputError,
    classifier_train,
    dataset_examples,
    describe_dataset,
    file_examples,
)

NAME = re.compile(r"[-a-zA-Z0-9_]{1,64}")


class Command(BaseCommand):
    help = (
        "Train a version of the classifier detector kind on a labeled JSONL file or folder (the "
        "development corpus) or on a dataset version's training split, and print its held-out "
        "figures. The version is stored unpromoted unless --promote is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", nargs="?", type=Path, help="A labeled JSONL file (.jsonl, .gz, .zst) or folder."
        )
        add_dataset_arguments(parser)
        parser.add_argument(
            "--name", default="classifier", help="The model's name (default classifier)."
        )
        parser.add_argument(
            "--holdout-source",
            metavar="SRC",
            help="Hold this source out whole and report on it, instead of a share of each class.",
        )
        parser.add_argument(
            "--holdout", type=float, default=0.2, help="Share held out (default 0.2)."
        )
        parser.add_argument(
            "--window", type=int, default=TrainingParams.window, help="Steps per window."
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the split (default 0).")
        parser.add_argument(
            "--embeddings",
            action="store_true",
            help="Add sentence embeddings (needs the [embeddings] extra).",
        )
        parser.add_argument(
            "--promote",
            action="store_true",
            help="Promote the new version at once (detectors following the latest promoted "
            "version rescan with it).",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the figures as JSON."
        )

    def handle(
        self,
        *args,
        path: Path | None,
        dataset: str | None,
        dataset_version: int | None,
        name: str,
        holdout_source: str | None,
        holdout: float,
        window: int,
        seed: int,
        embeddings: bool,
        promote: bool,
        as_json: bool,
        **options,
    ) -> None:
        if (path is None) == (dataset is None):
            raise CommandError("give exactly one of PATH and --dataset NAME")
        if dataset_version is not None and dataset is None:
            raise CommandError("--dataset-version goes with --dataset")
        if not NAME.fullmatch(name):
            raise CommandError("--name: letters, digits, - and _ only, at most 64")
        params = TrainingParams(
            window=window,
            embeddings=embeddings,
            holdout=holdout,
            holdout_source=holdout_source,
            seed=seed,
        )
        try:
            params.check()
            if path is not None:
                examples = file_examples(path)
                trained_on = f"{path.name}: {len(examples)} labeled runs"
            else:
                version = self._version(dataset, dataset_version)
                examples, skipped = dataset_examples(version)
                trained_on = describe_dataset(version, examples, skipped)
            quiet = not sys.stderr.isatty() or options["verbosity"] == 0
            with tqdm(disable=quiet, unit="step") as bar:

                def progress(stage: str, done: int, total: int) -> None:
                    bar.set_description(stage)
                    bar.total = total
                    bar.n = done
                    bar.refresh()

                model, training = classifier_train(
                    name=name,
                    examples=examples,
                    params=params,
                    trained_on=trained_on,
                    progress=progress,
                )
        except (TrainingInputError, TrainingError, EmbeddingsUnavailable) as error:
            raise CommandError(str(error)) from None
        if promote:
            classifier_promote(model)
        if as_json:
            self.stdout.write(
                json.dumps(
                    {"name": model.name, "version": model.version, "metrics": model.metrics},
                    indent=2,
                )
            )
            return
        if training is None:
            self.stdout.write(f"{model} was already trained on these runs with these parameters")
        self.stdout.write(f"{model}: {model.trained_on}")
        self.stdout.write(format_metrics(model.metrics))
        self.stdout.write(f"{model} promoted" if promote else f"{model} stored, not promoted")

    def _version(self, name: str, number: int | None) -> DatasetVersion:
        found = finished_version(name, number)
        if found is None:
            which = f"version {number} of " if number is not None else ""
            raise CommandError(f"--dataset: no finished export of {which}{name!r}")
        return found
