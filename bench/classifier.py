"""The learned classifier on the development corpus, leave-one-source-out.

    ./tw bench classifier [--corpus DIR] [--window N] [--embeddings] [--within K]

For each source: train on the other sources (``detection.learning``, default parameters; a
seeded fifth of them held out), choose the threshold that gives 90% recall on that held-out
fifth of the training sources, then score every run of the left-out source, which the model
never saw. Prints per source the recall on misaligned runs and the share of benign runs flagged
at that threshold, and the AUROC, with the corpus digest as ``bench/quality.py`` prints it.

With ``--within K`` it asks the opposite question, how far the same pipeline can separate a
source's runs when it is trained on that very source: K seeded folds of each source with both
verdicts, each fold scored by a model trained on the other folds. It prints the AUROC over the
pooled fold scores and the recall at the best threshold that flags at most 10% of the benign runs,
chosen after seeing the scores: a ceiling for what an offline reading of the text catches on a
source, not a figure any detector earns.
"""

import argparse
import gzip
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from bench.corpus.build import digest  # noqa: E402
from detection.evaluation import read_labeled  # noqa: E402
from detection.learning import Example, TrainingParams, held_out_metrics, train  # noqa: E402

CORPUS = ROOT / "var" / "corpus"


def rate(numerator: int, denominator: int) -> str:
    return f"{100 * numerator / denominator:.0f}%" if denominator else "-"


def figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def folds(examples: list[Example], count: int, seed: int = 0) -> list[list[Example]]:
    """``count`` folds, each verdict dealt round-robin after a seeded shuffle."""
    rng = random.Random(seed)  # a reproducible split, not a secret
    dealt: list[list[Example]] = [[] for _ in range(count)]
    for verdict in ("misaligned", "benign"):
        group = sorted((e for e in examples if e.verdict == verdict), key=lambda e: e.ref)
        rng.shuffle(group)
        for i, example in enumerate(group):
            dealt[i % count].append(example)
    return dealt


def recall_at_fpr(labels: list[int], scores: list[float], most: float = 0.1) -> float:
    """The highest recall of any threshold that flags at most ``most`` of the benign runs."""
    negatives = labels.count(0)
    best = 0.0
    for threshold in sorted(set(scores)):
        flagged = [score >= threshold for score in scores]
        fp = sum(f and not y for f, y in zip(flagged, labels, strict=True))
        if fp <= most * negatives:
            tp = sum(f and y for f, y in zip(flagged, labels, strict=True))
            best = max(best, tp / labels.count(1))
    return best


def within(examples: list[Example], params: TrainingParams, count: int) -> None:
    """Each source with both verdicts, fitted on its own other folds."""
    print(f"Within each source, {count} folds: AUROC, and recall at <=10% of benign runs flagged")
    print(f"{'source':<30} {'runs':>5} {'mis':>4} {'ben':>4} {'AUROC':>6} {'ceiling':>8}")
    for source in sorted({e.source for e in examples}):
        own = [e for e in examples if e.source == source]
        mis = sum(e.verdict == "misaligned" for e in own)
        if not 0 < mis < len(own) or mis < count:
            print(
                f"{source:<30} {len(own):>5} {mis:>4} {len(own) - mis:>4}  (too few of a verdict)"
            )
            continue
        labels: list[int] = []
        scores: list[float] = []
        dealt = folds(own, count)
        for i, fold in enumerate(dealt):
            rest = [e for j, other in enumerate(dealt) if j != i for e in other]
            model = train(rest, params).model
            labels += [int(e.verdict == "misaligned") for e in fold]
            scores += [model.trace_score(e.trace) for e in fold]
        auroc = held_out_metrics(labels, scores)["auroc"]
        print(
            f"{source:<30} {len(own):>5} {mis:>4} {len(own) - mis:>4} {figure(auroc):>6} "
            f"{rate(round(100 * recall_at_fpr(labels, scores)), 100):>8}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"default {CORPUS}")
    parser.add_argument("--window", type=int, default=TrainingParams.window, help="Steps/window.")
    parser.add_argument("--embeddings", action="store_true", help="Add sentence embeddings.")
    parser.add_argument(
        "--within", type=int, metavar="K", help="Fit each source on its own K-1 folds instead."
    )
    args = parser.parse_args()
    if args.within is not None and args.within < 2:
        parser.error("--within: at least 2 folds")
    files = sorted(args.corpus.glob("*.jsonl.gz"))
    if not files:
        parser.error(f"no corpus in {args.corpus}: build it with bench/corpus/build.py")
    examples: list[Example] = []
    for path in files:
        with gzip.open(path) as stream:
            examples += [
                Example(run.ref, run.source, run.verdict, run.trace)
                for run in read_labeled(stream.read().splitlines())
            ]
    seen = [(e.source, e.ref.split(":", 1)[1], e.verdict) for e in examples]
    misaligned = sum(e.verdict == "misaligned" for e in examples)
    sources = sorted({e.source for e in examples})
    print(
        f"Corpus: {len(sources)} sources, {len(examples)} runs ({misaligned} misaligned, "
        f"{len(examples) - misaligned} benign), digest {digest(seen)}"
    )
    print(
        f"Classifier: word 1-2 and char_wb 3-5 TF-IDF, logistic regression, window {args.window}"
        + (", sentence embeddings" if args.embeddings else "")
    )
    if args.within:
        within(
            examples, TrainingParams(window=args.window, embeddings=args.embeddings), args.within
        )
        return
    print(
        "Trace level, each source held out: recall on misaligned runs / flagged benign runs at "
        "the threshold giving 90% recall on the training sources' held-out fifth"
    )
    print(
        f"{'source':<30} {'runs':>5} {'mis':>4} {'ben':>4} {'threshold':>9} {'flagged':>15} "
        f"{'AUROC':>6}"
    )
    totals = {"tp": 0, "fn": 0, "fp": 0, "tn": 0}
    for source in sources:
        params = TrainingParams(window=args.window, embeddings=args.embeddings)
        rest = [e for e in examples if e.source != source]
        training = train(rest, params)
        threshold = training.metrics["held_out"]["threshold_at_90_recall"]
        held = [e for e in examples if e.source == source]
        labels = [int(e.verdict == "misaligned") for e in held]
        scores = [training.model.trace_score(e.trace) for e in held]
        flagged = [threshold is not None and score >= threshold for score in scores]
        counts = {
            "tp": sum(f and y for f, y in zip(flagged, labels, strict=True)),
            "fn": sum(not f and y for f, y in zip(flagged, labels, strict=True)),
            "fp": sum(f and not y for f, y in zip(flagged, labels, strict=True)),
            "tn": sum(not f and not y for f, y in zip(flagged, labels, strict=True)),
        }
        for key, value in counts.items():
            totals[key] += value
        auroc = held_out_metrics(labels, scores)["auroc"]
        cell = (
            f"{rate(counts['tp'], counts['tp'] + counts['fn'])} / "
            f"{rate(counts['fp'], counts['fp'] + counts['tn'])}"
        )
        print(
            f"{source:<30} {len(held):>5} {sum(labels):>4} {len(held) - sum(labels):>4} "
            f"{figure(threshold):>9} {cell:>15} {figure(auroc):>6}",
            flush=True,
        )
    positives, negatives = totals["tp"] + totals["fn"], totals["fp"] + totals["tn"]
    cell = f"{rate(totals['tp'], positives)} / {rate(totals['fp'], negatives)}"
    print(
        f"{'all sources':<30} {positives + negatives:>5} {positives:>4} {negatives:>4} "
        f"{'':>9} {cell:>15}"
    )


if __name__ == "__main__":
    main()
