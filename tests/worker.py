"""Celery entry point for the worker processes tests start: the project's app, plus the detector
kind of tests/detectors.py."""

from config.celery import app
from tests import detectors

detectors.install()

__all__ = ["app"]
