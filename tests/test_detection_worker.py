"""Detection through a real Redis broker and a real Celery worker process, on PostgreSQL."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app as celery_app
from detection import tasks
from detection.models import Detector, Finding
from tests import detectors
from tests.samples import body, trace
from traces.models import ApiToken, Source, Trace
from traces.services import issue_token

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class RedisServer:
    """A Redis of this test's own, so that it can be stopped and started again."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.answers, 10, "Redis to start")

    def answers(self) -> bool:
        result = subprocess.run(
            [shutil.which("redis-cli") or "redis-cli", "-p", str(self.port), "ping"],
            capture_output=True,
            text=True,
        )
        return result.stdout.strip() == "PONG"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    previous = celery_app.conf.broker_url
    point_celery_at(server.url)
    yield server
    server.stop()
    point_celery_at(previous)


def point_celery_at(url: str) -> None:
    celery_app.conf.broker_url = url
    celery_app.conf.task_always_eager = False
    # Forget the pools made for the previous URL; kombu keeps one pool per URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def service_env(redis: RedisServer, **more: str) -> dict[str, str]:
    """The environment of a process this test starts: the test database and ``redis``."""
    return os.environ | {
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis.url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **more,
    }


class Worker:
    def __init__(self, redis: RedisServer, tmp: Path) -> None:
        self.env = service_env(redis, TRACEWATCH_VISIBILITY_TIMEOUT="3600")
        self.log = tmp / "worker.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.worker",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker(redis_server: RedisServer, tmp_path: Path, no_seeded_detectors) -> Iterator[Worker]:
    detectors.install()
    w = Worker(redis_server, tmp_path)
    yield w
    w.stop()
    detectors.uninstall()


def ingest(client, external_id: str) -> int:
    doc = trace(external_id, steps=[{"kind": "reasoning", "content": "I will cheat the grader."}])
    response = client.post("/api/v1/traces/", data=body(doc), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def state(trace_id: int) -> str:
    return Trace.objects.get(pk=trace_id).detection_state


def test_an_ingested_trace_is_scanned_by_the_worker(ingest_client, worker):
    Detector.objects.create(name="kw", kind="test_keyword", params={}, category="reward_hacking")
    worker.start()
    trace_id = ingest(ingest_client, "w1")
    wait_for(lambda: state(trace_id) == "done", 60, f"the scan; see {worker.log}")
    finding = Finding.objects.select_related("segment__step").get(trace_id=trace_id)
    segment = finding.segment
    assert segment.step.content[segment.start : segment.end] == "cheat"


def test_a_worker_killed_mid_scan_loses_nothing_and_duplicates_nothing(
    ingest_client, worker, settings
):
    Detector.objects.create(
        name="slow", kind="test_keyword", params={"sleep": 3}, category="reward_hacking"
    )
    worker.start()
    trace_id = ingest(ingest_client, "w2")
    wait_for(lambda: state(trace_id) == "running", 60, f"the scan to start; see {worker.log}")
    worker.kill()
    assert state(trace_id) == "running"
    worker.start()
    settings.TRACEWATCH_SWEEP_RUNNING_AFTER = 0
    assert tasks.sweep() == 1
    wait_for(lambda: state(trace_id) == "done", 60, f"the rescan; see {worker.log}")
    # Once more, as a redelivered message would: still exactly one finding.
    scanned = Trace.objects.get(pk=trace_id).updated_at
    tasks.detect_traces.delay([trace_id])
    wait_for(
        lambda: Trace.objects.filter(
            pk=trace_id, detection_state="done", updated_at__gt=scanned
        ).exists(),
        60,
        f"the second run; see {worker.log}",
    )
    assert Finding.objects.filter(trace_id=trace_id).count() == 1


def test_a_trace_ingested_while_redis_is_down_is_stored_and_scanned_by_the_sweep_later(
    ingest_client, worker, redis_server, settings
):
    Detector.objects.create(name="kw", kind="test_keyword", params={}, category="reward_hacking")
    redis_server.stop()
    trace_id = ingest(ingest_client, "w3")
    assert state(trace_id) == "pending"
    redis_server.start()
    worker.start()
    settings.TRACEWATCH_SWEEP_PENDING_AFTER = 0
    assert tasks.sweep() == 1
    wait_for(lambda: state(trace_id) == "done", 60, f"the scan; see {worker.log}")
    assert Finding.objects.filter(trace_id=trace_id).count() == 1


def restart_postgres() -> None:
    """Restart the throwaway PostgreSQL that ``./tw test`` started: every connection to it is cut,
    and new ones are refused until it is back."""
    command = [
        f"{os.environ['TRACEWATCH_PG_BIN']}/pg_ctl",
        "restart",
        "-D",
        f"{os.environ['TRACEWATCH_SERVICES_DIR']}/pg",
        "-l",
        f"{os.environ['TRACEWATCH_SERVICES_DIR']}/pg/server.log",
        "-m",
        "fast",
        "-w",
    ]
    if os.geteuid() == 0:  # the server runs as postgres, as ./tw starts it
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    connection.close()  # this process's own connection went with it


class WebServer:
    """The console under gunicorn, as in production: one sync worker that keeps its database
    connection from one request to the next."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "web.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{self.port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self.answers, 30, f"gunicorn to start; see {self.log}")

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/login/", timeout=5)
        except OSError:
            return False
        return True

    def post(self, path: str, data: bytes, token: str) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, {"body": error.read().decode(errors="replace")}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


@pytest.fixture
def web(redis_server: RedisServer, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(service_env(redis_server, DATABASE_CONN_MAX_AGE="600"), tmp_path)
    yield server
    server.stop()


@pytest.mark.skipif(
    not os.environ.get("TRACEWATCH_SERVICES_DIR"),
    reason="restarts the throwaway PostgreSQL that ./tw test starts",
)
def test_postgresql_restarting_under_the_console_and_a_worker_loses_no_trace(worker, web):
    Detector.objects.create(name="kw", kind="test_keyword", params={}, category="reward_hacking")
    _, token = issue_token(scope=ApiToken.Scope.INGEST, source=Source.objects.create(slug="s"))
    worker.start()

    def ingest_over_http(external_id: str) -> int:
        doc = trace(external_id, steps=[{"kind": "reasoning", "content": "I will cheat."}])
        status, answer = web.post("/api/v1/traces/", body(doc), token)
        assert status == 201, answer
        wait_for(lambda: state(answer["id"]) == "done", 60, f"the scan; see {worker.log}")
        return answer["id"]

    before = ingest_over_http("before")
    restart_postgres()  # the web server and the worker each hold a connection it cuts
    after = ingest_over_http("after")
    findings = Finding.objects.filter(trace_id__in=[before, after])
    assert sorted(findings.values_list("trace_id", flat=True)) == [before, after]
