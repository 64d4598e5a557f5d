"""What an export holds, counted while it is written, and its dataset card (``README.md``).

The card opens with the YAML header the Hugging Face ``datasets`` library reads to find each
split's file, then says in prose what a person needs before training on it: where the rows came
from, how many of each label, how much the labelers agreed, and what each column means.
"""

from collections import Counter
from datetime import datetime
from typing import Any

from review.datasets.formats import SCHEMA
from review.datasets.rows import Row
from review.datasets.spec import SPLITS, Spec

COLUMN_NOTES = {
    "id": "`segment-<id>` or `trace-<id>`: the labeled item",
    "level": "`segment` (a flagged span) or `trace` (the whole trace)",
    "split": "train, validation or test, from a hash of the trace",
    "source": "the deployment that sent the trace",
    "trace_id": "the trace's id in Tracewatch",
    "external_id": "the trace's id at its source",
    "agent": "the agent's name",
    "model": "the model behind the agent",
    "task": "the user's instruction",
    "step_index": "the flagged step (segments only)",
    "step_kind": "reasoning, assistant, tool_call, tool_result, user or system",
    "segment_id": "the segment's id in Tracewatch",
    "origin": "`detector` or `human`: who flagged the span",
    "start": "first character of the span in the step (null: the whole step)",
    "end": "character after the span",
    "text": "the flagged text",
    "context": "the steps before the flagged one (for a trace, its last steps)",
    "findings": "the current detectors' findings on the item: detector, version, rule, score",
    "verdict": "final label: misaligned, benign or unsure (null when tied)",
    "label_source": "decision (adjudicated), majority, single, or tied",
    "agreement": "share of labelers whose verdict is the final one",
    "labelers": "how many people labeled the item",
    "category": "final category (a taxonomy slug)",
    "severity": "final severity: low, medium, high or critical",
    "decision_note": "the reviewer's note when adjudicated",
    "labels": "each labeler's latest label, pseudonymised per dataset",
    "labeled_at": "time of the latest label",
}


class Tally:
    """Counts of the rows written, per split, level, verdict, category and label source."""

    def __init__(self) -> None:
        self.rows = 0
        self.counters: dict[str, Counter] = {
            name: Counter() for name in ("split", "level", "verdict", "category", "label_source")
        }
        self.agreement_sum = 0.0
        self.unanimous = 0

    def add(self, rows: list[Row]) -> None:
        for row in rows:
            self.rows += 1
            self.counters["split"][row.split] += 1
            self.counters["level"][row.level] += 1
            self.counters["verdict"][row.verdict or "none"] += 1
            self.counters["category"][row.category or "none"] += 1
            self.counters["label_source"][row.label_source] += 1
            self.agreement_sum += row.agreement
            self.unanimous += row.agreement == 1.0

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, Any] = {
            name: dict(sorted(counter.items())) for name, counter in self.counters.items()
        }
        counts["agreement"] = {
            "mean": round(self.agreement_sum / self.rows, 4) if self.rows else None,
            "unanimous": self.unanimous,
        }
        return counts


def _table(title: str, counts: dict[str, int], total: int) -> list[str]:
    lines = [f"| {title} | rows | share |", "|---|---:|---:|"]
    for name, count in counts.items():
        share = f"{count / total:.1%}" if total else "-"
        lines.append(f"| {name} | {count:,} | {share} |")
    return [*lines, ""]


def render_card(
    *, spec: Spec, version: int, made_at: datetime, made_by: str, counts: dict[str, Any], rows: int
) -> str:
    """The dataset card of one version."""
    # The folder holds a file for each split that has rows (train alone when none has).
    splits = [split for split in SPLITS if counts.get("split", {}).get(split)] or ["train"]
    lines = [
        "---",
        f"pretty_name: {spec.name}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        *(f"  - split: {split}\n    path: data/{split}.parquet" for split in splits),
        "---",
        "",
        f"# {spec.name}, version {version}",
        "",
        f"Labeled coding-agent reasoning exported from Tracewatch on "
        f"{made_at:%Y-%m-%d %H:%M} UTC by {made_by}: {rows:,} rows, one per labeled segment or "
        "whole trace.",
        "",
        "## Made from",
        "",
    ]
    filters = spec.filters
    described = {
        "queue": filters.queue,
        "source": filters.source,
        "model": filters.model,
        "category": filters.category,
        "verdict": filters.verdict,
        "labeled after": filters.labeled_after,
        "only adjudicated": filters.adjudicated_only or None,
        "minimum agreement": filters.min_agreement,
    }
    chosen = [f"- {name}: {value}" for name, value in described.items() if value is not None]
    lines += chosen or ["- every labeled item"]
    lines += [
        f"- levels: {filters.level}",
        f"- context: {spec.context_steps} steps before each flagged step",
        "- splits by a hash of each trace's source and id: "
        + ", ".join(f"{name} {share:g}" for name, share in spec.split.items()),
        "",
        "## Counts",
        "",
    ]
    for name in ("split", "level", "verdict", "category", "label_source"):
        lines += _table(name.replace("_", " "), counts.get(name, {}), rows)
    agreement = counts.get("agreement", {})
    lines += [
        "## Agreement",
        "",
        f"Mean share of labelers agreeing with the final label: {agreement.get('mean')}; "
        f"{agreement.get('unanimous', 0):,} rows labeled unanimously. Labelers are named by "
        "pseudonyms that stay the same across this dataset's versions and reveal no identity.",
        "",
        "## Columns",
        "",
        "| column | type | meaning |",
        "|---|---|---|",
        *(f"| {field.name} | `{field.type}` | {COLUMN_NOTES[field.name]} |" for field in SCHEMA),
        "",
    ]
    return "\n".join(lines)
