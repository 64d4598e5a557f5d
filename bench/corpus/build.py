"""Build the development corpus: run each source's converter over its repository at the commit its
manifest names, and write the labeled runs to ``var/corpus/<source>.jsonl.gz``.

    .venv/bin/python -m bench.corpus.build --repos DIR [--source NAME ...]

DIR holds one git directory per source repository, as ``DIR/<owner>+<name>/repo`` (a bare
mirror), ``DIR/<owner>+<name>.git`` or ``DIR/<owner>+<name>`` (a clone). The converted runs are not
kept in this repository: they are the sources' transcripts, which stay with their publishers.
The build checks each source's counts against its manifest and prints a digest of the runs
present, which ``bench/quality.py`` prints beside its figures.
"""

import argparse
import gzip
import hashlib
import importlib
import json
import pkgutil
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.corpus import sources  # noqa: E402 (after the path that finds it)
from bench.corpus.repo import SourceRepo  # noqa: E402

OUT = ROOT / "var" / "corpus"
# Trace metadata that records the source's own verdict on a run: moved out of the trace into the
# record's ``annotation``, so that no detector can read the answer.
ANSWER_KEYS = ("scores", "source_annotation")


def source_modules() -> list[ModuleType]:
    """Every source's converter module, in name order."""
    names = sorted(info.name for info in pkgutil.iter_modules(sources.__path__))
    return [importlib.import_module(f"bench.corpus.sources.{name}") for name in names]


def git_dir(repos: Path, repository: str) -> Path:
    base = repos / repository.replace("/", "+")
    for candidate in (base / "repo", base.with_name(base.name + ".git"), base / ".git", base):
        if (candidate / "HEAD").is_file():
            return candidate
    raise SystemExit(f"{repository}: no git directory under {base} (fetch or clone it there)")


def digest(runs: Iterable[tuple[str, str, str]]) -> str:
    """A short hash of which runs are present and how they are labeled: (source, external id,
    verdict) of each."""
    keys = sorted("\0".join(run) for run in runs)
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def without_answers(record: dict[str, Any]) -> dict[str, Any]:
    metadata = record["trace"].setdefault("metadata", {})
    annotation = dict(record.get("annotation") or {})
    for key in ANSWER_KEYS:
        if key in metadata:
            annotation[key] = metadata.pop(key)
    if annotation:
        record["annotation"] = annotation
    return record


def build(module: ModuleType, repos: Path, out: Path) -> dict[str, Any]:
    manifest = module.MANIFEST
    repo = SourceRepo(git_dir(repos, manifest["repository"]), manifest["commit"])
    records = [without_answers(record) for record in module.convert(repo)]
    misaligned = sum(record["verdict"] == "misaligned" for record in records)
    expected = (manifest["runs"], manifest["misaligned"])
    if (len(records), misaligned) != expected:
        raise SystemExit(
            f"{manifest['name']}: {len(records)} runs, {misaligned} misaligned; "
            f"the manifest says {expected[0]} and {expected[1]}"
        )
    path = out / f"{manifest['name']}.jsonl.gz"
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as stream:
        for record in records:
            stream.write(json.dumps(record, ensure_ascii=False, sort_keys=True).encode() + b"\n")
    return {
        "name": manifest["name"],
        "runs": len(records),
        "misaligned": misaligned,
        "digest": digest((r["source"], r["trace"]["external_id"], r["verdict"]) for r in records),
        "file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=Path, required=True, help="Where the repositories are.")
    parser.add_argument("--out", type=Path, default=OUT, help=f"Where to write (default {OUT}).")
    parser.add_argument("--source", action="append", help="Only this source (repeatable).")
    args = parser.parse_args()
    modules = [m for m in source_modules() if not args.source or m.MANIFEST["name"] in args.source]
    unknown = set(args.source or ()) - {m.MANIFEST["name"] for m in modules}
    if unknown:
        parser.error(f"--source: no source named {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    for module in modules:
        built = build(module, args.repos, args.out)
        print(
            f"{built['name']}: {built['runs']} runs, {built['misaligned']} misaligned, "
            f"digest {built['digest']} -> {built['file']}"
        )


if __name__ == "__main__":
    main()
