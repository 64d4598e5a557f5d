"""The ``classifier`` kind: a model trained on labeled traces (``detection.learning``) flags the
windows of a trace it scores at or above a threshold.

Rules miss what nobody wrote a rule for; a model trained on the team's own labels can catch the
same behaviour in other words. It is not in the default pack: it has to earn a place there on
sources it was not trained on (``./tw bench classifier``).

Scanning stays pure: the model is resolved when the detector is built (by the stored artefacts'
resolver the detection app installs, or handed in by a test or a bench), never inside ``scan``.
"""

from collections.abc import Callable, Iterable
from typing import Annotated, Any, ClassVar

import msgspec

from detection.engine import DetectorKind, Hit, ScanTrace, register
from detection.learning import TrainedModel
from traces.schema import DocumentError

# (name, version or None for the latest promoted) -> (version, model); raises a LookupError
# whose ``field`` names the parameter at fault.
Resolver = Callable[[str, int | None], tuple[int, TrainedModel]]


class ClassifierParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[
        str,
        msgspec.Meta(
            min_length=1, description="The trained model's name (train_classifier --name)."
        ),
    ]
    version: (
        Annotated[int, msgspec.Meta(ge=1, description="Blank: the latest promoted version.")] | None
    ) = None
    threshold: Annotated[
        float, msgspec.Meta(ge=0, le=1, description="Windows scoring at least this are flagged.")
    ] = 0.5
    max_hits: Annotated[
        int, msgspec.Meta(ge=1, le=50, description="Most windows flagged per trace.")
    ] = 3
    window: (
        Annotated[
            int, msgspec.Meta(ge=1, le=50, description="Steps per window; blank: as trained.")
        ]
        | None
    ) = None


@register
class Classifier(DetectorKind):
    name = "classifier"
    label = "Learned classifier"
    description = (
        "A model trained on labeled traces (manage.py train_classifier) flags the windows of "
        "steps it scores at or above the threshold, at the step that scores highest."
    )
    Params = ClassifierParams
    # How a model is found when a detector is built; the detection app installs the stored
    # artefacts' loader when Django is ready.
    resolver: ClassVar[Resolver | None] = None

    def __init__(
        self,
        params: msgspec.Struct,
        *,
        category: str,
        step_kinds: Iterable[str],
        model: tuple[int, TrainedModel] | None = None,
    ) -> None:
        super().__init__(params, category=category, step_kinds=step_kinds)
        assert isinstance(params, ClassifierParams)
        self.version, self.model = model if model is not None else self._resolve(params)

    @classmethod
    def _resolve(cls, params: ClassifierParams) -> tuple[int, TrainedModel]:
        if cls.resolver is None:
            raise DocumentError("name", "no stored models can be read here")
        try:
            return cls.resolver(params.name, params.version)
        except LookupError as exc:
            raise DocumentError(getattr(exc, "field", "name"), str(exc)) from None

    @classmethod
    def validate(cls, params: msgspec.Struct) -> None:
        """The model it names must exist (and be intact), so an admin cannot save a detector
        that would fail on every trace."""
        assert isinstance(params, ClassifierParams)
        cls._resolve(params)

    def scan(self, trace: ScanTrace) -> list[Hit]:
        params = self.params
        assert isinstance(params, ClassifierParams)
        read = ScanTrace(steps=tuple(self.steps(trace)), task=trace.task)
        scored = [
            (score, unit)
            for unit, score in self.model.window_scores(read, params.window)
            if score >= params.threshold
        ]
        scored.sort(key=lambda pair: (-pair[0], pair[1].steps))
        hits: list[Hit] = []
        seen: set[Any] = set()
        for score, unit in scored:
            if len(hits) == params.max_hits:
                break
            span = self.model.locate(read, unit)
            if span in seen:
                continue
            seen.add(span)
            hits.append(
                Hit(
                    step_index=span.step_index,
                    start=span.start,
                    end=span.end,
                    score=round(score, 4),
                    category=self.category,
                    rationale=(
                        f"Model {params.name} v{self.version} scored steps {unit.steps[0]} to "
                        f"{unit.steps[-1]} at {score:.2f} (threshold {params.threshold:.2f}); "
                        "this is the part of them that scores highest on its own."
                    ),
                    rule="classifier",
                )
            )
        return hits
