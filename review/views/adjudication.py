"""Adjudication: reviewers settle the items whose labels disagree.

The queue is computed, not stored: an item is in it while its labelers' latest labels disagree
and no decision is newer than the latest label. Recording a decision (append-only) takes the item
out, and the reviewer goes on to the next one.
"""

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from detection.models import Finding
from review import selectors, services
from review.access import role_required
from review.forms_triage import DecisionForm
from review.models import Verdict
from review.views.evidence import flag_excerpt, marked_span
from traces.models import Segment, Severity, Trace
from traces.params import whole_number
from traces.roles import REVIEWER

PAGE_SIZE = 25


def decide_url(trace_id: int, segment_id: int | None) -> str:
    url = reverse("review:adjudicate", args=[trace_id])
    return f"{url}?segment={segment_id}" if segment_id is not None else url


@role_required(REVIEWER)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The items awaiting a decision, most severe and longest waiting first."""
    page = Paginator(selectors.open_disagreements(), PAGE_SIZE).get_page(request.GET.get("page"))
    items = selectors.disagreement_items(list(page.object_list))
    rows = [(item, decide_url(item.trace.pk, item.segment and item.segment.pk)) for item in items]
    return render(request, "review/adjudication.html", {"page": page, "rows": rows})


def _segment(request: HttpRequest, trace: Trace) -> Segment | None:
    raw = request.GET.get("segment")
    if not raw:
        return None
    segment_id = whole_number(raw)
    if segment_id is None:
        raise Http404("No such segment.")
    return get_object_or_404(
        Segment.objects.select_related("step"), pk=segment_id, step__trace=trace
    )


@role_required(REVIEWER)
@require_http_methods(["GET", "POST"])
def decide(request: HttpRequest, trace_id: int) -> HttpResponse:
    """One item: everyone's latest label side by side, the evidence, and the decision form.
    After a decision, the next open item (or the queue when none is left)."""
    trace = get_object_or_404(Trace.objects.select_related("source"), pk=trace_id)
    segment = _segment(request, trace)
    if request.method == "POST":
        form = DecisionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            services.decide(
                reviewer=request.user,
                trace=trace,
                segment=segment,
                verdict=data["verdict"],
                category=data["category"],
                severity=data["severity"],
                note=data["note"],
            )
            messages.success(request, "Decision recorded.")
            following = selectors.open_disagreements().first()
            if following is None:
                return redirect("review:adjudication")
            return redirect(decide_url(following["trace"], following["segment"]))
    else:
        form = DecisionForm()
    others = selectors.open_disagreements().exclude(
        trace=trace.pk, **({"segment": segment.pk} if segment else {"segment__isnull": True})
    )
    following = others.first()
    context: dict[str, Any] = {
        "trace": trace,
        "segment": segment,
        "form": form,
        "labels": selectors.item_labels(trace=trace, segment=segment),
        "decisions": selectors.item_decisions(trace=trace, segment=segment),
        "open": selectors.is_open_disagreement(trace=trace, segment=segment),
        "misaligned": Verdict.MISALIGNED,
        "action": decide_url(trace.pk, segment.pk if segment else None),
        "next_url": following and decide_url(following["trace"], following["segment"]),
    }
    if segment is not None:
        context["evidence"] = marked_span(segment.step.content, segment.start, segment.end)
        context["findings"] = list(
            Finding.objects.filter(segment=segment).select_related("detector").order_by("-score")
        )
    else:
        flags = list(
            selectors.flag_list(filters=selectors.QueueFilters(), sort="-severity").filter(
                step__trace=trace
            )[:20]
        )
        findings = selectors.findings_of([s.pk for s in flags], selectors.QueueFilters())
        for flag in flags:
            flag.snippet = flag_excerpt(flag)
            flag.flag_findings = findings.get(flag.pk, [])
            flag.severity_name = Severity(flag.top_severity or 0).label
        context["flags"] = flags
    status = 400 if form.errors else 200
    return render(request, "review/adjudication_decide.html", context, status=status)
