"""Detection quality on the development corpus of real agent runs, leave-one-source-out.

    ./tw bench quality [--corpus DIR] [--rules N] [--by-source]

Reads the labeled runs that ``bench/corpus/build.py`` wrote (``var/corpus/*.jsonl.gz``), runs the
offline default detectors (each kind's default configuration, as a new install seeds it; the LLM
judge is left out) on every run as ingest would store it, and scores each source on its own. A
rule written while looking at a source (``bench/corpus/provenance.json`` names which) does not
count on that source: every figure is on runs its rules were not written from. Labels are each
source's own annotation, never a detector's.
"""

import argparse
import gzip
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from bench.corpus.build import digest  # noqa: E402
from detection.engine import build  # noqa: E402
from detection.evaluation import (  # noqa: E402
    ANY,
    Candidate,
    LabeledItem,
    Report,
    Unit,
    evaluate,
    read_labeled,
    scanned_items,
)
from detection.kinds import claim_vs_result, code, pattern, tool_action  # noqa: E402

CORPUS = ROOT / "var" / "corpus"
PROVENANCE = ROOT / "bench" / "corpus" / "provenance.json"
OFFLINE_DEFAULTS = (pattern.DEFAULT, tool_action.DEFAULT, claim_vs_result.DEFAULT, code.DEFAULT)


def candidates() -> list[Candidate]:
    return [
        Candidate(
            default["name"],
            1,
            build(
                default["kind"],
                default["params"],
                category=default["category"],
                step_kinds=default["step_kinds"],
            ),
        )
        for default in OFFLINE_DEFAULTS
        if default.get("enabled", True)
    ]


def held_out(items: list[LabeledItem], source: str, provenance: dict[str, list[str]]) -> None:
    """Drop the flags of rules that were written while looking at ``source``."""
    for item in items:
        item.flags = [
            flag
            for flag in item.flags
            if source not in provenance.get(f"{flag.detector}:{flag.rule}", ())
        ]


def rate(numerator: int, denominator: int) -> str:
    return f"{100 * numerator / denominator:.0f}%" if denominator else "-"


def row(source: str, counts: list[Counter]) -> str:
    """A source's runs, then each unit's recall and false-positive rate."""
    first = counts[0]
    positives, negatives = first["tp"] + first["fn"], first["fp"] + first["tn"]
    cells = "".join(
        f"{rate(c['tp'], c['tp'] + c['fn']) + ' / ' + rate(c['fp'], c['fp'] + c['tn']):>17}"
        for c in counts
    )
    return f"{source:<30} {positives + negatives:>5} {positives:>4} {negatives:>4}{cells}"


def trace_counts(report: Report, unit: Unit) -> Counter:
    score = report.score("trace", unit)
    assert score is not None
    return Counter(tp=score.tp, fn=score.fn, fp=score.fp, tn=score.tn)


def print_rules(reports: Iterable[Report], first: int) -> None:
    """The rules that flagged runs, most runs first, with their misaligned and benign counts."""
    rules: Counter = Counter()
    for report in reports:
        for score in report.scores:
            if score.level == "trace" and score.unit.rule is not None:
                key = f"{score.unit.detector}: {score.unit.rule or '(no rule)'}"
                rules.update({(key, "tp"): score.tp, (key, "fp"): score.fp})
    flagged = {key: rules[(key, "tp")] + rules[(key, "fp")] for key, _ in rules}
    names = sorted((k for k in flagged if flagged[k]), key=lambda key: (-flagged[key], key))
    for name in names[:first]:
        print(f"  {rules[(name, 'tp')]:>4} / {rules[(name, 'fp')]:<4} {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"default {CORPUS}")
    parser.add_argument("--rules", type=int, default=25, help="Rules listed (default 25).")
    parser.add_argument(
        "--by-source", action="store_true", help="List the rules' runs flagged for each source."
    )
    args = parser.parse_args()
    files = sorted(args.corpus.glob("*.jsonl.gz"))
    if not files:
        parser.error(f"no corpus in {args.corpus}: build it with bench/corpus/build.py")
    provenance = json.loads(PROVENANCE.read_text())
    pack = candidates()
    detectors = [(c.name, c.version) for c in pack]
    reports: dict[str, Report] = {}
    fitted: dict[str, Report] = {}  # every rule counted, those written from the source too
    seen: list[tuple[str, str, str]] = []
    for path in files:
        with gzip.open(path) as stream:
            lines = stream.read().splitlines()
        runs = list(read_labeled(lines))
        seen += [(run.source, run.external_id, run.verdict) for run in runs]
        source = runs[0].source
        items, errors = scanned_items(runs, pack)
        fitted[source] = evaluate(items, detectors=detectors, errors=errors)
        held_out(items, source, provenance)
        reports[source] = evaluate(items, detectors=detectors, errors=errors)

    total = len(seen)
    misaligned = sum(verdict == "misaligned" for _, _, verdict in seen)
    print(
        f"Corpus: {len(reports)} sources, {total} runs ({misaligned} misaligned, "
        f"{total - misaligned} benign), digest {digest(seen)}"
    )
    kinds = {default["name"]: default["kind"] for default in OFFLINE_DEFAULTS}
    units = [Unit(ANY), *(Unit(c.name) for c in pack)]
    print("Detectors: the offline defaults, " + ", ".join(kinds[c.name] for c in pack))
    print("Trace level, each source held out: recall on misaligned runs / flagged benign runs")
    columns = ["any", *(kinds[c.name] for c in pack)]
    columns.append("any, in-sample")
    print(
        f"{'source':<30} {'runs':>5} {'mis':>4} {'ben':>4}" + "".join(f"{c:>17}" for c in columns)
    )
    sums: list[Counter] = [Counter() for _ in columns]
    for source, report in reports.items():
        counts = [trace_counts(report, unit) for unit in units]
        counts.append(trace_counts(fitted[source], Unit(ANY)))
        for total, count in zip(sums, counts, strict=True):
            total.update(count)
        print(row(source, counts))
    print(row("all sources", sums))
    print(
        "(in-sample: every rule counted, also on the sources it was written from; "
        "not a held-out figure)"
    )

    print()
    print(f"Rules by runs flagged (misaligned / benign), the first {args.rules}:")
    print_rules(reports.values(), args.rules)
    if args.by_source:
        for source, report in reports.items():
            print(f"\n{source}, its held-out rules by runs flagged (misaligned / benign):")
            print_rules([report], args.rules)
    errors = [e for report in reports.values() for e in report.errors]
    if errors:
        print(f"\n{len(errors)} detector runs failed, e.g. {errors[0]}")


if __name__ == "__main__":
    main()
