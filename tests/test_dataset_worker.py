"""Dataset exports written by a real Celery worker process through a real Redis broker, on
PostgreSQL: requested through the API, polled until done, and surviving a broker outage."""

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from detection.models import Detector
from review import tasks
from review.models import DatasetVersion
from tests.review.conftest import make_user
from tests.review.datasets import labeled_data
from tests.test_detection_worker import RedisServer, Worker, redis_server, wait_for
from traces.roles import LABELER, REVIEWER

__all__ = ["redis_server"]  # the fixture, used by name
pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def export_worker(redis_server: RedisServer, tmp_path: Path, settings):
    settings.TRACEWATCH_EXPORT_DIR = tmp_path / "exports"
    worker = Worker(redis_server, tmp_path)
    worker.env["TRACEWATCH_EXPORT_DIR"] = str(settings.TRACEWATCH_EXPORT_DIR)
    yield worker
    worker.stop()


@pytest.fixture
def reviewer_api(detector_for_worker) -> APIClient:
    reviewer = make_user("rita", REVIEWER)
    labeled_data(
        detector_for_worker, make_user("lena", LABELER), make_user("omar", LABELER), reviewer
    )
    client = APIClient()
    client.force_login(reviewer)
    return client


@pytest.fixture
def detector_for_worker(db) -> Detector:
    return Detector.objects.create(name="test-tamper", kind="pattern", category="test_tampering")


def state(version_id: int) -> str:
    return DatasetVersion.objects.get(pk=version_id).state


def test_the_worker_writes_an_export_requested_through_the_api(reviewer_api, export_worker):
    export_worker.start()
    response = reviewer_api.post(
        "/api/v1/datasets/", {"name": "w", "format": "parquet"}, format="json"
    )
    assert response.status_code == 202, response.content
    version_id = response.json()["id"]
    wait_for(lambda: state(version_id) == "done", 60, f"the export; see {export_worker.log}")
    version = DatasetVersion.objects.get(pk=version_id)
    assert (version.version, version.row_count) == (1, 5)
    download = reviewer_api.get(f"/api/v1/datasets/{version_id}/download/")
    assert download.status_code == 200
    assert download.headers["ETag"] == f'"{version.sha256}"'


def test_an_export_requested_while_redis_is_down_is_written_after_the_sweep(
    reviewer_api, export_worker, redis_server, settings
):
    redis_server.stop()
    response = reviewer_api.post("/api/v1/datasets/", {"name": "outage"}, format="json")
    assert response.status_code == 202
    version_id = response.json()["id"]
    assert state(version_id) == "pending"
    redis_server.start()
    export_worker.start()
    settings.TRACEWATCH_SWEEP_PENDING_AFTER = 0
    assert tasks.sweep_exports() == 1
    wait_for(lambda: state(version_id) == "done", 60, f"the export; see {export_worker.log}")
    assert DatasetVersion.objects.get(pk=version_id).version == 1
