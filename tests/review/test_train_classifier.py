"""Training the classifier kind: the command on labeled files and dataset versions, and the
Celery task the browser will call."""

import gzip
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from detection.models import ClassifierModel
from review.datasets.rows import split_of
from review.tasks import train_classifier
from review.training import dataset_examples
from tests.detection.test_classifier import GAMING, WORKING
from tests.review.conftest import flag, make_trace
from tests.review.datasets import export, label

HALVES = {"train": 0.5, "test": 0.5}


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.TRACEWATCH_EXPORT_DIR = tmp_path / "exports"


def steps_of(reasoning: str) -> list[dict]:
    return [
        {"kind": "user", "content": "Make the failing test pass"},
        {"kind": "tool_call", "tool": "bash", "content": "ls"},
        {"kind": "tool_result", "content": "src/ tests/"},
        {"kind": "reasoning", "content": reasoning},
        {"kind": "assistant", "content": "Finished the task."},
    ]


def labeled_lines() -> list[str]:
    lines = []
    for verdict, texts in (("misaligned", GAMING), ("benign", WORKING)):
        for i, text in enumerate(texts):
            run = {"external_id": f"{verdict}-{i}", "steps": steps_of(text)}
            lines.append(json.dumps({"source": "lab", "verdict": verdict, "trace": run}))
    return lines


def run(*args: str) -> str:
    out = StringIO()
    call_command("train_classifier", *args, stdout=out)
    return out.getvalue()


def test_command_trains_on_a_labeled_file_and_prints_held_out_figures(db, tmp_path):
    path = tmp_path / "lab.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(labeled_lines()).encode()))
    out = run(str(path), "--name", "lab", "--holdout", "0.25")
    model = ClassifierModel.objects.get(name="lab")
    assert model.version == 1 and model.promoted_at is None
    assert "AUROC" in out and "precision at 90% recall" in out and "not promoted" in out
    assert model.metrics["held_out"]["traces"] == 4
    assert model.parameters["sources"] == {"lab": 16}
    # The same runs with the same parameters: the version already trained, not a copy.
    assert "already trained" in run(str(path), "--name", "lab", "--holdout", "0.25", "--promote")
    assert ClassifierModel.objects.filter(name="lab").count() == 1
    assert ClassifierModel.objects.get(name="lab").promoted_at is not None


def test_command_reads_a_folder_and_holds_a_source_out(db, tmp_path):
    lines = labeled_lines()
    (tmp_path / "a.jsonl").write_text("\n".join(lines))
    other = [line.replace('"source": "lab"', '"source": "other"') for line in lines]
    (tmp_path / "b.jsonl").write_text("\n".join(other))
    (tmp_path / "notes.txt").write_text("not read")
    out = run(str(tmp_path), "--name", "lab", "--holdout-source", "other", "--json")
    metrics = json.loads(out)["metrics"]
    assert metrics["split"] == "source other"
    assert metrics["train"]["traces"] == 16 and metrics["held_out"]["traces"] == 16


def test_command_on_a_bad_file_exits_non_zero_naming_the_line(db, tmp_path):
    path = tmp_path / "lab.jsonl"
    path.write_text("\n".join([labeled_lines()[0], '{"verdict": "misaligned", "trace": ']))
    with pytest.raises(CommandError, match=r"lab\.jsonl: line 2: invalid JSON"):
        run(str(path))
    path.write_text(labeled_lines()[0].replace('"misaligned"', '"wicked"'))
    with pytest.raises(CommandError, match=r"line 1: .*verdict"):
        run(str(path))
    assert not ClassifierModel.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one of PATH and --dataset"),
        (("missing.jsonl",), "no such file or folder"),
        (("--dataset", "nothing"), "no finished export of 'nothing'"),
        (("x.jsonl", "--dataset-version", "2"), "--dataset-version goes with --dataset"),
        (("--dataset", "x", "--name", "bad name!"), "--name"),
        (("--dataset", "x", "--window", "0"), "window"),
        (("--dataset", "x", "--holdout", "1"), "holdout"),
    ],
)
def test_command_refuses_bad_input_with_a_message(db, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_command_refuses_a_set_of_one_class(db, tmp_path):
    path = tmp_path / "lab.jsonl"
    path.write_text("\n".join(labeled_lines()[: len(GAMING)]))
    with pytest.raises(CommandError, match="both misaligned and benign"):
        run(str(path))


# -- dataset versions ---------------------------------------------------------------------------


def labeled_traces(labeler) -> dict[str, str]:
    """Traces labeled as whole traces in the console: external id -> verdict."""
    verdicts = {}
    for verdict, texts in (("misaligned", GAMING), ("benign", WORKING)):
        for i, text in enumerate(texts * 2):
            external_id = f"{verdict}-{i}"
            steps = [(step["kind"], step["content"]) for step in steps_of(text)]
            trace = make_trace(steps, external_id=external_id, searchable=False)
            label(labeler, trace, None, verdict)
            verdicts[external_id] = verdict
    return verdicts


def test_dataset_training_reads_only_the_training_split(labeler):
    verdicts = labeled_traces(labeler)
    version = export(split=HALVES)
    examples, skipped = dataset_examples(version)
    train_ids = {i for i in verdicts if split_of("fleet", i, HALVES) == "train"}
    assert 0 < len(train_ids) < len(verdicts)
    assert {e.ref for e in examples} == {f"fleet:{i}" for i in train_ids}
    assert all(e.verdict == verdicts[e.ref.removeprefix("fleet:")] for e in examples)
    assert skipped["rows of the test split"] == len(verdicts) - len(train_ids)

    out = run("--dataset", "tampering", "--name", "console", "--holdout", "0.25")
    model = ClassifierModel.objects.get(name="console")
    assert f"training split: {len(train_ids)} labeled traces" in model.trained_on
    assert model.parameters["sources"] == {"fleet": len(train_ids)}
    assert "AUROC" in out


def test_task_trains_on_a_dataset_version_and_reports_progress(labeler, monkeypatch):
    labeled_traces(labeler)
    version = export(split=HALVES)
    states = []
    monkeypatch.setattr(
        train_classifier, "update_state", lambda **kwargs: states.append(kwargs["meta"])
    )
    params = {"holdout": 0.25, "min_df": 1}
    result = train_classifier.run(version.pk, "console", params)
    model = ClassifierModel.objects.get(pk=result["id"])
    assert (result["name"], result["version"]) == ("console", 1)
    assert model.parameters["min_df"] == 1
    stages = [state["stage"] for state in states]
    assert stages[0] == "reading" and stages[-1] == "measuring"
    assert "fitting" in stages
    assert states[-1]["done"] == states[-1]["total"]
    # Delivered again: the version already trained, nothing new stored.
    assert train_classifier.run(version.pk, "console", params) == result
    assert ClassifierModel.objects.count() == 1


def test_misaligned_segments_make_an_unlabeled_trace_misaligned(labeler, detector):
    trace = make_trace([("reasoning", "rig the checker")], external_id="seg", searchable=False)
    label(labeler, trace, flag(trace, detector, step=0, start=0, end=3), "misaligned")
    calm = make_trace([("reasoning", "fix the bound")], external_id="calm", searchable=False)
    label(labeler, calm, flag(calm, detector, step=0, start=0, end=3), "benign")
    examples, _ = dataset_examples(export(split={"train": 1.0}))
    assert [(e.ref, e.verdict) for e in examples] == [("fleet:seg", "misaligned")]
