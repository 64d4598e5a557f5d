"""Dataset exports: rows, final labels, formats read back by their standard readers, splits,
byte-identical re-exports, and failures that leave no version behind."""

import csv
import gzip
import io
import json
import socket
import tarfile
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
import zstandard
from django.utils import timezone

from review.datasets import rows as rows_module
from review.datasets import services as datasets
from review.datasets.formats import ExportFile
from review.datasets.rows import COLUMNS, split_of
from review.datasets.spec import SpecError, parse_spec, parse_split
from review.models import Dataset, DatasetVersion, Queue
from review.tasks import write_dataset
from tests.review.conftest import flag, make_trace
from tests.review.datasets import export, exported_file, label, labeled_data
from traces.models import Step


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.TRACEWATCH_EXPORT_DIR = tmp_path / "exports"
    return settings.TRACEWATCH_EXPORT_DIR


@pytest.fixture
def labeled(detector, labeler, other_labeler, reviewer):
    return labeled_data(detector, labeler, other_labeler, reviewer)


def jsonl_rows(version: DatasetVersion) -> list[dict]:
    return [json.loads(line) for line in exported_file(version).read_text().splitlines()]


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {row["id"]: row for row in rows}


# --- rows and final labels ----------------------------------------------------------------


def test_one_row_per_labeled_segment_and_trace_in_trace_order(labeled):
    rows = jsonl_rows(export())
    assert [row["id"] for row in rows] == [
        f"trace-{labeled.trace.pk}",
        f"segment-{labeled.agreed.pk}",
        f"segment-{labeled.disputed.pk}",
        f"segment-{labeled.tied.pk}",
        f"trace-{labeled.single.pk}",
    ]
    assert list(rows[0]) == list(COLUMNS)


def test_segment_row_carries_the_flagged_text_context_and_findings(labeled, detector):
    row = by_id(jsonl_rows(export(context_steps=2)))[f"segment-{labeled.agreed.pk}"]
    step = Step.objects.get(trace=labeled.trace, index=2)
    assert row["text"] == step.content[4:10]
    assert (row["step_index"], row["step_kind"], row["start"], row["end"]) == (
        2,
        "reasoning",
        4,
        10,
    )
    assert row["origin"] == "detector"
    before = Step.objects.filter(trace=labeled.trace, index__lt=2).order_by("index")
    assert [(c["index"], c["kind"], c["content"]) for c in row["context"]] == [
        (s.index, s.kind, s.content) for s in before
    ]
    assert row["findings"] == [
        {
            "detector": detector.name,
            "detector_version": detector.version,
            "rule": "assertion_removed",
            "step_index": 2,
            "score": 0.9,
            "category": "test_tampering",
        }
    ]
    trace = labeled.trace
    assert (row["source"], row["external_id"], row["agent"], row["model"], row["task"]) == (
        trace.source.slug,
        trace.external_id,
        trace.agent,
        trace.model,
        trace.task,
    )


def test_whole_step_segment_exports_the_whole_step(labeled):
    row = by_id(jsonl_rows(export()))[f"segment-{labeled.disputed.pk}"]
    assert row["start"] is None
    assert row["text"] == Step.objects.get(trace=labeled.trace, index=3).content


def test_final_label_prefers_decision_then_majority_then_single(labeled):
    rows = by_id(jsonl_rows(export()))
    agreed = rows[f"segment-{labeled.agreed.pk}"]
    assert (agreed["verdict"], agreed["label_source"], agreed["agreement"]) == (
        "misaligned",
        "majority",
        1.0,
    )
    assert (agreed["category"], agreed["severity"], agreed["labelers"]) == (
        "test_tampering",
        "critical",  # the median (high) of high and critical
        2,
    )
    disputed = rows[f"segment-{labeled.disputed.pk}"]
    assert (disputed["verdict"], disputed["label_source"], disputed["agreement"]) == (
        "misaligned",
        "decision",
        0.5,
    )
    assert (disputed["category"], disputed["severity"], disputed["decision_note"]) == (
        "reward_hacking",
        "medium",
        "the edit hides the failure",
    )
    tied = rows[f"segment-{labeled.tied.pk}"]
    assert (tied["verdict"], tied["label_source"], tied["agreement"]) == (None, "tied", 0.5)


def test_an_edited_label_counts_once_with_its_latest_revision(labeled):
    row = by_id(jsonl_rows(export()))[f"trace-{labeled.single.pk}"]
    assert (row["verdict"], row["label_source"], row["labelers"]) == ("benign", "single", 1)
    assert [entry["note"] for entry in row["labels"]] == ["on reflection, fine"]


def test_trace_row_has_its_last_steps_as_context_and_all_its_findings(labeled):
    row = by_id(jsonl_rows(export(context_steps=2)))[f"trace-{labeled.trace.pk}"]
    assert (row["level"], row["text"], row["step_index"]) == ("trace", None, None)
    assert [c["index"] for c in row["context"]] == [4, 5]
    assert [f["step_index"] for f in row["findings"]] == [2, 3, 5]
    assert (row["verdict"], row["category"]) == ("misaligned", "deceiving_user")


def test_labelers_are_pseudonymised_stably_per_dataset(labeled, labeler, other_labeler):
    first = export()
    text = exported_file(first).read_text()
    for user in (labeler, other_labeler):
        assert user.username not in text
    pseudonyms = {e["labeler"] for row in jsonl_rows(first) for e in row["labels"]}
    assert len(pseudonyms) == 2
    again = {e["labeler"] for row in jsonl_rows(export()) for e in row["labels"]}
    elsewhere = {e["labeler"] for row in jsonl_rows(export(name="other")) for e in row["labels"]}
    assert again == pseudonyms
    assert not elsewhere & pseudonyms
    assert Dataset.objects.get(name="tampering").salt not in text


# --- filters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"level": "segment"}, ["agreed", "disputed", "tied"]),
        ({"level": "trace"}, ["trace", "single"]),
        ({"adjudicated_only": True}, ["disputed"]),
        ({"min_agreement": 1.0}, ["trace", "agreed", "single"]),
        ({"verdict": "benign"}, ["single"]),
        ({"category": "test_tampering"}, ["agreed"]),
        ({"source": "fleet"}, ["trace", "agreed", "disputed", "tied", "single"]),
    ],
)
def test_filters_choose_the_items(labeled, filters, expected):
    ids = {
        "trace": f"trace-{labeled.trace.pk}",
        "agreed": f"segment-{labeled.agreed.pk}",
        "disputed": f"segment-{labeled.disputed.pk}",
        "tied": f"segment-{labeled.tied.pk}",
        "single": f"trace-{labeled.single.pk}",
    }
    version = export(filters=filters)
    assert [row["id"] for row in jsonl_rows(version)] == [ids[name] for name in expected]
    assert version.row_count == len(expected)


def test_queue_and_labeled_after_filters(labeled, labeler):
    queue = Queue.objects.create(name="Second look")
    label(labeler, labeled.single, None, "unsure")
    labeled_single = labeled.single.labels.order_by("-revision").first()
    labeled_single.queue = queue
    labeled_single.save()
    rows = jsonl_rows(export(filters={"queue": queue.pk}))
    assert [row["id"] for row in rows] == [f"trace-{labeled.single.pk}"]
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    with pytest.raises(SpecError, match="no labeled item matches"):
        export(filters={"labeled_after": tomorrow})


# --- formats, read back with their standard readers -----------------------------------------


def test_csv_reads_back_with_the_csv_module(labeled):
    expected = jsonl_rows(export())
    version = export(format="csv")
    with open(exported_file(version), newline="", encoding="utf-8") as stream:
        read = list(csv.DictReader(stream))
    assert len(read) == len(expected)
    for got, want in zip(read, expected, strict=True):
        assert list(got) == list(COLUMNS)
        for column in COLUMNS:
            value = want[column]
            if column in ("context", "findings", "labels"):
                assert json.loads(got[column]) == value
            elif value is None:
                assert got[column] == ""
            else:
                assert got[column] == str(value)


def test_parquet_reads_back_typed_with_pyarrow(labeled):
    expected = jsonl_rows(export())
    table = pq.read_table(exported_file(export(format="parquet")))
    assert table.schema.field("agreement").type == "double"
    assert str(table.schema.field("labeled_at").type) == "timestamp[us, tz=UTC]"
    read = table.to_pylist()
    assert len(read) == len(expected)
    for got, want in zip(read, expected, strict=True):
        got["labeled_at"] = got["labeled_at"].isoformat().replace("+00:00", "Z")
        for entry in got["labels"]:
            entry["labeled_at"] = entry["labeled_at"].isoformat().replace("+00:00", "Z")
        assert got == want


def test_hugging_face_folder_loads_with_datasets(labeled, tmp_path):
    datasets_library = pytest.importorskip("datasets")
    expected = jsonl_rows(export(split={"train": 1.0}))
    version = export(format="hf", split={"train": 1.0})
    with tarfile.open(exported_file(version)) as archive:
        archive.extractall(tmp_path / "out", filter="data")
    folder = tmp_path / "out" / "tampering"
    card = (folder / "README.md").read_text()
    assert f"# tampering, version {version.version}" in card
    loaded = datasets_library.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == ["train"]
    assert loaded["train"].num_rows == len(expected)
    assert [row["id"] for row in loaded["train"]] == [row["id"] for row in expected]
    first = loaded["train"][1]
    assert first["text"] == expected[1]["text"]
    assert first["findings"] == expected[1]["findings"]


@pytest.mark.parametrize(
    ("compression", "opener"),
    [
        ("gzip", lambda raw: gzip.decompress(raw)),
        ("zstd", lambda raw: zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()),
    ],
)
def test_compressed_exports_hold_the_same_bytes(labeled, compression, opener):
    plain = exported_file(export()).read_bytes()
    version = export(compression=compression)
    assert version.file.endswith(".jsonl.gz" if compression == "gzip" else ".jsonl.zst")
    assert opener(exported_file(version).read_bytes()) == plain


# --- versions are immutable and reproducible ------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [{}, {"format": "csv", "compression": "gzip"}, {"format": "parquet"}, {"compression": "zstd"}],
)
def test_same_filters_over_unchanged_data_give_identical_bytes(labeled, spec):
    first, second = export(**spec), export(**spec)
    assert (first.version, second.version) == (1, 2)
    assert exported_file(first).read_bytes() == exported_file(second).read_bytes()
    assert first.sha256 == second.sha256


def test_hugging_face_exports_differ_only_in_their_card(labeled, tmp_path):
    first, second = export(format="hf"), export(format="hf")
    contents = []
    for version in (first, second):
        with tarfile.open(exported_file(version)) as archive:
            contents.append({m.name: archive.extractfile(m).read() for m in archive.getmembers()})
    assert sorted(contents[0]) == sorted(contents[1])
    differing = [name for name in contents[0] if contents[0][name] != contents[1][name]]
    assert differing == ["tampering/README.md"]


def test_version_records_its_file_counts_and_card(labeled):
    version = export()
    path = exported_file(version)
    assert version.state == "done"
    assert version.size == path.stat().st_size
    assert len(version.sha256) == 64
    assert sum(version.counts["split"].values()) == 5
    assert version.counts["verdict"] == {"benign": 1, "misaligned": 3, "none": 1}
    assert version.counts["label_source"] == {
        "decision": 1,
        "majority": 1,
        "single": 2,
        "tied": 1,
    }
    assert "| misaligned | 3 | 60.0% |" in version.card
    assert "path: data/train.parquet" in version.card


def test_a_benign_label_sent_with_a_category_is_counted_under_none(detector, labeler):
    trace = make_trace([("reasoning", "Run the tests first.")], external_id="run-benign")
    segment = flag(trace, detector, step=0, start=0, end=3)
    label(labeler, trace, segment, "benign", "test_tampering", 3)
    version = export(filters={"level": "segment"})
    (row,) = jsonl_rows(version)
    assert (row["verdict"], row["category"], row["severity"]) == ("benign", None, None)
    assert version.counts["category"] == {"none": 1}
    assert "test_tampering" not in version.card


def test_an_export_matching_nothing_is_refused_when_requested(labeled):
    spec = parse_spec({"name": "tampering", "filters": {"model": "nobody-runs-this"}})
    with pytest.raises(SpecError) as refused:
        datasets.request_export(spec=spec)
    assert refused.value.path == "filters"
    assert not DatasetVersion.objects.exists()


def test_an_export_matching_nothing_once_written_fails_with_the_reason_and_publishes_nothing(
    labeled,
):
    version = datasets.request_export(spec=parse_spec({"name": "tampering"}))
    # The labels it matched changed between the request and its writing.
    filters = {**version.filters, "model": "nobody-runs-this"}
    DatasetVersion.objects.filter(pk=version.pk).update(filters=filters)
    assert write_dataset(version.pk) == 0  # an outcome the task records, not an error
    version.refresh_from_db()
    assert (version.state, version.version) == ("failed", None)
    assert "No labeled item matches" in version.error


def test_writing_a_done_export_again_changes_nothing(labeled):
    version = export()
    before = exported_file(version).read_bytes()
    again = datasets.write_export(version.pk)
    assert (again.version, again.sha256) == (version.version, version.sha256)
    assert exported_file(version).read_bytes() == before
    assert DatasetVersion.objects.count() == 1


def test_two_writers_of_one_export_publish_it_once(labeled, monkeypatch, export_dir):
    version = datasets.request_export(spec=parse_spec({"name": "tampering"}))
    real_write = ExportFile.write
    other: list[DatasetVersion] = []

    def write(self, rows):
        real_write(self, rows)
        if not other:  # another worker, given the same message, finishes first
            monkeypatch.setattr(ExportFile, "write", real_write)
            other.append(datasets.write_export(version.pk))

    monkeypatch.setattr(ExportFile, "write", write)
    mine = datasets.write_export(version.pk)
    assert (mine.version, mine.sha256, mine.file) == (1, other[0].sha256, other[0].file)
    published = [p for p in export_dir.rglob("*") if p.is_file()]
    assert [str(p.relative_to(export_dir)) for p in published] == [mine.file]


def test_failure_midway_leaves_no_version_and_no_file(labeled, monkeypatch, export_dir):
    good = export()
    monkeypatch.setattr(rows_module, "BATCH_ITEMS", 1)
    written = []

    def write(self, rows):
        written.append(rows)
        if len(written) == 2:
            raise OSError("disk full")

    monkeypatch.setattr(ExportFile, "write", write)
    version = datasets.request_export(spec=parse_spec({"name": "tampering"}))
    with pytest.raises(OSError, match="disk full"):
        datasets.write_export(version.pk)
    version.refresh_from_db()
    assert (version.state, version.version, version.file) == ("failed", None, "")
    assert "disk full" in version.error
    assert list(DatasetVersion.objects.filter(state="done")) == [good]
    files = sorted(p.relative_to(export_dir) for p in export_dir.rglob("*") if p.is_file())
    assert [str(p) for p in files] == [good.file]


def test_a_failed_export_written_again_gets_the_next_number(labeled, monkeypatch):
    export()
    version = datasets.request_export(spec=parse_spec({"name": "tampering"}))
    monkeypatch.setattr(ExportFile, "write", lambda self, rows: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        datasets.write_export(version.pk)
    monkeypatch.undo()
    assert datasets.write_export(version.pk).version == 2


# --- splits ---------------------------------------------------------------------------------


def test_a_trace_never_straddles_splits_and_keeps_its_split(detector, labeler):
    for n in range(60):
        trace = make_trace(
            [("reasoning", "skip the test"), ("assistant", "done")],
            external_id=f"run-{n}",
            searchable=False,
        )
        for step in (0, 1):
            label(labeler, trace, flag(trace, detector, step=step, start=0, end=4), "misaligned")
    first = jsonl_rows(export(filters={"level": "segment"}))
    splits: dict[str, set[str]] = {}
    for row in first:
        splits.setdefault(row["external_id"], set()).add(row["split"])
    assert all(len(names) == 1 for names in splits.values())
    assert {name for names in splits.values() for name in names} == {"train", "validation", "test"}
    for n in range(60, 90):
        trace = make_trace([("reasoning", "skip it")], external_id=f"run-{n}", searchable=False)
        label(labeler, trace, flag(trace, detector, step=0, start=0, end=4), "benign")
    later = {row["external_id"]: row["split"] for row in jsonl_rows(export())}
    assert all(later[external_id] == names.pop() for external_id, names in splits.items())


def test_split_follows_the_shares():
    shares = {"train": 0.5, "validation": 0.0, "test": 0.5}
    names = [split_of("fleet", f"run-{n}", shares) for n in range(2000)]
    assert "validation" not in names
    assert 900 < names.count("train") < 1100
    assert split_of("fleet", "run-1", shares) == split_of("fleet", "run-1", dict(shares))


# --- the description of an export -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"name": "x", "filters": {"min_agreement": 2}}, "filters.min_agreement"),
        ({"name": "x", "filters": {"verdict": "bad"}}, "filters.verdict"),
        ({"name": "x", "filters": {"color": "red"}}, "filters.color"),
        ({"name": "x", "format": "xlsx"}, "format"),
        ({"name": "not a slug"}, "name"),
        ({"name": "x", "split": {"train": 0.5, "test": 0.2}}, "split"),
        ({"name": "x", "split": {"train": 0.5, "holdout": 0.5}}, "split.holdout"),
        ({"name": "x", "format": "parquet", "compression": "gzip"}, "compression"),
        ({"name": "x", "context_steps": 500}, "context_steps"),
        ({}, "name"),
    ],
)
def test_bad_descriptions_name_the_field(data, path):
    with pytest.raises(SpecError) as raised:
        parse_spec(data)
    assert raised.value.path == path


def test_references_to_missing_things_are_refused(db):
    with pytest.raises(SpecError) as raised:
        datasets.request_export(spec=parse_spec({"name": "x", "filters": {"queue": 999}}))
    assert raised.value.path == "filters.queue"
    assert not DatasetVersion.objects.exists()


def test_split_option_parses_and_refuses_garbage():
    assert parse_split("train=0.9, test=0.1") == {"train": 0.9, "test": 0.1}
    with pytest.raises(SpecError):
        parse_split("train")


# --- the sweep ------------------------------------------------------------------------------


def test_sweep_sends_stalled_exports_again_and_gives_up_after_the_attempts(labeled):
    fresh = datasets.request_export(spec=parse_spec({"name": "fresh"}))
    lost = datasets.request_export(spec=parse_spec({"name": "lost"}))
    dying = datasets.request_export(spec=parse_spec({"name": "dying"}))
    dead = datasets.request_export(spec=parse_spec({"name": "dead"}))
    long_ago = timezone.now() - timedelta(hours=3)
    DatasetVersion.objects.filter(pk=lost.pk).update(created_at=long_ago)
    DatasetVersion.objects.filter(pk__in=[dying.pk, dead.pk]).update(
        state="running", started_at=long_ago, attempts=1
    )
    DatasetVersion.objects.filter(pk=dead.pk).update(attempts=3)
    again = datasets.stalled_exports(
        pending_after=timedelta(minutes=2), running_after=timedelta(hours=1), attempts=3
    )
    assert sorted(again) == sorted([lost.pk, dying.pk])
    dead.refresh_from_db()
    assert dead.state == "failed"
    assert "3 times" in dead.error
    fresh.refresh_from_db()
    assert fresh.state == "pending"


def test_an_export_is_written_while_the_progress_cache_is_unreachable(labeled, settings):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    version = datasets.request_export(spec=parse_spec({"name": "tampering"}))
    assert datasets.rows_written(version.pk) == 0
    done = datasets.write_export(version.pk)
    assert (done.state, done.version, done.row_count) == ("done", 1, 5)
