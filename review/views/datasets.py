"""Datasets in the console: the history of versions, a new export with a preview of its counts,
an export's progress and card, its download, and the difference in counts between two versions.

Reviewers only: an export holds everyone's labels, which labelers must not see (blind labeling).
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from review.access import role_required
from review.datasets import services as datasets
from review.datasets.download import recorded_download
from review.datasets.spec import SpecError
from review.forms import DatasetForm
from review.models import DatasetVersion
from review.tasks import queue_export
from traces.roles import REVIEWER

COUNTED = ("split", "level", "verdict", "category", "label_source")
RECENT_REQUESTS = 20


@role_required(REVIEWER)
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """Every published version, newest first, and the latest requests still being written or
    that failed."""
    versions = DatasetVersion.objects.select_related("dataset", "created_by")
    context = {
        "published": list(
            versions.filter(state=DatasetVersion.State.DONE).order_by("-finished_at")
        ),
        "unpublished": list(
            versions.exclude(state=DatasetVersion.State.DONE).order_by("-created_at")[
                :RECENT_REQUESTS
            ]
        ),
    }
    return render(request, "review/datasets.html", context)


@role_required(REVIEWER)
@require_http_methods(["GET", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    """The export form. With ``?preview`` over HTMX, only the counts it would have now."""
    if request.method == "GET" and "preview" in request.GET:
        form = DatasetForm(request.GET)
        counts = datasets.preview_counts(form.spec) if form.is_valid() else None
        return render(request, "review/dataset_form.html#preview", {"counts": counts})
    if request.method == "POST":
        form = DatasetForm(request.POST)
        if form.is_valid():
            try:
                version = datasets.request_export(spec=form.spec, user=request.user)
            except SpecError as error:
                form.add_spec_error(error)
            else:
                queue_export(version.pk)
                return redirect("review:dataset", version_id=version.pk)
    else:
        form = DatasetForm(initial={"name": request.GET.get("name", "")})
    return render(request, "review/dataset_form.html", {"form": form})


@role_required(REVIEWER)
@require_GET
def detail(request: HttpRequest, version_id: int) -> HttpResponse:
    """One export: its progress while written (the status partial polls itself and reloads the
    page when the export ends), then its counts, card and download link."""
    version = get_object_or_404(
        DatasetVersion.objects.select_related("dataset", "created_by"), pk=version_id
    )
    finished = version.state in (DatasetVersion.State.DONE, DatasetVersion.State.FAILED)
    context = {
        "version": version,
        "finished": finished,
        "rows_written": datasets.rows_written(version.pk) if not finished else version.row_count,
        "counts": _count_tables(version.counts),
    }
    if request.htmx and "status" in request.GET:
        response = render(request, "review/dataset.html#status", context)
        if finished:
            response["HX-Refresh"] = "true"
        return response
    return render(request, "review/dataset.html", context)


@role_required(REVIEWER)
@require_GET
def download(request: HttpRequest, version_id: int) -> HttpResponseBase:
    done = DatasetVersion.objects.select_related("dataset").filter(state=DatasetVersion.State.DONE)
    return recorded_download(request, get_object_or_404(done, pk=version_id))


def _count_tables(counts: dict[str, Any]) -> list[tuple[str, list[tuple[str, int]]]]:
    return [
        (name.replace("_", " "), sorted(counts.get(name, {}).items()))
        for name in COUNTED
        if counts.get(name)
    ]


@role_required(REVIEWER)
@require_GET
def diff(request: HttpRequest) -> HttpResponse:
    """Counts of two published versions side by side, with the change from the first."""
    done = DatasetVersion.objects.select_related("dataset").filter(state=DatasetVersion.State.DONE)
    try:
        first = done.get(pk=int(request.GET.get("a", "")))
        second = done.get(pk=int(request.GET.get("b", "")))
    except (ValueError, DatasetVersion.DoesNotExist):
        return render(
            request,
            "review/dataset_diff.html",
            {"error": "Choose two published versions to compare."},
            status=400,
        )
    tables = []
    for name in COUNTED:
        before, after = first.counts.get(name, {}), second.counts.get(name, {})
        keys = sorted(set(before) | set(after))
        rows = [(key, before.get(key, 0), after.get(key, 0)) for key in keys]
        tables.append((name.replace("_", " "), [(k, a, b, b - a) for k, a, b in rows]))
    total = (
        "rows",
        [("all", first.row_count, second.row_count, second.row_count - first.row_count)],
    )
    context = {"first": first, "second": second, "tables": [total, *tables]}
    return render(request, "review/dataset_diff.html", context)
