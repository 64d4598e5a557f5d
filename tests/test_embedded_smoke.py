"""The embedded default end to end, as a newcomer runs it: no DATABASE_URL, no REDIS_URL."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def manage(env: dict, *args: str) -> str:
    result = run_manage(env, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_embedded_default_migrates_loads_the_demo_and_serves_the_api(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    env.update(
        DEBUG="1", TRACEWATCH_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings"
    )
    manage(env, "migrate", "--noinput")
    result = run_manage(env, "setup_demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # In-process tasks run quietly: no line per task, no warning of the in-memory broker.
    assert "succeeded in" not in result.stderr and "No hostname" not in result.stderr
    assert "Demo login (admin): admin / " in out
    assert "Demo login (labeler): labeler / " in out
    assert (tmp_path / "tracewatch.sqlite3").exists()
    assert "0 imported" in manage(env, "setup_demo"), "a second run imports nothing again"
    token = manage(env, "create_token", "--scope", "read").strip()
    ingest_token = manage(env, "create_token", "--scope", "ingest", "--source", "demo").strip()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = get(f"http://127.0.0.1:{port}/api/v1/traces/?page_size=500", token)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer within 30 s"
                time.sleep(0.3)
        assert len(page["results"]) >= 40
        assert {t["source"] for t in page["results"]} == {"demo"}
        detail = get(f"http://127.0.0.1:{port}/api/v1/traces/{page['results'][0]['id']}/", token)
        assert detail["steps"]
        # runserver hands a chunked body over as empty: refused, never read as nothing.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "POST",
            "/api/v1/traces/",
            body=iter([b'{"external_id": "chunked", ', b'"steps": [{"kind": "user"}]}']),
            headers={"Authorization": f"Bearer {ingest_token}"},
            encode_chunked=True,
        )
        assert connection.getresponse().status == 411
        connection.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_readme_commands_work_as_written_after_the_quick_start(tmp_path):
    """``./tw start`` runs migrate and setup_demo with DEBUG on; afterwards the README's commands
    run with nothing set, as a newcomer types them."""
    plain = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"}
    }
    plain.update(TRACEWATCH_VAR_DIR=str(tmp_path))
    plain.pop("DJANGO_SETTINGS_MODULE", None)
    start = {**plain, "DEBUG": "1"}
    manage(start, "migrate", "--noinput")
    out = manage(start, "setup_demo", "--address", "9123")
    assert "Tracewatch is at http://127.0.0.1:9123/" in out
    assert "Tracewatch is at http://0.0.0.0:8765/" in manage(
        start, "setup_demo", "--address", "0.0.0.0:8765"
    )

    token = manage(plain, "create_token", "--scope", "ingest", "--source", "codex-internal")
    assert token.strip().startswith("tw_")
    sample = tmp_path / "traces.jsonl"
    sample.write_text(
        json.dumps({"external_id": "r1", "steps": [{"kind": "user", "content": "hi"}]}) + "\n"
    )
    assert "1 imported" in manage(plain, "import_traces", str(sample), "--source", "codex-internal")


def test_a_deployment_with_its_own_secret_key_ignores_the_local_console_settings(tmp_path):
    (tmp_path / "dev.env").write_text("DEBUG=1\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "DEBUG"}
    }
    env.update(TRACEWATCH_VAR_DIR=str(tmp_path), SECRET_KEY="k" * 50)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = run_manage(env, "check")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr  # DEBUG stayed off
