"""A training run started from the admin: the ``review.tasks.train_classifier`` task, queued,
and its state read back for the progress page.

With a broker the task runs on a worker and its state is read from the result backend (Redis),
which keeps ``PROGRESS`` with its stage and done/total while it runs. In-process (the embedded
default) there is no result backend: the task runs at once, in the request that starts it, and
its outcome is returned directly for the caller to keep.
"""

import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from celery import states
from celery.exceptions import SoftTimeLimitExceeded
from celery.result import AsyncResult

from detection.learning import EmbeddingsUnavailable, TrainingError, TrainingParams
from review.tasks import train_classifier
from review.training import TrainingInputError

logger = logging.getLogger(__name__)

# Failures whose message is already written for the person who asked: shown as they are.
EXPLAINED = (TrainingError, TrainingInputError, EmbeddingsUnavailable)


@dataclass(frozen=True)
class RunState:
    """Where a run is: ``queued``, ``running``, ``done`` (``model_id`` the version stored) or
    ``failed`` (``error`` says why); ``unknown`` when its state cannot be read just now."""

    state: str
    stage: str = ""
    done: int = 0
    total: int = 0
    model_id: int | None = None
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_run_start(
    *, version_id: int, name: str, params: TrainingParams
) -> tuple[str, RunState | None]:
    """Queue the training of ``name`` on a dataset version; returns the run's id, and its
    outcome when it ran in-process (None when a worker will run it). A broker that cannot
    be reached raises, and nothing was queued."""
    run_id = str(uuid.uuid4())
    args = (version_id, name, asdict(params))
    if train_classifier.app.conf.task_always_eager:
        # throw=False: a failure is an outcome to show, as a worker's would be.
        return run_id, state_of(train_classifier.apply(args=args, task_id=run_id, throw=False))
    train_classifier.apply_async(args=args, task_id=run_id)
    return run_id, None


def training_run_state(run_id: str) -> RunState:
    """The state a worker has recorded for a run; ``unknown`` when the result backend cannot
    be reached (the page asks again)."""
    try:
        return state_of(AsyncResult(run_id, app=train_classifier.app))
    except Exception as exc:  # the result backend is a network service
        logger.warning("cannot read the state of training run %s", run_id, exc_info=True)
        return RunState("unknown", error=f"its state cannot be read just now ({exc})")


def state_of(result: AsyncResult) -> RunState:
    """A Celery result as a run's state."""
    state, info = result.state, result.info
    if state == states.SUCCESS:
        return RunState("done", model_id=int(info["id"]))
    if state == states.FAILURE:
        return RunState("failed", error=failure_message(info))
    if state == states.REVOKED:
        return RunState("failed", error="the task was revoked")
    if state == "PROGRESS" and isinstance(info, dict):
        return RunState(
            "running",
            stage=str(info.get("stage", "")),
            done=int(info.get("done", 0)),
            total=int(info.get("total", 0)),
        )
    if state == states.PENDING:
        return RunState("queued")
    return RunState("running")


def failure_message(error: object) -> str:
    """What to tell the admin about a failed run: the message of a failure training explains,
    otherwise the kind of error with its message."""
    if isinstance(error, SoftTimeLimitExceeded):
        return "training took longer than its time limit (TRACEWATCH_TRAIN_SOFT_TIME_LIMIT)"
    if isinstance(error, EXPLAINED):
        return str(error)
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return str(error)
