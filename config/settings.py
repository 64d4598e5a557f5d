"""Tracewatch settings, read from the environment in this one place.

With nothing set, Tracewatch runs embedded: SQLite (WAL) under ``var/`` and Celery tasks executed
in-process. With ``DATABASE_URL`` and ``REDIS_URL`` it runs on PostgreSQL with a Redis broker and
separate Celery workers. Every variable is listed in the README's configuration table.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TRACEWATCH_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def database_from_url(url: str) -> dict:
    """Django's DATABASES entry for a ``postgres://`` or ``sqlite:///`` URL."""
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql"}:
        options = dict(parse_qsl(parts.query))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    if parts.scheme == "sqlite":
        return sqlite_database(Path(unquote(parts.path)))
    raise ImproperlyConfigured(
        f"DATABASE_URL must start with postgres:// or sqlite:///, not {parts.scheme or url!r}"
    )


def sqlite_database(path: Path) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off, set SECRET_KEY to a long random string "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for a local console."
        )
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is not set. With DEBUG off, set ALLOWED_HOSTS to the comma-separated "
            "host names the console is served under (for example: tracewatch.example.org)."
        )
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "config.apps.TracewatchAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "traces",
    "detection",
    "review",
]

MIDDLEWARE = [
    "config.timing.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.screening.RequestScreeningMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "review.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.outage.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "review.context_processors.roles",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": database_from_url(DATABASE_URL)
    if DATABASE_URL
    else sqlite_database(VAR_DIR / "tracewatch.sqlite3")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # An unreachable Redis fails a cache call in seconds instead of holding the request.
            "OPTIONS": {"socket_connect_timeout": 3, "socket_timeout": 3},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    # Results and progress of the tasks that keep them (training the classifier); every other
    # task ignores its result.
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://localhost/"  # a host named, or kombu warns of the default
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# An unreachable broker at ingest must not hold the request: publish fails fast, the trace stays
# pending and the sweep sends it again.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A message taken by a worker that died is delivered again after this many seconds.
    "visibility_timeout": env_int("TRACEWATCH_VISIBILITY_TIMEOUT", 1800),
    "socket_connect_timeout": 3,
    "socket_timeout": 10,
}
CELERY_BEAT_SCHEDULE = {
    "sweep-stalled-detection": {
        "task": "detection.tasks.sweep",
        "schedule": env_int("TRACEWATCH_SWEEP_EVERY", 60),
    },
    "sweep-search-index": {
        "task": "review.tasks.sweep_search_index",
        "schedule": env_int("TRACEWATCH_SWEEP_EVERY", 60) * 5,
    },
    "sweep-stalled-exports": {
        "task": "review.tasks.sweep_exports",
        "schedule": env_int("TRACEWATCH_SWEEP_EVERY", 60),
    },
    "sweep-stalled-alerts": {
        "task": "review.tasks.sweep_alerts",
        "schedule": env_int("TRACEWATCH_SWEEP_EVERY", 60),
    },
    "sweep-figures": {
        "task": "review.tasks.sweep_figures",
        "schedule": env_int("TRACEWATCH_SWEEP_EVERY", 60),
    },
}
# The dashboard's and detector quality page's figures are computed again at least this often,
# for what no change reports (traces arriving in a trace-level queue, a labeler renamed).
TRACEWATCH_FIGURES_MAX_AGE = env_int("TRACEWATCH_FIGURES_MAX_AGE", 600)
TRACEWATCH_FIGURES_SOFT_TIME_LIMIT = env_int("TRACEWATCH_FIGURES_SOFT_TIME_LIMIT", 1800)
TRACEWATCH_DETECT_SOFT_TIME_LIMIT = env_int("TRACEWATCH_DETECT_SOFT_TIME_LIMIT", 300)
TRACEWATCH_DETECT_BATCH = env_int("TRACEWATCH_DETECT_BATCH", 25)
TRACEWATCH_DETECT_RETRIES = env_int("TRACEWATCH_DETECT_RETRIES", 5)
TRACEWATCH_DETECT_RETRY_AFTER = env_int("TRACEWATCH_DETECT_RETRY_AFTER", 60)
TRACEWATCH_SWEEP_PENDING_AFTER = env_int("TRACEWATCH_SWEEP_PENDING_AFTER", 120)
TRACEWATCH_SWEEP_RUNNING_AFTER = env_int(
    "TRACEWATCH_SWEEP_RUNNING_AFTER", TRACEWATCH_DETECT_SOFT_TIME_LIMIT + 60
)
TRACEWATCH_SWEEP_LIMIT = env_int("TRACEWATCH_SWEEP_LIMIT", 10_000)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "review:home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# HTTPS in production (``manage.py check --deploy`` asks for these). Off by default, because a
# console served over plain HTTP on a laptop, or a health check, must not be redirected away.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Proxies in front that append the client's address to X-Forwarded-For; with none, the audit log
# records REMOTE_ADDR, since a client can write any X-Forwarded-For it likes.
TRACEWATCH_TRUSTED_PROXIES = env_int("TRACEWATCH_TRUSTED_PROXIES", 0)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Behind a proxy that ends TLS: trust its X-Forwarded-Proto (only if it always sets it).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "traces.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["traces.permissions.CanRead"],
    # The browsable API's pages carry inline styles and script, which the Content-Security-Policy
    # forbids: only a local console in DEBUG has them; /api/docs/ documents the API everywhere.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # ``?format=`` names a trace format on the ingest endpoints, not a renderer.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tracewatch API",
    "DESCRIPTION": "Ingest coding-agent traces, read them back, and pull labeled datasets.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "OAS_VERSION": "3.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A trace's detection and a dataset export share one set of states.
    "ENUM_NAME_OVERRIDES": {"WorkStateEnum": "traces.models.Trace.DetectionState"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "traces.openapi.add_native_schemas",
    ],
}

# Ingest limits and behaviour.
TRACEWATCH_MAX_BODY_BYTES = env_int("TRACEWATCH_MAX_BODY_BYTES", 32 * 1024 * 1024)
TRACEWATCH_MAX_BULK_BYTES = env_int("TRACEWATCH_MAX_BULK_BYTES", 512 * 1024 * 1024)
TRACEWATCH_MAX_BULK_DECOMPRESSED_BYTES = env_int(
    "TRACEWATCH_MAX_BULK_DECOMPRESSED_BYTES", 2 * 1024 * 1024 * 1024
)
TRACEWATCH_MAX_BULK_LINES = env_int("TRACEWATCH_MAX_BULK_LINES", 100_000)
TRACEWATCH_MAX_STEPS_PER_TRACE = env_int("TRACEWATCH_MAX_STEPS_PER_TRACE", 20_000)
TRACEWATCH_MAX_STEP_CHARS = env_int("TRACEWATCH_MAX_STEP_CHARS", 1_000_000)
TRACEWATCH_INGEST_BATCH_STEPS = env_int("TRACEWATCH_INGEST_BATCH_STEPS", 20_000)
TRACEWATCH_MASK_SECRETS = env_bool("TRACEWATCH_MASK_SECRETS", True)
# Dataset exports: written and served from this folder, which web and worker processes share.
TRACEWATCH_EXPORT_DIR = Path(os.environ.get("TRACEWATCH_EXPORT_DIR", VAR_DIR / "exports"))
TRACEWATCH_EXPORT_SOFT_TIME_LIMIT = env_int("TRACEWATCH_EXPORT_SOFT_TIME_LIMIT", 3600)
# A writer killed this many times (the sweep restarts it) leaves its export failed.
TRACEWATCH_EXPORT_ATTEMPTS = env_int("TRACEWATCH_EXPORT_ATTEMPTS", 3)
# Training the classifier kind on a dataset version (a Celery task).
TRACEWATCH_TRAIN_SOFT_TIME_LIMIT = env_int("TRACEWATCH_TRAIN_SOFT_TIME_LIMIT", 3600)
DATA_UPLOAD_MAX_MEMORY_SIZE = TRACEWATCH_MAX_BODY_BYTES

# Alerts. Webhooks to private, loopback and link-local addresses are refused unless allowed (a
# receiver on the same machine, tests); a webhook gets this many seconds to answer, and is tried
# this many times more after a network error or a 5xx, the wait doubling from the first.
TRACEWATCH_ALERTS_ALLOW_PRIVATE = env_bool("TRACEWATCH_ALERTS_ALLOW_PRIVATE", False)
TRACEWATCH_ALERTS_TIMEOUT = env_int("TRACEWATCH_ALERTS_TIMEOUT", 5)
TRACEWATCH_ALERTS_RETRIES = env_int("TRACEWATCH_ALERTS_RETRIES", 6)
TRACEWATCH_ALERTS_RETRY_AFTER = env_int("TRACEWATCH_ALERTS_RETRY_AFTER", 10)
# The console's address as people reach it, for links in alerts; without it links are paths.
TRACEWATCH_BASE_URL = os.environ.get("TRACEWATCH_BASE_URL", "").rstrip("/")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "tracewatch@localhost")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # In-process, every task's "succeeded in 0.2s" would land on a command's or the server's
    # output; a worker logs them through Celery's own logging instead.
    "loggers": {"celery.app.trace": {"level": "WARNING"}} if CELERY_TASK_ALWAYS_EAGER else {},
}
