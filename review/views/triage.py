"""Triage: the queues with their progress, the queue form, and the lists of traces and flags.

The lists read their filters, search, sort and page from the URL, so a view is a link. Over
HTMX (the search box, a filter, a column header, a page link) the same view answers with the
``results`` partial only, and the client pushes the URL; a history restore gets the full page.
"""

from dataclasses import dataclass
from typing import Any

import msgspec
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from review import selectors, services
from review.access import role_required
from review.forms_triage import FilterForm, FlagListForm, QueueAddForm, QueueForm, TraceListForm
from review.models import Queue
from review.views.evidence import flag_excerpt, search_snippet
from traces.models import Severity
from traces.roles import LABELER, REVIEWER, has_role

PAGE_SIZE = 50


@role_required(LABELER)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The active queues and how far along each is, for everyone; queue settings and the
    adjudication backlog for reviewers."""
    queues = list(Queue.objects.filter(active=True).order_by("name"))
    context: dict[str, Any] = {
        "progress": selectors.queue_progress(queues=queues, user=request.user)
    }
    if has_role(request.user, REVIEWER):
        context["inactive"] = list(Queue.objects.filter(active=False).order_by("name"))
        context["disagreements"] = selectors.open_disagreements().count()
    return render(request, "review/home.html", context)


def _matching(level: str, filters: FilterForm) -> int | None:
    """How many items a queue with this level and filter would hold; None while it is invalid."""
    if not filters.is_valid():
        return None
    stored = msgspec.to_builtins(filters.queue_filters())
    return selectors.queue_items(Queue(level=level, filters=stored)).count()


@role_required(REVIEWER)
@require_http_methods(["GET", "POST"])
def queue_form(request: HttpRequest, queue_id: int | None = None) -> HttpResponse:
    """Create or edit a queue. With ``?preview`` over HTMX, only the count of matching items,
    recomputed as the filter changes."""
    queue = get_object_or_404(Queue, pk=queue_id) if queue_id is not None else None
    if request.method == "GET" and "preview" in request.GET:
        level = request.GET.get("level")
        level = level if level in Queue.Level.values else Queue.Level.SEGMENT
        filters = FilterForm(request.GET)
        context = {"matching": _matching(level, filters), "filters": filters, "level": level}
        return render(request, "review/queue_form.html#preview", context)
    stored_error = ""
    stored = queue.filters if queue is not None and isinstance(queue.filters, dict) else {}
    if request.method == "POST":
        form = QueueForm(request.POST, instance=queue)
        filters = FilterForm(request.POST)
        if form.is_valid() and filters.is_valid():
            # The items added from the lists are not fields of the form: they stay as they were.
            added = {key: stored[key] for key in ("items", "only_items") if key in stored}
            saved = form.save(commit=False)
            saved.filters = msgspec.to_builtins(filters.queue_filters()) | added
            if queue is None:
                saved.created_by = request.user
            saved.save()
            messages.success(request, f"Queue “{saved.name}” saved.")
            return redirect("review:home")
    else:
        form = QueueForm(instance=queue)
        initial = {}
        if queue is not None:
            try:
                initial = FilterForm.initial_from(selectors.parse_filters(queue.filters))
            except selectors.DocumentError as exc:
                stored_error = f"The stored filter was invalid ({exc}); set it again."
        filters = FilterForm(initial=initial)
    level = form["level"].value() or Queue.Level.SEGMENT
    if filters.is_bound:
        matching = _matching(level, filters)
    elif queue is not None and not stored_error:
        matching = selectors.queue_items(queue).count()
    else:
        matching = selectors.queue_items(Queue(level=level)).count()
    context = {
        "queue": queue,
        "form": form,
        "filters": filters,
        "added_items": len(stored.get("items") or []),
        "only_items": bool(stored.get("only_items")),
        "stored_error": stored_error,
        "matching": matching,
        "level": level,
    }
    status = 400 if form.errors or filters.errors else 200
    return render(request, "review/queue_form.html", context, status=status)


@dataclass(frozen=True)
class Column:
    """A sortable column header: where a click leads and how the list is sorted now."""

    key: str
    label: str
    next_sort: str
    state: str  # "ascending", "descending" or "none", as aria-sort says


def _columns(sorts: dict[str, selectors.SortKey], current: str) -> dict[str, Column]:
    columns = {}
    for key, spec in sorts.items():
        if current.removeprefix("-") == key:
            descending = current.startswith("-")
            state = "descending" if descending else "ascending"
            next_sort = key if descending else f"-{key}"
        else:
            state, next_sort = "none", f"-{key}"
        columns[key] = Column(key, spec.label, next_sort, state)
    return columns


def _render_list(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """The page, or over HTMX its results with the URL to push: the query without its empty
    fields, so a shared link reads ``?q=rm+-rf&sort=-score``, not every blank filter."""
    query = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        if kept := [value for value in values if value]:
            query.setlist(key, kept)
    context["query"] = query
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, f"{template}#results", context)
        return push_url(response, f"{request.path}?{query.urlencode()}" if query else request.path)
    return render(request, template, context)


def _page(rows: Any, request: HttpRequest) -> Page:
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def _bulk(request: HttpRequest, level: str) -> dict[str, Any] | None:
    """What the bulk form of a list needs, for reviewers (who make queues); None for others."""
    if not has_role(request.user, REVIEWER):
        return None
    queues = Queue.objects.filter(level=level, active=True).only("pk", "name").order_by("name")
    noun = "flags" if level == Queue.Level.SEGMENT else "traces"
    return {"level": level, "noun": noun, "queues": list(queues)}


@role_required(LABELER)
@require_GET
@vary_on_headers("HX-Request")
def trace_list(request: HttpRequest) -> HttpResponse:
    """Traces, filtered, searched, sorted and paginated from the URL."""
    form = TraceListForm(request.GET, user=request.user)
    context: dict[str, Any] = {"form": form, "page": None, "rows": []}
    if form.is_valid():
        search = form.search()
        traces = selectors.trace_list(
            filters=form.queue_filters(),
            search=search,
            sort=form.ordering(),
            viewer=request.user,
            outcome=form.outcome(),
        )
        page = _page(traces, request)
        rows = list(page.object_list)
        if search:
            hits = selectors.first_hits(search=search, trace_ids=[t.pk for t in rows])
            pattern = selectors.term_pattern(selectors.search_terms(search))
            for trace in rows:
                hit = hits.get(trace.pk)
                trace.hit_index = hit.index if hit else None
                trace.snippet = search_snippet(hit.head, pattern) if hit else ""
        context.update(
            page=page,
            rows=rows,
            search=search,
            columns=_columns(selectors.TRACE_SORTS, form.ordering()),
            bulk=_bulk(request, Queue.Level.TRACE),
        )
    return _render_list(request, "review/trace_list.html", context)


@role_required(LABELER)
@require_GET
@vary_on_headers("HX-Request")
def flag_list(request: HttpRequest) -> HttpResponse:
    """Flagged segments with their evidence, filtered, searched, sorted and paginated from the
    URL."""
    form = FlagListForm(request.GET, user=request.user)
    context: dict[str, Any] = {"form": form, "page": None, "rows": []}
    if form.is_valid():
        filters = form.queue_filters()
        segments = selectors.flag_list(
            filters=filters,
            search=form.search(),
            sort=form.ordering(),
            viewer=request.user,
            outcome=form.outcome(),
        )
        page = _page(segments, request)
        rows = list(page.object_list)
        findings = selectors.findings_of([s.pk for s in rows], filters, request.user)
        for segment in rows:
            segment.flag_findings = findings.get(segment.pk, [])
            segment.snippet = flag_excerpt(segment)
            segment.severity_name = Severity(segment.top_severity or 0).label
        context.update(
            page=page,
            rows=rows,
            search=form.search(),
            columns=_columns(selectors.FLAG_SORTS, form.ordering()),
            bulk=_bulk(request, Queue.Level.SEGMENT),
        )
    return _render_list(request, "review/flag_list.html", context)


@role_required(REVIEWER)
@require_POST
def queue_add(request: HttpRequest) -> HttpResponse:
    """Add the rows selected in a list to a queue of their level, or to a new queue that holds
    them alone; then back to the list (``next``)."""
    form = QueueAddForm(request.POST)
    if not form.is_valid():
        reasons = [
            " ".join(errors) if field == "__all__" else f"{field}: {' '.join(errors)}"
            for field, errors in form.errors.items()
        ]
        return HttpResponse("\n".join(reasons), status=400, content_type="text/plain")
    data = form.cleaned_data
    if data["queue"] is None:
        queue = services.queue_create_from(
            name=data["name"], level=data["level"], items=data["items"], user=request.user
        )
        added = len(set(data["items"]))
    else:
        queue = data["queue"]
        added = services.queue_add_items(queue=queue, items=data["items"])
    messages.success(request, f"{added} item{pluralize(added)} added to the queue “{queue.name}”.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("review:flags" if data["level"] == Queue.Level.SEGMENT else "review:traces")
    return redirect(back)
