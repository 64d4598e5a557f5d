"""The local console's settings, for the commands the README shows after ``./tw start``.

``./tw start`` turns on development settings (``DEBUG``) and records them in ``var/dev.env``;
``manage.py`` reads that file, so ``.venv/bin/python manage.py create_token …`` works as written
on the same checkout. The file only fills in what the environment leaves unset, and only when the
environment sets no ``SECRET_KEY``: a deployment always sets one, so a ``dev.env`` left on a
server never turns its debug mode on.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
FILE_NAME = "dev.env"


def dev_env_path() -> Path:
    return Path(os.environ.get("TRACEWATCH_VAR_DIR", BASE_DIR / "var")) / FILE_NAME


def load_dev_env() -> None:
    """Fill unset variables from ``var/dev.env`` (``NAME=value`` lines, ``#`` comments)."""
    path = dev_env_path()
    if os.environ.get("SECRET_KEY") or not path.is_file():
        return
    for line in path.read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())
