import os

import pytest
from django.db import connection
from rest_framework.test import APIClient

from detection.models import Detector
from traces.models import ApiToken, Source
from traces.services import issue_token

REQUIRE_SERVICES = os.environ.get("TRACEWATCH_REQUIRE_SERVICES") == "1"
CHROMIUM = "/usr/bin/chromium"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests of PostgreSQL, Redis or the browser fail, never skip, in a run promised them."""
    needs = []
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        needs.append("PostgreSQL (DATABASE_URL)")
    if item.get_closest_marker("redis") and not os.environ.get("REDIS_URL"):
        needs.append("Redis (REDIS_URL)")
    if item.get_closest_marker("browser") and not os.path.exists(CHROMIUM):
        needs.append(f"Chromium ({CHROMIUM})")
    if needs:
        message = f"needs {' and '.join(needs)}"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def no_seeded_detectors(db) -> None:
    """Remove the default detectors the migrations seed, for tests that count findings of their
    own detectors."""
    Detector.objects.all().delete()


@pytest.fixture
def source(db) -> Source:
    return Source.objects.create(slug="fleet-a")


def token_client(scope: str, source: Source | None = None) -> APIClient:
    """An API client that carries a new token of ``scope``."""
    _, raw = issue_token(scope=scope, source=source)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def ingest_client(source: Source) -> APIClient:
    return token_client(ApiToken.Scope.INGEST, source)


@pytest.fixture
def read_client(db) -> APIClient:
    return token_client(ApiToken.Scope.READ)
