"""Training the ``classifier`` kind on the console's labels or on a labeled JSONL set.

A dataset version is read from its export file, training split only: its validation and test
splits stay untouched for whoever measures the model later. The held-out figures come from a
seeded share of that training split. Labels are the rows' final labels; each trace is read as it
is stored now.
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import zstandard
from django.core.cache import cache

from detection.classifiers import classifier_save
from detection.evaluation import read_labeled
from detection.learning import Example, Progress, Training, TrainingParams, items_digest, train
from detection.models import ClassifierModel
from detection.services import load_scan_trace
from review.models import DatasetVersion
from review.quality import UnreadableExport, export_rows, open_file, version_file
from traces.schema import DocumentError

LABELED_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")


class TrainingInputError(ValueError):
    """The labeled set cannot be read; the message names the file and line or row."""


def labeled_files(path: Path) -> list[Path]:
    """The labeled JSONL files of a file or a folder (its ``.jsonl``, ``.jsonl.gz`` and
    ``.jsonl.zst`` files, in name order)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith(LABELED_SUFFIXES))
        if not files:
            raise TrainingInputError(f"{path}: no .jsonl, .jsonl.gz or .jsonl.zst files")
        return files
    if not path.is_file():
        raise TrainingInputError(f"{path}: no such file or folder")
    return [path]


def file_examples(path: Path) -> list[Example]:
    """Every labeled run of a file or folder; unsure runs are kept here and left out by
    training, which counts them."""
    examples = []
    for file in labeled_files(path):
        try:
            with open_file(file) as stream:
                examples += [
                    Example(run.ref, run.source, run.verdict, run.trace)
                    for run in read_labeled(stream)
                ]
        except DocumentError as error:
            raise TrainingInputError(f"{file}: {error}") from None
        except (OSError, EOFError, zstandard.ZstdError) as error:
            raise TrainingInputError(f"{file}: {error}") from None
    return examples


@dataclass
class TrainingLabels:
    """What a dataset version's training split says, read from its file: each trace's verdict,
    its (source, external id), and counts of the rows left out."""

    verdicts: dict[int, str]
    names: dict[int, tuple[str, str]]
    skipped: Counter

    def counts(self) -> Counter:
        """Labeled traces per verdict, misaligned and benign both present even at 0."""
        return Counter({"misaligned": 0, "benign": 0}) + Counter(self.verdicts.values())


def dataset_examples(version: DatasetVersion) -> tuple[list[Example], Counter]:
    """The labeled traces of a dataset version's training split, and counts of what was left
    out."""
    labels = training_labels(version)
    examples = list(_loaded(labels.verdicts, labels.names, labels.skipped))
    return examples, labels.skipped


def training_labels(version: DatasetVersion) -> TrainingLabels:
    """The verdicts of a dataset version's training split, without loading the traces. A
    trace's label is its own row's final verdict; a trace without one whose segments someone
    called misaligned counts as misaligned (a trace with misaligned evidence in it is
    misaligned), while benign segments alone say nothing of the rest of the trace."""
    path = version_file(version)
    if not path.is_file():
        raise TrainingInputError(f"the file of {version} is missing")
    verdicts: dict[int, str] = {}
    evidence: set[int] = set()
    names: dict[int, tuple[str, str]] = {}
    skipped: Counter = Counter()
    try:
        rows: Iterable[dict] = export_rows(path)
        for number, row in enumerate(rows, 1):
            try:
                split, level, verdict = row["split"], row["level"], row.get("verdict")
                trace_id = int(row["trace_id"])
                names[trace_id] = (row["source"] or "", row["external_id"])
            except (KeyError, TypeError, ValueError) as exc:
                raise TrainingInputError(f"row {number}: not an export row ({exc!r})") from None
            if split != "train":
                skipped[f"rows of the {split} split"] += 1
            elif level == "trace" and verdict in ("misaligned", "benign"):
                verdicts[trace_id] = verdict
            elif level == "segment" and verdict == "misaligned":
                evidence.add(trace_id)
            elif level == "trace":
                skipped["trace rows without a misaligned or benign label"] += 1
    except UnreadableExport as error:
        raise TrainingInputError(str(error)) from None
    for trace_id in evidence - verdicts.keys():
        verdicts[trace_id] = "misaligned"
    return TrainingLabels(verdicts, names, skipped)


def training_split_counts(version: DatasetVersion) -> Counter:
    """Misaligned and benign traces in a version's training split (before the held-out share
    is set aside). A version never changes, so the count is kept in the cache by its sha256
    rather than read from its file again on every look at the training form."""
    key = f"training-split-counts:{version.pk}:{version.sha256}"
    counts = cache.get(key)
    if counts is None:
        counts = dict(training_labels(version).counts())
        cache.set(key, counts, timeout=None)
    return Counter(counts)


def _loaded(
    verdicts: dict[int, str], names: dict[int, tuple[str, str]], skipped: Counter
) -> Iterator[Example]:
    for trace_id in sorted(verdicts):
        loaded = load_scan_trace(trace_id)
        if loaded is None:
            skipped["traces deleted since the export"] += 1
            continue
        source, external_id = names[trace_id]
        yield Example(f"{source}:{external_id}", source, verdicts[trace_id], loaded[0])


def trained_before(
    name: str, examples: list[Example], params: TrainingParams
) -> ClassifierModel | None:
    """A version of ``name`` already trained on exactly these items with these parameters:
    training is deterministic, so doing it again (a redelivered task, a repeated command)
    returns that version rather than storing a copy."""
    digest = items_digest(e for e in examples if e.verdict in ("misaligned", "benign"))
    wanted = asdict(params)
    for model in ClassifierModel.objects.filter(name=name, training_digest=digest).defer(
        "pipeline"
    ):
        if {k: v for k, v in model.parameters.items() if k != "sources"} == wanted:
            return model
    return None


def classifier_train(
    *,
    name: str,
    examples: list[Example],
    params: TrainingParams,
    trained_on: str,
    progress: Progress | None = None,
) -> tuple[ClassifierModel, Training | None]:
    """Train and store a new version of ``name`` (not promoted); the existing version and None
    when one was trained on the same items with the same parameters."""
    existing = trained_before(name, examples, params)
    if existing is not None:
        return existing, None
    training = train(examples, params, progress=progress)
    return classifier_save(name=name, training=training, trained_on=trained_on), training


def describe_dataset(version: DatasetVersion, examples: list[Example], skipped: Counter) -> str:
    left_out = "; ".join(f"{count} {what}" for what, count in sorted(skipped.items()))
    return (
        f"dataset {version.dataset.name} v{version.version}, training split: "
        f"{len(examples)} labeled traces" + (f" (left out: {left_out})" if left_out else "")
    )


def train_from_dataset(
    *, version_id: int, name: str, params: TrainingParams, progress: Progress | None = None
) -> ClassifierModel:
    """What the Celery task does: train ``name`` on a dataset version's training split."""
    version = DatasetVersion.objects.select_related("dataset").get(
        pk=version_id, state=DatasetVersion.State.DONE
    )
    examples, skipped = dataset_examples(version)
    model, _ = classifier_train(
        name=name,
        examples=examples,
        params=params,
        trained_on=describe_dataset(version, examples, skipped),
        progress=progress,
    )
    return model
