"""Datasets through the API, the console and the command; labels through the API; who may do
what."""

import csv
import hashlib
import io
import json
import re
import tarfile
from collections import Counter

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from config.celery import app as celery_app
from review.datasets import services as datasets
from review.datasets.spec import parse_spec
from review.models import MAX_NOTE_CHARS, DatasetVersion, Label
from tests.review.conftest import HTMX, client_for, make_trace
from tests.review.datasets import export, exported_file, labeled_data
from traces.models import ApiToken
from traces.services import issue_token


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.TRACEWATCH_EXPORT_DIR = tmp_path / "exports"


@pytest.fixture
def eager_tasks(monkeypatch):
    """Exports written in-process at commit, as in the embedded default, whatever the broker."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def labeled(detector, labeler, other_labeler, reviewer):
    return labeled_data(detector, labeler, other_labeler, reviewer)


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def token_client(scope: str, source=None) -> APIClient:
    _, raw = issue_token(scope=scope, source=source)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


# --- labels through the API ------------------------------------------------------------------


def test_labeler_labels_through_the_api_and_an_edit_is_a_revision(tampering, labeler):
    trace, segment = tampering
    client = api_as(labeler)
    body = {"trace": trace.pk, "segment": segment.pk, "verdict": "misaligned", "severity": 3}
    first = client.post("/api/v1/labels/", {**body, "category": "test_tampering"}, format="json")
    assert first.status_code == 201, first.content
    second = client.post("/api/v1/labels/", {**body, "verdict": "unsure"}, format="json")
    assert (first.json()["revision"], second.json()["revision"]) == (1, 2)
    assert list(Label.objects.order_by("revision").values_list("verdict", flat=True)) == [
        "misaligned",
        "unsure",
    ]


def test_a_benign_label_given_through_the_api_has_no_category_or_severity(tampering, labeler):
    trace, segment = tampering
    body = {"trace": trace.pk, "segment": segment.pk, "verdict": "benign", "severity": 3}
    response = api_as(labeler).post(
        "/api/v1/labels/", {**body, "category": "test_tampering"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["category"], response.json()["severity"]) == (None, None)
    assert list(Label.objects.values_list("category", "severity")) == [(None, None)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"verdict": "evil"}, "verdict"),
        ({"category": "no-such"}, "category"),
        ({"severity": 9}, "severity"),
        ({"trace": 999999}, "trace"),
    ],
)
def test_bad_labels_answer_400_naming_the_field(tampering, labeler, change, field):
    trace, segment = tampering
    body = {"trace": trace.pk, "segment": segment.pk, "verdict": "benign", **change}
    response = api_as(labeler).post("/api/v1/labels/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Label.objects.exists()


def test_a_note_longer_than_the_forms_take_answers_400(tampering, labeler):
    trace, segment = tampering
    body = {"trace": trace.pk, "segment": segment.pk, "verdict": "benign"}
    too_long = api_as(labeler).post(
        "/api/v1/labels/", {**body, "note": "n" * (MAX_NOTE_CHARS + 1)}, format="json"
    )
    assert too_long.status_code == 400
    assert "note" in too_long.json()
    assert not Label.objects.exists()
    longest = api_as(labeler).post(
        "/api/v1/labels/", {**body, "note": "n" * MAX_NOTE_CHARS}, format="json"
    )
    assert longest.status_code == 201


def test_a_segment_of_another_trace_is_refused(tampering, labeler):
    _, segment = tampering
    other = make_trace([("user", "hi")], external_id="run-other", searchable=False)
    body = {"trace": other.pk, "segment": segment.pk, "verdict": "benign"}
    response = api_as(labeler).post("/api/v1/labels/", body, format="json")
    assert response.status_code == 400
    assert "segment" in response.json()


def test_labels_are_given_by_people_and_read_by_reviewers_and_tokens(tampering, labeler, reviewer):
    trace, segment = tampering
    body = {"trace": trace.pk, "segment": segment.pk, "verdict": "benign"}
    assert token_client(ApiToken.Scope.ADMIN).post("/api/v1/labels/", body).status_code in (
        401,
        403,
    )
    api_as(labeler).post("/api/v1/labels/", body, format="json")
    assert api_as(labeler).get("/api/v1/labels/").status_code == 403  # blind labeling
    listed = api_as(reviewer).get("/api/v1/labels/").json()["results"]
    assert [(row["author"], row["verdict"]) for row in listed] == [("lena", "benign")]
    assert token_client(ApiToken.Scope.READ).get("/api/v1/labels/").status_code == 200


# --- datasets through the API ----------------------------------------------------------------


def test_pipeline_requests_polls_and_downloads_a_dataset(
    labeled, eager_tasks, django_capture_on_commit_callbacks
):
    client = token_client(ApiToken.Scope.READ)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/datasets/",
            {"name": "api-set", "format": "csv", "filters": {"level": "segment"}},
            format="json",
        )
    assert response.status_code == 202, response.content
    polled = client.get(response.headers["Location"]).json()
    assert (polled["state"], polled["version"], polled["row_count"]) == ("done", 1, 3)
    download = client.get(polled["download"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == polled["sha256"]
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert len(list(csv.reader(io.StringIO(content.decode())))) == 4  # header and three rows
    listed = client.get("/api/v1/datasets/?name=api-set").json()["results"]
    assert [row["id"] for row in listed] == [polled["id"]]


def test_download_serves_byte_ranges(labeled, reviewer):
    version = export()
    whole = exported_file(version).read_bytes()
    client = api_as(reviewer)
    url = f"/api/v1/datasets/{version.pk}/download/"
    part = client.get(url, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206
    assert b"".join(part.streaming_content) == whole[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
    tail = client.get(url, HTTP_RANGE="bytes=-5")
    assert b"".join(tail.streaming_content) == whole[-5:]
    rest = client.get(url, HTTP_RANGE=f"bytes={len(whole) - 3}-")
    assert b"".join(rest.streaming_content) == whole[-3:]
    outside = client.get(url, HTTP_RANGE=f"bytes={len(whole)}-")
    assert outside.status_code == 416
    stale = client.get(url, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"not-the-etag"')
    assert stale.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "filters": {"min_agreement": 1.5}}, "filters.min_agreement"),
        ({"name": "x", "filters": {"queue": 424242}}, "filters.queue"),
        ({"name": "x", "split": {"train": 0.9}}, "split"),
        ({"name": "x", "format": "parquet", "compression": "zstd"}, "compression"),
        ({"format": "jsonl"}, "name"),
    ],
)
def test_bad_dataset_requests_answer_400_with_the_field_path(db, body, field):
    response = token_client(ApiToken.Scope.READ).post("/api/v1/datasets/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not DatasetVersion.objects.exists()


def test_a_request_that_matches_nothing_answers_400_and_records_nothing(
    labeled, eager_tasks, django_capture_on_commit_callbacks
):
    body = {"name": "empty", "filters": {"model": "nobody-runs-this"}}
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(ApiToken.Scope.READ).post("/api/v1/datasets/", body, format="json")
    assert response.status_code == 400
    assert "no labeled item matches" in response.json()["filters"][0]
    assert not DatasetVersion.objects.exists()


def test_an_unwritten_export_cannot_be_downloaded(labeled, reviewer):
    response = api_as(reviewer).post("/api/v1/datasets/", {"name": "later"}, format="json")
    assert response.status_code == 202  # written after commit, which this test never reaches
    download = api_as(reviewer).get(f"/api/v1/datasets/{response.json()['id']}/download/")
    assert download.status_code == 409


@pytest.mark.parametrize("path", ["null,null/download/", "9x/download/", "99/download/", "9x/"])
def test_a_dataset_id_that_names_nothing_answers_404(db, reviewer, path):
    response = api_as(reviewer).get(f"/api/v1/datasets/{path}")
    assert response.status_code == 404
    assert "detail" in response.json()


@pytest.mark.parametrize("who", ["labeler", "nobody", "ingest token", "anonymous"])
def test_datasets_are_refused_without_the_permission(labeled, who, request, source):
    version = export()
    if who == "ingest token":
        client = token_client(ApiToken.Scope.INGEST, source=source)
    elif who == "anonymous":
        client = APIClient()
    else:
        client = api_as(request.getfixturevalue(who))
    for response in (
        client.get("/api/v1/datasets/"),
        client.get(f"/api/v1/datasets/{version.pk}/"),
        client.get(f"/api/v1/datasets/{version.pk}/download/"),
        client.post("/api/v1/datasets/", {"name": "mine"}, format="json"),
    ):
        assert response.status_code in (401, 403)
    assert DatasetVersion.objects.count() == 1


# --- the console -------------------------------------------------------------------------------


def test_reviewer_exports_from_the_console(
    labeled, reviewer, eager_tasks, django_capture_on_commit_callbacks
):
    client = client_for(reviewer)
    form = {
        "name": "console-set",
        "format": "jsonl",
        "compression": "none",
        "level": "segment",
        "context_steps": 1,
        "train": 1,
        "validation": 0,
        "test": 0,
    }
    preview = client.get("/datasets/new/", {**form, "preview": 1}, **HTMX)
    assert b"<strong>3</strong> rows" in preview.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/datasets/new/", form)
    version = DatasetVersion.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/datasets/{version.pk}/"
    page = client.get(response.headers["Location"])
    assert b"console-set v1" in page.content
    assert f"/datasets/{version.pk}/download".encode() in page.content
    assert b"# console-set, version 1" in page.content
    downloaded = client.get(f"/datasets/{version.pk}/download")
    assert b"".join(downloaded.streaming_content) == exported_file(version).read_bytes()
    history = client.get("/datasets/")
    assert b"console-set v1" in history.content


def test_console_form_shows_errors_beside_the_field(db, reviewer):
    response = client_for(reviewer).post(
        "/datasets/new/",
        {
            "name": "bad name!",
            "format": "parquet",
            "compression": "gzip",
            "level": "both",
            "context_steps": 3,
            "train": 0.5,
            "validation": 0.1,
            "test": 0.1,
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"name"}
    assert not DatasetVersion.objects.exists()
    response = client_for(reviewer).post(
        "/datasets/new/",
        {
            "name": "ok",
            "format": "parquet",
            "compression": "gzip",
            "level": "both",
            "context_steps": 3,
            "train": 0.8,
            "validation": 0.1,
            "test": 0.1,
        },
    )
    assert set(response.context["form"].errors) == {"compression"}


EXPORT_FORM = {
    "name": "console-set",
    "format": "jsonl",
    "compression": "none",
    "level": "both",
    "context_steps": 1,
    "train": 1,
    "validation": 0,
    "test": 0,
}


def test_an_export_that_matches_nothing_is_a_form_error_in_the_console(
    labeled, reviewer, eager_tasks, django_capture_on_commit_callbacks
):
    client = client_for(reviewer)
    form = {**EXPORT_FORM, "model": "nobody-runs-this"}
    preview = client.get("/datasets/new/", {**form, "preview": 1}, **HTMX).content.decode()
    assert "<strong>0</strong> rows now" in preview
    assert re.search(r"<button type=\"submit\" disabled>Export</button>", preview)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/datasets/new/", form)
    assert response.status_code == 200
    assert "no labeled item matches" in " ".join(response.context["form"].non_field_errors())
    assert not DatasetVersion.objects.exists()
    matching = client.get("/datasets/new/", {**EXPORT_FORM, "preview": 1}, **HTMX).content
    assert b'<button type="submit">Export</button>' in matching


def test_running_export_page_polls_and_reloads_when_done(labeled, reviewer):
    version = datasets.request_export(spec=parse_spec({"name": "slow"}))
    client = client_for(reviewer)
    page = client.get(f"/datasets/{version.pk}/")
    assert b'hx-trigger="every 1s"' in page.content
    waiting = client.get(f"/datasets/{version.pk}/?status=1", **HTMX)
    assert "HX-Refresh" not in waiting.headers
    datasets.write_export(version.pk)
    finished = client.get(f"/datasets/{version.pk}/?status=1", **HTMX)
    assert finished.headers["HX-Refresh"] == "true"


def test_diff_compares_counts_of_two_versions(labeled, reviewer, labeler):
    first = export(filters={"level": "segment"})
    second = export()
    response = client_for(reviewer).get("/datasets/diff/", {"a": first.pk, "b": second.pk})
    assert response.status_code == 200
    total = response.context["tables"][0]
    assert total == ("rows", [("all", 3, 5, 2)])
    assert client_for(reviewer).get("/datasets/diff/", {"a": first.pk}).status_code == 400


@pytest.mark.parametrize(
    "url", ["/datasets/", "/datasets/new/", "/datasets/{pk}/", "/datasets/{pk}/download"]
)
def test_labelers_cannot_reach_dataset_pages(labeled, labeler, url):
    version = export()
    assert client_for(labeler).get(url.format(pk=version.pk)).status_code == 403


def test_dataset_pages_escape_what_they_show(labeled, reviewer):
    version = datasets.request_export(spec=parse_spec({"name": "x"}))
    hostile = {**version.filters, "model": "<script>alert(1)</script>"}
    DatasetVersion.objects.filter(pk=version.pk).update(filters=hostile)
    page = client_for(reviewer).get(f"/datasets/{version.pk}/")
    assert b"<script>alert(1)</script>" not in page.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.content


# --- the command ---------------------------------------------------------------------------------


def test_command_refuses_an_export_that_matches_nothing(labeled):
    with pytest.raises(CommandError, match=r"^no labeled item matches"):
        call_command("export_dataset", "cli-set", "--model", "nobody", stdout=io.StringIO())
    assert not DatasetVersion.objects.exists()


def test_command_exports_and_prints_the_file(labeled, tmp_path):
    out = io.StringIO()
    target = tmp_path / "copy.jsonl"
    call_command(
        "export_dataset", "cli-set", "--level", "trace", "--output", str(target), stdout=out
    )
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("rows: 2 file: ")
    version = DatasetVersion.objects.get()
    assert target.read_bytes() == exported_file(version).read_bytes()
    assert [json.loads(line)["level"] for line in target.read_text().splitlines()] == [
        "trace",
        "trace",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-agreement", "lots"], "--min-agreement"),
        (["--split", "train=0.5"], "--split"),
        (["--source", "nowhere"], "--source"),
        (["--format", "parquet", "--compression", "gzip"], "--compression"),
        (["--split", "train=2"], "--split: Expected `float` <= 1.0"),
        (["--output", "/nonexistent/folder/copy.jsonl"], "--output: there is no folder"),
    ],
)
def test_command_refuses_bad_options_with_the_option_named(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_dataset", "cli-set", *args, stdout=io.StringIO())
    assert not DatasetVersion.objects.exists()


def test_the_openapi_schema_describes_the_review_api_without_warnings(db):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = out.getvalue()
    for path in ("/api/v1/labels/", "/api/v1/datasets/", "/api/v1/datasets/{id}/download/"):
        assert f"{path}:" in schema


# --- the round trip: labels in through the API, datasets out in every format --------------------


def read_jsonl(path, tmp_path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_csv(path, tmp_path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        row["labels"] = json.loads(row["labels"])
        for column in ("trace_id", "segment_id", "step_index", "start", "end"):
            row[column] = int(row[column]) if row[column] else None
    return rows


def read_parquet(path, tmp_path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def read_hf(path, tmp_path) -> list[dict]:
    datasets_library = pytest.importorskip("datasets")
    with tarfile.open(path) as archive:
        archive.extractall(tmp_path / "hf", filter="data")
    loaded = datasets_library.load_dataset(
        str(tmp_path / "hf" / "roundtrip"), cache_dir=str(tmp_path / "cache")
    )
    return [row for split in loaded for row in loaded[split]]


@pytest.mark.parametrize(
    ("fmt", "reader"),
    [("jsonl", read_jsonl), ("csv", read_csv), ("parquet", read_parquet), ("hf", read_hf)],
)
def test_labels_given_through_the_api_come_back_in_every_format(
    tampering, labeler, other_labeler, fmt, reader, tmp_path
):
    trace, segment = tampering
    given = [
        (labeler, {"verdict": "misaligned", "category": "test_tampering", "severity": 3}),
        (other_labeler, {"verdict": "misaligned", "severity": 4, "note": "sed on the test"}),
    ]
    for user, label in given:
        body = {"trace": trace.pk, "segment": segment.pk, **label}
        assert api_as(user).post("/api/v1/labels/", body, format="json").status_code == 201
    version = export(name="roundtrip", format=fmt)
    (row,) = reader(exported_file(version), tmp_path)
    step = segment.step
    assert (row["trace_id"], row["segment_id"], row["step_index"]) == (
        trace.pk,
        segment.pk,
        step.index,
    )
    assert (row["start"], row["end"]) == (segment.start, segment.end)
    assert row["text"] == step.content[segment.start : segment.end]
    stored = Counter(
        (
            label.verdict,
            label.category and label.category.slug,
            label.get_severity_display(),
            label.note,
        )
        for label in Label.objects.select_related("category")
    )
    exported = Counter(
        (entry["verdict"], entry["category"], entry["severity"], entry["note"])
        for entry in row["labels"]
    )
    assert exported == stored
    assert (row["verdict"], row["label_source"], float(row["agreement"])) == (
        "misaligned",
        "majority",
        1.0,
    )


def test_admins_see_dataset_versions_in_the_admin_and_cannot_change_them(labeled, admin_user):
    version = export()
    client = client_for(admin_user)  # a member of the admin group, as the demo's admin is
    listing = client.get("/admin/review/datasetversion/")
    assert listing.status_code == 200
    assert b"tampering" in listing.content
    page = client.get(f"/admin/review/datasetversion/{version.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
