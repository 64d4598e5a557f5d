"""Forms of the triage pages and of adjudication: a queue's filter as real, validated fields (the
same fields filter the lists, from the URL), the queue itself, and a reviewer's decision.

A filter's field names are those of ``QueueFilters``, so a list's URL, a queue's stored filters
and the form all speak the same keys.
"""

from datetime import date, datetime, time
from typing import Any

import msgspec
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from detection.models import Detector
from review.models import MAX_NOTE_CHARS, Category, Queue, Verdict
from review.selectors import (
    DEFAULT_FLAG_SORT,
    DEFAULT_TRACE_SORT,
    FLAG_SORTS,
    TRACE_SORTS,
    Outcome,
    QueueFilters,
    sort_choices,
)
from traces.models import Segment, Severity, Source, Trace
from traces.params import whole_number
from traces.roles import REVIEWER, has_role

SEVERITIES = Severity.choices[1:]
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _start_of(day: date | None) -> datetime | None:
    """Midnight at the start of ``day`` in the console's time zone."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))


def _day_of(moment: datetime | None) -> date | None:
    return timezone.localtime(moment).date() if moment is not None else None


class FilterForm(forms.Form):
    """Which traces or flags to show: a queue's filter, or a list's, read from the URL."""

    source = forms.ModelChoiceField(
        Source.objects.all(), to_field_name="slug", required=False, empty_label="Any source"
    )
    model = forms.ChoiceField(required=False)
    detector = forms.ModelChoiceField(
        Detector.objects.all(), to_field_name="name", required=False, empty_label="Any detector"
    )
    category = forms.ModelChoiceField(
        Category.objects.all(), to_field_name="slug", required=False, empty_label="Any category"
    )
    severity_min = forms.TypedChoiceField(
        label="Severity at least",
        choices=[("", "Any severity"), *SEVERITIES],
        coerce=int,
        empty_value=None,
        required=False,
    )
    score_min = forms.FloatField(
        label="Score from",
        min_value=0,
        max_value=1,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": "0"}),
    )
    score_max = forms.FloatField(
        label="Score to",
        min_value=0,
        max_value=1,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": "1"}),
    )
    review_state = forms.ChoiceField(
        label="Review state",
        choices=[("", "Any review state"), *Trace.ReviewState.choices],
        required=False,
    )
    ingested_after = forms.DateField(label="Ingested from", required=False, widget=DATE_WIDGET)
    ingested_before = forms.DateField(label="Ingested before", required=False, widget=DATE_WIDGET)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        models = (
            Trace.objects.exclude(model="")
            .order_by("model")
            .values_list("model", flat=True)
            .distinct()
        )
        self.fields["model"].choices = [("", "Any model"), *((m, m) for m in models)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        low, high = data.get("score_min"), data.get("score_max")
        if low is not None and high is not None and low > high:
            self.add_error("score_max", "Must not be below the lower score.")
        after, before = data.get("ingested_after"), data.get("ingested_before")
        if after and before and after >= before:
            self.add_error("ingested_before", "Must be after the first day.")
        return data

    def queue_filters(self) -> QueueFilters:
        """The validated fields as a queue's filter (call after ``is_valid``)."""
        data = self.cleaned_data
        return QueueFilters(
            source=data["source"].slug if data.get("source") else None,
            model=data.get("model") or None,
            detector=data["detector"].name if data.get("detector") else None,
            category=data["category"].slug if data.get("category") else None,
            severity_min=data.get("severity_min"),
            score_min=data.get("score_min"),
            score_max=data.get("score_max"),
            review_state=data.get("review_state") or None,
            ingested_after=_start_of(data.get("ingested_after")),
            ingested_before=_start_of(data.get("ingested_before")),
        )

    @staticmethod
    def initial_from(filters: QueueFilters) -> dict[str, Any]:
        """A stored filter as the form's initial values."""
        initial = msgspec.structs.asdict(filters)
        initial["ingested_after"] = _day_of(filters.ingested_after)
        initial["ingested_before"] = _day_of(filters.ingested_before)
        return {key: value for key, value in initial.items() if value is not None}

    def active(self) -> bool:
        """Whether any filter is set (so a page can say why it is empty)."""
        return self.is_bound and any(self.data.get(name) for name in self.fields)


EITHER = [("", "Either"), ("yes", "Yes"), ("no", "No")]
# What other people decided: only reviewers filter on it, since labelers label blind.
REVIEWER_OUTCOME_FIELDS = ("labeler", "disagreement", "adjudicated")


class _ListForm(FilterForm):
    """A list's filter, search and label outcome. ``user`` decides the outcome fields: a
    labeler's verdict filter reads their own labels, and the fields that tell what others
    decided are left out."""

    q = forms.CharField(
        label="Search step text",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search step text"}),
    )
    verdict = forms.ChoiceField(
        label="Verdict", choices=[("", "Any verdict"), *Verdict.choices], required=False
    )
    mine = forms.ChoiceField(label="Labeled by me", choices=EITHER, required=False)
    labeler = forms.ModelChoiceField(
        get_user_model().objects.none(),
        to_field_name="username",
        required=False,
        empty_label="Any labeler",
    )
    disagreement = forms.ChoiceField(label="Open disagreement", choices=EITHER, required=False)
    adjudicated = forms.ChoiceField(label="Adjudicated", choices=EITHER, required=False)

    def __init__(self, *args: Any, user: AbstractBaseUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if has_role(user, REVIEWER):
            self.fields["labeler"].queryset = (
                get_user_model()
                .objects.filter(labels__isnull=False)
                .distinct()
                .order_by("username")
            )
        else:
            for name in REVIEWER_OUTCOME_FIELDS:
                del self.fields[name]

    def search(self) -> str:
        return self.cleaned_data.get("q", "").strip()

    def outcome(self) -> Outcome:
        """The label-outcome fields as the selectors take them (call after ``is_valid``)."""
        data = self.cleaned_data

        def either(name: str) -> bool | None:
            return {"yes": True, "no": False}.get(data.get(name) or "")

        labeler = data.get("labeler")
        return Outcome(
            verdict=data.get("verdict") or None,
            labeler=labeler.get_username() if labeler else None,
            mine=either("mine"),
            disagreement=either("disagreement"),
            adjudicated=either("adjudicated"),
        )


class TraceListForm(_ListForm):
    sort = forms.ChoiceField(
        choices=sort_choices(TRACE_SORTS), required=False, widget=forms.HiddenInput
    )

    def ordering(self) -> str:
        return self.cleaned_data.get("sort") or DEFAULT_TRACE_SORT


class FlagListForm(_ListForm):
    sort = forms.ChoiceField(
        choices=sort_choices(FLAG_SORTS), required=False, widget=forms.HiddenInput
    )

    def ordering(self) -> str:
        return self.cleaned_data.get("sort") or DEFAULT_FLAG_SORT


class QueueForm(forms.ModelForm):
    """A queue's own settings; its filter is a ``FilterForm`` in the same HTML form."""

    class Meta:
        model = Queue
        fields = [
            "name",
            "description",
            "guidelines",
            "level",
            "order",
            "overlap",
            "lease_seconds",
            "active",
            "hide_detectors",
        ]
        labels = {"lease_seconds": "Lease (seconds)", "overlap": "Labels per item"}
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "guidelines": forms.Textarea(attrs={"rows": 5}),
            "overlap": forms.NumberInput(attrs={"min": 1, "max": 20}),
            "lease_seconds": forms.NumberInput(attrs={"min": 60, "step": 60}),
        }

    def clean_overlap(self) -> int:
        overlap = self.cleaned_data["overlap"]
        if not 1 <= overlap <= 20:
            raise forms.ValidationError("Between 1 and 20 people.")
        return overlap

    def clean_lease_seconds(self) -> int:
        seconds = self.cleaned_data["lease_seconds"]
        if not 60 <= seconds <= 7 * 24 * 3600:
            raise forms.ValidationError("Between one minute and one week.")
        return seconds


class DecisionForm(forms.Form):
    """A reviewer's final word on an item. A misaligned verdict needs its category; the others
    carry neither category nor severity."""

    verdict = forms.ChoiceField(choices=Verdict.choices, widget=forms.RadioSelect)
    category = forms.ModelChoiceField(
        Category.objects.filter(active=True), required=False, empty_label="—"
    )
    severity = forms.TypedChoiceField(
        choices=[("", "—"), *SEVERITIES], coerce=int, empty_value=None, required=False
    )
    note = forms.CharField(
        required=False, max_length=MAX_NOTE_CHARS, widget=forms.Textarea(attrs={"rows": 4})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("verdict") == Verdict.MISALIGNED:
            if not data.get("category"):
                self.add_error("category", "A misaligned verdict needs a category.")
        elif data.get("verdict"):
            data["category"] = None
            data["severity"] = None
        return data


# Most items one bulk action adds: a page of a list is 50.
MAX_BULK_ITEMS = 500


class QueueAddForm(forms.Form):
    """Selected rows of a list (``item``, repeated) added to a queue of their level, or to a new
    queue that holds them alone."""

    level = forms.ChoiceField(choices=Queue.Level.choices)
    queue = forms.ModelChoiceField(Queue.objects.all(), required=False, empty_label="A new queue")
    name = forms.CharField(label="New queue's name", max_length=100, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        values = self.data.getlist("item") if hasattr(self.data, "getlist") else []
        items = [whole_number(value) for value in values]
        if not items or None in items or len(items) > MAX_BULK_ITEMS:
            self.add_error(None, f"Select between 1 and {MAX_BULK_ITEMS} rows (item).")
            return data
        level = data.get("level")
        model = Segment if level == Queue.Level.SEGMENT else Trace
        if level and model.objects.filter(pk__in=items).count() != len(set(items)):
            self.add_error(None, f"item: some of the selected {level}s do not exist.")
        queue, name = data.get("queue"), (data.get("name") or "").strip()
        if queue is not None and level and queue.level != level:
            self.add_error("queue", f"This queue holds {queue.get_level_display()}.")
        if queue is None:
            if not name:
                self.add_error("name", "Name the new queue, or choose one.")
            elif Queue.objects.filter(name=name).exists():
                self.add_error("name", "A queue has this name already.")
        data["items"], data["name"] = items, name
        return data
