"""Forms of the labeling console: a label of an item, and a span a person flags themselves."""

from collections.abc import Sequence

from django import forms

from review.models import Category, Verdict
from review.services import LabelInput
from traces.models import Severity

# A label's severity is never "none": that is what the verdict "benign" says.
LABEL_SEVERITIES = Severity.choices[1:]
MAX_NOTE_CHARS = 20_000


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
