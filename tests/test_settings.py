import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import database_from_url

ROOT = Path(__file__).resolve().parent.parent


def environment(tmp_path: Path, **env: str) -> dict[str, str]:
    """This process's environment without Tracewatch's settings (the suite's own included), plus
    ``env``."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"}
        and not k.startswith("SECURE_")
    }
    clean.update(env, TRACEWATCH_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    return clean


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = environment(tmp_path, **env)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_debug_off_without_a_secret_key_says_what_to_set(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_off_without_allowed_hosts_says_what_to_set(tmp_path):
    result = load_settings(tmp_path, SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr


def test_nothing_set_but_debug_runs_embedded_on_sqlite_with_tasks_in_process(tmp_path):
    result = load_settings(tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True"]
    assert (tmp_path / "secret_key").exists()


def test_database_and_redis_urls_select_postgresql_and_a_broker(tmp_path):
    result = load_settings(
        tmp_path,
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="example.org",
        DATABASE_URL="postgres://u:p@db:5432/tw",
        REDIS_URL="redis://cache:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "False"]


def test_a_bad_boolean_is_refused_by_name(tmp_path):
    result = load_settings(tmp_path, DEBUG="maybe")
    assert "DEBUG must be true or false" in result.stderr


def test_database_url_parts_are_decoded():
    db = database_from_url(
        "postgresql://us%40er:p%3Ass@db.internal:6543/tracewatch?sslmode=require"
    )
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "us@er",
        "p:ss",
        "db.internal",
        "6543",
        "tracewatch",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_an_unknown_database_scheme_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url("mysql://db/x")


def test_the_production_settings_of_the_readme_pass_the_deployment_checks(tmp_path):
    env = environment(
        tmp_path,
        # What the README's Production section sets.
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="tracewatch.example.org",
        DATABASE_URL="postgres://tracewatch:pw@db.internal:5432/tracewatch",
        REDIS_URL="redis://cache.internal:6379/0",
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
