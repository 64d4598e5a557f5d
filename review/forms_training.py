"""The admin's form for training the ``classifier`` kind on a dataset version.

Whatever would make the task fail at once for reasons known now (a version not finished, a
training split of one class, an unreadable file, parameters out of range) is a form error, so
nothing is queued that cannot run.
"""

from collections import Counter
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from detection.learning import TrainingError, TrainingParams, embeddings_missing
from detection.models import ClassifierModel
from review.models import DatasetVersion
from review.training import TrainingInputError, training_split_counts

NAMES_LIST = "classifier-names"
VERDICTS = ("misaligned", "benign")


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: DatasetVersion) -> str:
        return f"{obj} ({obj.row_count} rows, {obj.created_at:%Y-%m-%d})"


def finished_versions() -> Any:
    """The dataset versions training can read: finished ones, newest first per dataset."""
    return (
        DatasetVersion.objects.filter(state=DatasetVersion.State.DONE)
        .select_related("dataset")
        .order_by("dataset__name", "-version")
    )


class TrainingForm(forms.Form):
    version = VersionChoiceField(
        queryset=DatasetVersion.objects.none(),
        label="Dataset version",
        help_text="Only its training split is read; its validation and test splits stay untouched.",
        error_messages={
            "invalid_choice": "Choose a finished dataset version: this one is not finished "
            "(still being written, or failed) or no longer exists."
        },
    )
    name = forms.SlugField(
        max_length=64,
        label="Model name",
        help_text="A new version of this model is stored, not promoted. Letters, digits, - and _.",
    )
    window = forms.IntegerField(
        initial=TrainingParams.window, help_text="Consecutive steps read together, 1 to 50."
    )
    holdout = forms.FloatField(
        initial=TrainingParams.holdout,
        label="Held-out fraction",
        help_text="The share of each class kept out of training to measure the model on.",
    )
    seed = forms.IntegerField(
        initial=TrainingParams.seed,
        min_value=0,
        max_value=2**32 - 1,  # the regression's random state takes no more
        help_text="Seeds the held-out split: the same data, parameters and seed give the same "
        "model.",
    )
    embeddings = forms.BooleanField(
        required=False,
        label="Add sentence embeddings",
        help_text="MiniLM sentence embeddings of the agent's text beside the n-grams.",
    )

    def __init__(self, *args: Any, counts_url: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = finished_versions()
        if counts_url:  # choosing a version shows its training split's counts
            self.fields["version"].widget.attrs.update(
                {
                    "hx-get": counts_url,
                    "hx-trigger": "change",
                    "hx-target": "#split-counts",
                    "hx-swap": "outerHTML",
                }
            )
        self.fields["name"].widget.attrs["list"] = NAMES_LIST
        missing = embeddings_missing()
        if missing is not None:
            embeddings = self.fields["embeddings"]
            embeddings.disabled = True
            embeddings.help_text = f"Not available: {missing}."
        self.counts: Counter | None = None
        self.params: TrainingParams | None = None

    @staticmethod
    def existing_names() -> list[str]:
        """The names models already have, offered as the name's suggestions."""
        names = ClassifierModel.objects.order_by("name").values_list("name", flat=True)
        return list(names.distinct())

    def clean_version(self) -> DatasetVersion:
        version = self.cleaned_data["version"]
        try:
            self.counts = training_split_counts(version)
        except TrainingInputError as error:
            raise ValidationError(f"{version} cannot be read: {error}") from None
        absent = [verdict for verdict in VERDICTS if not self.counts[verdict]]
        if absent:
            raise ValidationError(
                f"The training split of {version} has no {absent[0]} traces "
                f"({self.counts['misaligned']} misaligned, {self.counts['benign']} benign): "
                "a classifier learns from both."
            )
        return version

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if any(data.get(name) is None for name in ("window", "holdout", "seed")):
            return data
        params = TrainingParams(
            window=data["window"],
            embeddings=bool(data.get("embeddings")),
            holdout=data["holdout"],
            seed=data["seed"],
        )
        try:
            params.check()
        except TrainingError as error:
            # Its messages start with the parameter's name: "window: must be 1 to 50 steps".
            field, _, message = str(error).partition(": ")
            self.add_error(field if field in self.fields else None, message or str(error))
            return data
        self.params = params
        return data
