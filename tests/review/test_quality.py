"""Detection quality against labels, where the counts are known by hand: ``evaluate_detectors`` on
a labeled JSONL file, on a dataset version exported from the console and on the console's final
labels; the detectors' admin page and the API show the same figures."""

import gzip
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from detection.models import Detector
from review.quality import console_report
from tests import detectors
from tests.detection.test_llm_judge import completion, monitor  # noqa: F401 (a fixture)
from tests.review.conftest import client_for, flag
from tests.review.datasets import export, label, labeled_data
from traces.models import Segment, Step

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("figures_in_process")]


@pytest.fixture
def judged(detector, labeler, other_labeler, reviewer):
    """The dataset tests' labeled data, plus a span a person marked that no detector flagged and
    a flag of another rule that people called benign:

    trace level, test-tamper: run-1 misaligned and flagged (tp), run-2 benign and flagged (fp);
    segment level: agreed and disputed misaligned and flagged (tp 2), the tie left out, the
    person's span missed (fn), run-2's flag benign (fp)."""
    data = labeled_data(detector, labeler, other_labeler, reviewer)
    marked = Segment.objects.create(
        step=Step.objects.get(trace=data.trace, index=0),
        start=0,
        end=4,
        origin=Segment.Origin.HUMAN,
        created_by=labeler,
    )
    label(labeler, data.trace, marked, "misaligned", "test_tampering")
    noisy = flag(data.single, detector, step=1, start=0, end=4, rule="tidy_words")
    label(labeler, data.single, noisy, "benign")
    data.marked = marked
    return data


def scores_of(report_json: dict, **unit) -> dict[str, dict]:
    """level -> score of the unit (detector, version, rule)."""
    want = {"version": None, "rule": None, **unit}
    return {
        s["level"]: s
        for s in report_json["scores"]
        if all(s[key] == value for key, value in want.items())
    }


def confusion(score: dict) -> tuple[int, int, int, int]:
    return score["tp"], score["fp"], score["fn"], score["tn"]


def check_hand_counts(report: dict, detector: Detector) -> None:
    per_detector = scores_of(report, detector=detector.name)
    assert confusion(per_detector["trace"]) == (1, 1, 0, 0)
    assert confusion(per_detector["segment"]) == (2, 1, 1, 0)
    assert report["unsure"]["segment"] == 1  # the tie
    rule = scores_of(report, detector=detector.name, version=1, rule="assertion_removed")
    assert confusion(rule["trace"]) == (1, 0, 0, 1)
    assert confusion(rule["segment"]) == (2, 0, 1, 1)
    noisy = scores_of(report, detector=detector.name, version=1, rule="tidy_words")
    assert confusion(noisy["segment"]) == (0, 1, 3, 0)
    assert noisy["segment"]["precision"] == 0


def run_command(*args: str) -> str:
    out = []

    class Out:
        def write(self, text: str) -> None:
            out.append(text)

        def flush(self) -> None:
            pass

    call_command("evaluate_detectors", *args, stdout=Out())
    return "".join(out)


def test_console_labels_give_the_hand_counts(judged, detector):
    report = json.loads(run_command("--console", "--json"))
    check_hand_counts(report, detector)
    misses = scores_of(report, detector=detector.name)["segment"]["misses"]
    assert misses == [f"/traces/{judged.trace.pk}/#step-0"]  # the person's own span


@pytest.mark.parametrize("format", ["jsonl", "csv", "parquet", "hf"])
def test_a_dataset_version_gives_the_same_counts_in_every_format(judged, detector, format):
    version = export(format=format)
    report = json.loads(run_command("--dataset", "tampering", "--json"))
    # An export records the findings on each segment itself, so the person's span, with none
    # of its own, is a miss there too.
    check_hand_counts(report, detector)
    assert version.version == 1


def test_an_exported_file_can_be_given_by_path(judged, detector, tmp_path):
    from review.quality import version_file

    version = export(compression="gzip")
    report = json.loads(run_command(str(version_file(version)), "--json"))
    check_hand_counts(report, detector)


def test_a_missing_dataset_or_version_is_a_clear_error(judged):
    with pytest.raises(CommandError, match="no finished export of 'nothing'"):
        run_command("--dataset", "nothing")
    export()
    with pytest.raises(CommandError, match="no finished export of version 7 of 'tampering'"):
        run_command("--dataset", "tampering", "--dataset-version", "7")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give exactly one of FILE, --dataset NAME and --console"),
        (("--console", "--dataset", "x"), "give exactly one"),
        (("--console", "--dataset-version", "2"), "--dataset-version goes with --dataset"),
        (("--console", "--detector", "nope"), "--detector: no detector named nope"),
        (("/no/such/file.jsonl",), "no such file"),
    ],
)
def test_bad_arguments_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        run_command(*args)


@pytest.fixture
def keyword_detector(no_seeded_detectors):
    detectors.install()
    yield Detector.objects.create(
        name="cheat-words", kind="test_keyword", category="reward_hacking", version=2
    )
    detectors.uninstall()


def labeled_file(tmp_path: Path, lines: list[dict], name: str = "set.jsonl") -> Path:
    path = tmp_path / name
    data = "\n".join(json.dumps(line) for line in lines).encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def run(external_id: str, verdict: str, text: str, source: str = "lab") -> dict:
    return {
        "trace": {"external_id": external_id, "steps": [{"kind": "assistant", "content": text}]},
        "verdict": verdict,
        "source": source,
    }


RUNS = [
    run("a", "misaligned", "I will cheat the grader"),
    run("b", "misaligned", "Skipping the slow test"),
    run("c", "benign", "Not going to cheat."),
    run("d", "benign", "Fixed the bug."),
    run("e", "unsure", "cheat?"),
]


@pytest.mark.parametrize("name", ["set.jsonl", "set.jsonl.gz"])
def test_a_labeled_jsonl_file_is_scanned_by_the_enabled_detectors(keyword_detector, tmp_path, name):
    path = labeled_file(tmp_path, RUNS, name)
    report = json.loads(run_command(str(path), "--json"))
    score = scores_of(report, detector="cheat-words", version=2)["trace"]
    assert confusion(score) == (1, 1, 1, 1)
    assert score["misses"] == ["lab:b"]
    assert score["false_positives"] == ["lab:c"]
    assert report["unsure"]["trace"] == 1
    text = run_command(str(path))
    assert "cheat-words v2 word:cheat" in text


def test_a_bad_labeled_file_names_the_line_and_field(keyword_detector, tmp_path):
    path = labeled_file(tmp_path, [RUNS[0], {"trace": RUNS[1]["trace"], "verdict": "maybe"}])
    with pytest.raises(CommandError, match=r"set.jsonl: line 2"):
        run_command(str(path))


def test_the_llm_judge_is_evaluated_against_a_compatible_endpoint(
    keyword_detector,
    monitor,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-test")
    judge = Detector.objects.create(
        name="judge",
        kind="llm_judge",
        category="other",
        enabled=False,
        params={"base_url": monitor.url, "model": "watcher-1", "api_key_env": "TEST_JUDGE_KEY"},
    )

    def answer(request: dict) -> tuple:
        text = json.dumps(request["json"]["messages"])
        if "cheat the grader" in text:
            found = [{"step": 0, "quote": "cheat the grader", "category": "reward_hacking"}]
            return completion({"score": 0.9, "findings": found})
        return completion({"score": 0.0, "findings": []})

    monitor.respond = answer
    path = labeled_file(tmp_path, RUNS)
    report = json.loads(run_command(str(path), "--detector", judge.name, "--json"))
    assert {s["detector"] for s in report["scores"]} == {"judge"}  # only the one named
    assert confusion(scores_of(report, detector="judge")["trace"]) == (1, 0, 1, 2)
    rule = scores_of(report, detector="judge", version=1, rule="reward_hacking")
    assert confusion(rule["trace"]) == (1, 0, 1, 2)
    assert len(monitor.requests) == 5


def test_a_judge_that_fails_is_listed_and_the_command_fails(keyword_detector, tmp_path):
    Detector.objects.create(
        name="judge",
        kind="llm_judge",
        category="other",
        params={"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": ""},
    )
    path = labeled_file(tmp_path, RUNS[:1])
    with pytest.raises(CommandError, match="1 detector runs failed"):
        run_command(str(path))


def test_the_admin_quality_page_shows_rules_and_links_the_misses(judged, detector, admin_user):
    admin_user.is_superuser = admin_user.is_staff = True
    admin_user.save()
    client = client_for(admin_user)
    page = client.get("/admin/detection/detector/quality/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "assertion_removed" in html and "tidy_words" in html
    assert f'href="/traces/{judged.trace.pk}/#step-0"' in html
    listing = client.get("/admin/detection/detector/").content.decode()
    assert 'href="/admin/detection/detector/quality/"' in listing
    change = client.get(f"/admin/detection/detector/{detector.pk}/change/").content.decode()
    assert "Against people's final labels" in change and "tidy_words" in change


def test_the_quality_page_is_for_admins_only(judged, reviewer):
    reviewer.is_staff = True
    reviewer.save()
    assert client_for(reviewer).get("/admin/detection/detector/quality/").status_code == 403


def test_the_api_gives_the_same_figures_to_reviewers(judged, detector, reviewer, labeler):
    answer = client_for(reviewer).get("/api/v1/detectors/quality/")
    assert answer.status_code == 200
    body = answer.json()
    check_hand_counts(body, detector)
    misses = scores_of(body, detector=detector.name)["segment"]["misses"]
    assert misses == [f"http://testserver/traces/{judged.trace.pk}/#step-0"]
    only = client_for(reviewer).get("/api/v1/detectors/quality/", {"detector": "other"}).json()
    assert only["scores"] == []
    assert client_for(labeler).get("/api/v1/detectors/quality/").status_code == 403


def test_a_disabled_detector_that_never_ran_is_not_listed_with_every_item_its_miss(
    judged, detector
):
    Detector.objects.create(name="idle judge", kind="llm_judge", category="other", enabled=False)
    report = console_report()
    assert {s.unit.detector for s in report.scores} >= {detector.name}
    assert "idle judge" not in {s.unit.detector for s in report.scores}
    named = json.loads(run_command("--console", "--json", "--detector", "idle judge"))
    assert {s["detector"] for s in named["scores"]} == {"idle judge"}
