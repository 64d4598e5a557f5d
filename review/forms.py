"""Forms of the console: a label of an item, a span a person flags themselves, and an export."""

from collections.abc import Sequence

from django import forms

from review.datasets.spec import MAX_CONTEXT_STEPS, SPLITS, SpecError, field_of, spec_from_fields
from review.models import MAX_NOTE_CHARS, Category, DatasetVersion, Queue, Verdict
from review.services import LabelInput
from traces.models import Severity, Source

# A label's severity is never "none": that is what the verdict "benign" says.
LABEL_SEVERITIES = Severity.choices[1:]


class LabelForm(forms.Form):
    """A verdict with its category, severity and note, for one segment or for a whole trace.

    Categories come in as a list fetched once per request, so a page that shows two forms (the
    label panel and the flag form) runs one query for the taxonomy, not one per form.
    """

    verdict = forms.ChoiceField(choices=Verdict.choices, widget=forms.RadioSelect)
    category = forms.ChoiceField(required=False)
    severity = forms.TypedChoiceField(
        choices=[("", "—"), *LABEL_SEVERITIES],
        coerce=int,
        empty_value=None,
        required=False,
    )
    note = forms.CharField(
        required=False, max_length=MAX_NOTE_CHARS, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, categories: Sequence[Category], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.categories = {category.slug: category for category in categories}
        self.fields["category"].choices = [
            ("", "—"),
            *((category.slug, category.name) for category in categories),
        ]

    def clean_category(self) -> Category | None:
        # The choices hold active categories only, so an inactive or unknown slug never gets here.
        slug = self.cleaned_data["category"]
        return self.categories[slug] if slug else None

    def clean(self) -> dict:
        data = super().clean()
        # A benign verdict has no category or severity, though the form came pre-filled with
        # the detector's suggestion: what the browser sent for them is dropped.
        if data.get("verdict") == Verdict.BENIGN:
            for name in ("category", "severity"):
                self.errors.pop(name, None)
                data[name] = None
        return data

    def label_input(self) -> LabelInput:
        data = self.cleaned_data
        return LabelInput(
            verdict=data["verdict"],
            category=data["category"],
            severity=data["severity"],
            note=data["note"],
        )


class FlagSpanForm(LabelForm):
    """A span of one step's content chosen by a person, with its first label.

    Offsets count characters (code points) of the step's stored content; the view checks them
    against the content's length, which the form does not know.
    """

    step = forms.IntegerField(min_value=0)
    start = forms.IntegerField(min_value=0)
    end = forms.IntegerField(min_value=1)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Flagging a span says "this looks wrong": misaligned unless the person says otherwise.
        self.fields["verdict"].required = False
        self.fields["verdict"].initial = Verdict.MISALIGNED

    def clean_verdict(self) -> str:
        return self.cleaned_data["verdict"] or Verdict.MISALIGNED

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and start >= end:
            raise forms.ValidationError(
                "The selection is empty: its start must come before its end."
            )
        return data


class DatasetForm(forms.Form):
    """An export's description in the console: the same fields as the API and the command,
    checked by the same ``parse_spec``, with its errors shown beside the field at fault."""

    name = forms.SlugField(max_length=100, help_text="A new name starts a dataset at version 1.")
    format = forms.ChoiceField(choices=DatasetVersion.Format.choices)
    compression = forms.ChoiceField(
        choices=DatasetVersion.Compression.choices, help_text="For JSON Lines and CSV."
    )
    level = forms.ChoiceField(
        choices=[("both", "segments and traces"), ("segment", "segments"), ("trace", "traces")]
    )
    queue = forms.ModelChoiceField(queryset=Queue.objects.all(), required=False)
    source = forms.ModelChoiceField(
        queryset=Source.objects.all(), to_field_name="slug", required=False
    )
    model = forms.CharField(max_length=255, required=False)
    category = forms.ModelChoiceField(
        queryset=Category.objects.all(), to_field_name="slug", required=False
    )
    verdict = forms.ChoiceField(choices=[("", "any"), *Verdict.choices], required=False)
    labeled_after = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    adjudicated_only = forms.BooleanField(required=False, label="Only adjudicated items")
    min_agreement = forms.FloatField(
        required=False, min_value=0, max_value=1, help_text="0 to 1: share agreeing."
    )
    context_steps = forms.IntegerField(
        initial=3, min_value=0, max_value=MAX_CONTEXT_STEPS, help_text="Steps before each flag."
    )
    train = forms.FloatField(initial=0.8, min_value=0, max_value=1)
    validation = forms.FloatField(initial=0.1, min_value=0, max_value=1)
    test = forms.FloatField(initial=0.1, min_value=0, max_value=1)

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        fields = {
            **data,
            "queue": data["queue"] and data["queue"].pk,
            "source": data["source"] and data["source"].slug,
            "category": data["category"] and data["category"].slug,
        }
        try:
            self.spec = spec_from_fields(fields, split={split: data[split] for split in SPLITS})
        except SpecError as error:
            self.add_spec_error(error)
        return data

    def add_spec_error(self, error: SpecError) -> None:
        """Show an error of the description beside its field, or above the form when it is about
        the filters together (nothing matches them)."""
        field = field_of(error)
        self.add_error(field if field in self.fields else None, error.message)
