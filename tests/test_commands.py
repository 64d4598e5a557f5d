import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.samples import jsonl, trace
from traces.models import ApiToken, Source, Step, Trace, hash_token

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_traces", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_reads_files_and_folders_and_is_safe_to_run_twice(tmp_path):
    (tmp_path / "nested").mkdir()
    (tmp_path / "a.jsonl").write_bytes(jsonl(trace("a1"), trace("a2")))
    (tmp_path / "nested" / "b.json").write_text(json.dumps(trace("b1"), indent=2))
    (tmp_path / "notes.txt").write_text("not a trace")
    out, _ = run(str(tmp_path), "--source", "lab")
    assert out.strip() == "3 imported (3 new, 0 replaced), 0 unchanged, 0 failed"
    assert Source.objects.get().slug == "lab"
    out, _ = run(str(tmp_path), "--source", "lab")
    assert out.strip() == "0 imported (0 new, 0 replaced), 3 unchanged, 0 failed"
    assert Trace.objects.count() == 3


def test_import_takes_the_source_from_each_trace_when_not_given(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(trace("x", source="fleet-1"), trace("y", source="fleet-2")))
    run(str(path))
    assert sorted(Trace.objects.values_list("source__slug", flat=True)) == ["fleet-1", "fleet-2"]


def test_a_malformed_file_fails_naming_the_line_and_field_and_keeps_the_good_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(trace("ok"), trace("bad", steps=[{"kind": "user"}, {"kind": "x"}])))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 trace"):
        call_command("import_traces", str(path), "--source", "lab", stdout=out, stderr=err)
    assert "1 imported" in out.getvalue()
    assert f"{path}:2: steps[1].kind: must be one of" in err.getvalue()
    assert list(Trace.objects.values_list("external_id", flat=True)) == ["ok"]


def test_a_trace_without_any_source_is_a_failure(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(trace("x")))
    with pytest.raises(CommandError):
        run(str(path))
    assert Trace.objects.count() == 0


def test_import_reads_jsonl_and_pretty_json_from_stdin(monkeypatch):
    for data in (jsonl(trace("s1"), trace("s2")), json.dumps(trace("s3"), indent=2).encode()):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
        run("-", "--source", "lab")
    assert sorted(Trace.objects.values_list("external_id", flat=True)) == ["s1", "s2", "s3"]


def test_a_document_too_deep_to_read_on_stdin_fails_with_its_path(monkeypatch):
    deep = json.dumps(trace("deep", steps=[{"kind": "user", "arguments": "NESTED"}]))
    data = deep.replace('"NESTED"', "[" * 5000 + "]" * 5000).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 trace"):
        call_command("import_traces", "-", "--source", "lab", stdout=io.StringIO(), stderr=err)
    assert "-:1: steps[0].arguments[0]" in err.getvalue()
    assert "nested more than 100 levels deep" in err.getvalue()
    assert not Trace.objects.exists()


def test_a_missing_path_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "missing.jsonl"))


def test_replace_option_replaces(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(jsonl(trace("x", steps=2)))
    run(str(path), "--source", "lab")
    path.write_bytes(jsonl(trace("x", steps=4)))
    with pytest.raises(CommandError):
        run(str(path), "--source", "lab")
    run(str(path), "--source", "lab", "--replace")
    assert Step.objects.count() == 4


def test_create_token_prints_a_working_token_once_and_stores_its_hash():
    out, err = io.StringIO(), io.StringIO()
    call_command("create_token", "--scope", "ingest", "--source", "fleet-z", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.key_hash == hash_token(raw)
    assert token.source.slug == "fleet-z"
    assert "only this once" in err.getvalue()


def test_create_token_refuses_an_ingest_token_without_a_source():
    with pytest.raises(CommandError, match="--source"):
        call_command("create_token", "--scope", "ingest")
    assert ApiToken.objects.count() == 0


def test_create_token_refuses_a_bad_source_slug():
    with pytest.raises(CommandError, match="--source"):
        call_command("create_token", "--scope", "ingest", "--source", "not a slug!")
    assert Source.objects.count() == 0
