"""Training the ``classifier`` kind in the admin: a form that queues the training task on a
dataset version's training split, a page that follows its progress, and a page that sets a
trained version's held-out figures beside the promoted version's, with the button that
promotes it.

Training reads datasets, which only this app knows, so these pages are added here to the
classifier models' admin, as the detectors' quality page is, and detection depends on nothing
above it. They are for admins only: every other role gets 403, not the admin's sign-in page.
The runs a person started are kept in their session, so a run's page shows what was asked
and, once finished, its outcome, after the result backend has forgotten it.
"""

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError

from detection.admin import ClassifierModelAdmin
from detection.classifiers import classifier_promote, detectors_following, latest_promoted
from detection.models import ClassifierModel
from review.forms_training import NAMES_LIST, TrainingForm, finished_versions
from review.models import DatasetVersion
from review.training import TrainingInputError, training_split_counts
from review.training_runs import RunState, training_run_start, training_run_state
from traces.roles import is_admin

SESSION_RUNS = "training_runs"
# Runs remembered per session; the oldest is forgotten first.
KEPT_RUNS = 20
TEMPLATES = "admin/review/training"


def figure(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def held_out_figures(model: ClassifierModel) -> list[tuple[str, str]]:
    """A version's figures as the comparison shows them: on its held-out traces, then what
    it was trained on."""
    held = model.metrics.get("held_out") or {}
    train = model.metrics.get("train") or {}
    return [
        ("Held-out traces", str(held.get("traces", 0))),
        ("… misaligned", str(held.get("misaligned", 0))),
        ("… benign", str(held.get("benign", 0))),
        ("AUROC", figure(held.get("auroc"))),
        ("Precision at 90% recall", figure(held.get("precision_at_90_recall"))),
        ("… at threshold", figure(held.get("threshold_at_90_recall"))),
        ("Brier score (lower is better)", figure(held.get("brier"), 4)),
        ("Training traces", str(train.get("traces", 0))),
        ("… misaligned", str(train.get("misaligned", 0))),
        ("… benign", str(train.get("benign", 0))),
        ("Windows", str(train.get("windows", 0))),
    ]


def comparison_rows(
    model: ClassifierModel, promoted: ClassifierModel | None
) -> list[tuple[str, str, str]]:
    """(figure, this version's, the promoted version's) for each figure; the last blank when
    none is promoted."""
    mine = held_out_figures(model)
    theirs = held_out_figures(promoted) if promoted is not None else [("", "")] * len(mine)
    return [(label, a, b) for (label, a), (_, b) in zip(mine, theirs, strict=True)]


def reliability_rows(
    model: ClassifierModel, promoted: ClassifierModel | None
) -> list[tuple[str, list[str]]]:
    """Per tenth of the score range, each version's traces, mean score and misaligned share:
    a calibrated model has the last two close."""

    def bins(which: ClassifierModel | None) -> list[dict]:
        table = ((which.metrics.get("held_out") or {}).get("reliability") or []) if which else []
        return table or [{}] * 10

    rows = []
    for mine, theirs in zip(bins(model), bins(promoted), strict=True):
        cells = []
        for row in (mine, theirs) if promoted is not None else (mine,):
            count = row.get("traces", 0)
            mean, rate = row.get("mean_score"), row.get("misaligned_rate")
            cells += [str(count), figure(mean), figure(rate)] if count else [str(count), "", ""]
        low, high = mine.get("low"), mine.get("high")
        span = f"{low:.1f} to {high:.1f}" if low is not None and high is not None else "-"
        rows.append((span, cells))
    return rows


def remember_run(request: HttpRequest, run_id: str, entry: dict[str, Any]) -> None:
    runs = request.session.get(SESSION_RUNS, {})
    runs[run_id] = entry
    request.session[SESSION_RUNS] = dict(list(runs.items())[-KEPT_RUNS:])


class ClassifierTrainingAdmin(ClassifierModelAdmin):
    """The classifier models' admin with training, its progress and the comparison page."""

    change_list_template = f"{TEMPLATES}/change_list.html"
    list_display = [*ClassifierModelAdmin.list_display, "compare_link"]

    @admin.display(description="figures")
    def compare_link(self, obj: ClassifierModel) -> SafeString:
        url = reverse("admin:detection_classifiermodel_compare", args=[obj.pk])
        return format_html('<a href="{}">Compare and promote</a>', url)

    def get_urls(self) -> list[URLPattern]:
        def route(pattern: str, view: Callable, name: str) -> URLPattern:
            return path(pattern, self.admins_only(view), name=f"detection_classifiermodel_{name}")

        return [
            route("train/", self.train_view, "train"),
            route("train/<uuid:run_id>/", self.run_view, "run"),
            route("<int:model_id>/compare/", self.compare_view, "compare"),
            route("<int:model_id>/promote/", require_POST(self.promote_view), "promote"),
            *super().get_urls(),
        ]

    def admins_only(self, view: Callable) -> Callable:
        """The admin's own checks (sign-in, CSRF, no caching), after a 403 for anyone signed
        in without the admin role, who the admin would otherwise send to its sign-in page."""
        inner = self.admin_site.admin_view(view)

        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.user.is_authenticated and not is_admin(request.user):
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return checked

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra = {"train_url": reverse("admin:detection_classifiermodel_train")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def page(self, request: HttpRequest, template: str, **context: Any) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "opts": self.opts, **context}
        return TemplateResponse(request, f"{TEMPLATES}/{template}", context)

    # -- training -------------------------------------------------------------------------------

    def train_view(self, request: HttpRequest) -> HttpResponse:
        """The form, with the counts of the chosen version's training split; on choosing
        another version, htmx asks for those counts alone (``?counts``)."""
        counts_url = f"{request.path}?counts=1"
        if request.method == "POST":
            form = TrainingForm(request.POST, counts_url=counts_url)
            if form.is_valid():
                started = self.start(request, form)
                if started is not None:
                    return started
            chosen = request.POST.get("version")
        else:
            chosen = request.GET.get("version")
            if chosen is None:
                newest = finished_versions().order_by("-created_at").values_list("pk", flat=True)
                chosen = newest.first()
            form = TrainingForm(initial={"version": chosen}, counts_url=counts_url)
        split = split_counts(chosen)
        if request.htmx and "counts" in request.GET:
            return self.page(request, "train.html#counts", split=split)
        return self.page(
            request,
            "train.html",
            title="Train a classifier",
            form=form,
            split=split,
            names=form.existing_names(),
            names_list=NAMES_LIST,
        )

    def start(self, request: HttpRequest, form: TrainingForm) -> HttpResponse | None:
        """Queue the run and go to its page; None, with a form error, when the broker cannot
        be reached."""
        version, name = form.cleaned_data["version"], form.cleaned_data["name"]
        started = timezone.now()  # before: in-process, the run ends within the call
        try:
            run_id, outcome = training_run_start(
                version_id=version.pk, name=name, params=form.params
            )
        except OperationalError as exc:
            form.add_error(None, f"The training could not be queued ({exc}). Nothing was started.")
            return None
        params = form.params
        remember_run(
            request,
            run_id,
            {
                "version": str(version),
                "name": name,
                "params": {
                    "window": params.window,
                    "held-out fraction": params.holdout,
                    "seed": params.seed,
                    "embeddings": "on" if params.embeddings else "off",
                },
                "started": started.isoformat(),
                "outcome": outcome.as_dict() if outcome is not None else None,
            },
        )
        return HttpResponseRedirect(reverse("admin:detection_classifiermodel_run", args=[run_id]))

    def run_view(self, request: HttpRequest, run_id: UUID) -> HttpResponse:
        """A run's progress; the status partial polls itself (``?status``) until it ends."""
        runs = request.session.get(SESSION_RUNS, {})
        entry = runs.get(str(run_id))
        if entry is None:
            raise Http404("No training run of that id was started in this session.")
        if entry["outcome"] is not None:
            state = RunState(**entry["outcome"])
        else:
            state = training_run_state(str(run_id))
            if state.finished:  # kept, for after the result backend forgets it
                remember_run(request, str(run_id), entry | {"outcome": state.as_dict()})
        model = None
        if state.model_id is not None:
            model = ClassifierModel.objects.defer("pipeline").filter(pk=state.model_id).first()
        started = parse_datetime(entry["started"])
        context = {
            "title": f"Training {entry['name']} on {entry['version']}",
            "run": entry,
            "state": state,
            "model": model,
            "trained_before": model is not None and started and model.created_at < started,
        }
        if request.htmx and "status" in request.GET:
            return self.page(request, "run.html#status", **context)
        return self.page(request, "run.html", **context)

    # -- comparing and promoting ----------------------------------------------------------------

    def compare_view(self, request: HttpRequest, model_id: int) -> HttpResponse:
        """A version's held-out figures beside the promoted version's of the same name."""
        model = get_object_or_404(ClassifierModel.objects.defer("pipeline"), pk=model_id)
        promoted = latest_promoted(model.name).defer("pipeline").first()
        current = promoted is not None and promoted.pk == model.pk
        other = None if current else promoted
        return self.page(
            request,
            "compare.html",
            title=f"{model}: held-out figures",
            model=model,
            promoted=other,
            current=current,
            rows=comparison_rows(model, other),
            reliability=reliability_rows(model, other),
            following=list(detectors_following(model.name)),
        )

    def promote_view(self, request: HttpRequest, model_id: int) -> HttpResponse:
        """Promote a version (POST only), after a confirmation that names the detectors it
        changes; nothing changes for detectors until this is confirmed."""
        model = get_object_or_404(ClassifierModel.objects.defer("pipeline"), pk=model_id)
        compare_url = reverse("admin:detection_classifiermodel_compare", args=[model.pk])
        promoted = latest_promoted(model.name).values_list("pk", flat=True).first()
        if promoted == model.pk:
            self.message_user(request, f"Nothing changed: {model} is already the promoted version.")
            return HttpResponseRedirect(compare_url)
        if request.POST.get("confirm") != "yes":
            return self.page(
                request,
                "promote.html",
                title=f"Promote {model}?",
                model=model,
                following=list(detectors_following(model.name)),
                compare_url=compare_url,
            )
        redone = classifier_promote(model)
        self.message_user(
            request,
            f"Promoted {model}; {len(redone)} detector(s) following it get a new version and "
            "rescan every trace.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(compare_url)


def split_counts(chosen: object) -> dict[str, Any] | None:
    """The chosen version (a finished one's id, as the form sent it) and the misaligned and
    benign traces of its training split, or why they cannot be counted; None when nothing
    valid is chosen."""
    try:
        version = finished_versions().get(pk=int(str(chosen)))
    except (ValueError, DatasetVersion.DoesNotExist):
        return None
    try:
        return {"version": version, "counts": training_split_counts(version), "error": ""}
    except TrainingInputError as error:
        return {"version": version, "counts": None, "error": str(error)}


admin.site.unregister(ClassifierModel)
admin.site.register(ClassifierModel, ClassifierTrainingAdmin)
