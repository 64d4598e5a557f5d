"""The stored artefacts of the ``classifier`` kind: writing a trained model as a new version,
loading one back (checked and cached per process), and promoting one.

A version never changes once written, so a loaded model is cached by (name, version, sha256) for
the life of the process; which version that is, and "the latest promoted", are looked up on every
build (one small query), so a promotion reaches every worker without a restart.
"""

import hashlib
import io
import threading

import joblib
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from detection.learning import TrainedModel, Training
from detection.models import ClassifierModel, Detector

# Loaded models kept per process; a model is a few megabytes.
CACHE_SIZE = 4
_cache: dict[tuple[str, int, str], TrainedModel] = {}
_lock = threading.Lock()


class ArtefactError(LookupError):
    """No such model, or one whose stored pipeline does not match its sha256; ``field`` is the
    detector parameter that named it."""

    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.field = field


def classifier_save(*, name: str, training: Training, trained_on: str) -> ClassifierModel:
    """Store a trained model as the next version of ``name``, not promoted."""
    buffer = io.BytesIO()
    joblib.dump(training.model.pipeline, buffer, compress=3)
    blob = buffer.getvalue()
    for _ in range(5):  # two trainings finishing at once take different numbers
        try:
            with transaction.atomic():
                latest = ClassifierModel.objects.filter(name=name).aggregate(v=Max("version"))
                return ClassifierModel.objects.create(
                    name=name,
                    version=(latest["v"] or 0) + 1,
                    trained_on=trained_on,
                    training_digest=training.digest,
                    parameters=training.parameters() | {"sources": training.sources},
                    metrics=training.metrics,
                    pipeline=blob,
                    pipeline_sha256=hashlib.sha256(blob).hexdigest(),
                )
        except IntegrityError:
            continue
    raise ArtefactError(f"could not number a new version of {name!r}: retry")


def latest_promoted(name: str) -> QuerySet[ClassifierModel]:
    """The promoted versions of ``name``, the latest promotion first: the first is the one
    detectors use, and every reader of "the latest promoted version" shares this order."""
    return ClassifierModel.objects.filter(name=name, promoted_at__isnull=False).order_by(
        "-promoted_at", "-version"
    )


def detectors_following(name: str) -> QuerySet[Detector]:
    """The ``classifier`` detectors that use the latest promoted version of ``name`` (those
    naming no version): the ones a promotion gives a new version and a rescan."""
    # No "version" key, or one holding JSON null.
    latest = Q(params__version__isnull=True) | Q(params__version=None)
    return Detector.objects.filter(latest, kind="classifier", params__name=name).order_by("name")


def classifier_load(name: str, version: int | None = None) -> tuple[int, TrainedModel]:
    """A stored model ready to score (the latest promoted version of ``name`` when no version
    is given), and its version. Its bytes are checked against their sha256 before they are
    unpickled; once loaded it is cached by name, version and sha256."""
    models = ClassifierModel.objects.filter(name=name)
    chosen = latest_promoted(name) if version is None else models.filter(version=version)
    row = chosen.values("version", "pipeline_sha256", "parameters").first()
    if row is None:
        if version is not None and models.exists():
            raise ArtefactError(f"no version {version} of model {name!r}", "version")
        what = "no promoted version of the model" if models.exists() else "no model"
        raise ArtefactError(f"{what} named {name!r}")
    number, sha256 = row["version"], row["pipeline_sha256"]
    key = (name, number, sha256)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return number, cached
    blob = bytes(chosen.values_list("pipeline", flat=True).get(version=number))
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise ArtefactError(
            f"model {name!r} v{number}: the stored pipeline does not match its sha256; "
            "it was altered and will not be loaded",
            "name" if version is None else "version",
        )
    model = TrainedModel(joblib.load(io.BytesIO(blob)), int(row["parameters"]["window"]))
    with _lock:
        while len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = model
    return number, model


def classifier_promote(model: ClassifierModel) -> list[Detector]:
    """Make ``model`` the latest promoted version of its name. Detectors that follow the latest
    promoted version of it get a new version of their own, so their findings are redone with
    the new model and kept apart from the old one's; returns them."""
    from detection.services import save_detector

    with transaction.atomic():
        ClassifierModel.objects.filter(pk=model.pk).update(promoted_at=timezone.now())
        following = list(detectors_following(model.name).select_for_update())
        for detector in following:
            save_detector(detector, changed={"params"})
    return following
