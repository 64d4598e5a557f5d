"""Labeling: one item's label panel, saving a label, flagging a span, and the next queue item.

Every write goes through ``review.services`` (labels are append-only revisions there). Rejected
input comes back as the same form partial with its errors and a 4xx status, and nothing is
stored.
"""

from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from review.access import role_required
from review.forms import LabelForm
from review.models import Queue, Verdict
from review.selectors import previous_assignment, queue_item_field
from review.services import LabelInput, claim_next, queue_skip, save_label
from review.views.viewer import (
    Flag,
    active_categories,
    detector_blinding,
    find_flag,
    flag_form,
    labeled_items,
    page_context,
    panel_context,
    render_step,
    segment_flag,
    trace_flags,
    visible_flags,
)
from traces.models import Segment, Step, Trace
from traces.params import whole_number
from traces.roles import LABELER
from traces.schema import DocumentError


def trace_url(
    trace_id: int, *, queue: Queue | None, segment_id: int | None, step: int | None
) -> str:
    params = {}
    if queue is not None:
        params["queue"] = queue.pk
    if segment_id is not None:
        params["segment"] = segment_id
    url = reverse("review:trace", args=[trace_id])
    if params:
        url += "?" + urlencode(params)
    return url + (f"#step-{step}" if step is not None else "")


def posted_queue(request: HttpRequest) -> Queue | None:
    queue_id = whole_number(request.POST.get("queue", "") or request.GET.get("queue", ""))
    return None if queue_id is None else Queue.objects.filter(pk=queue_id).first()


def item_flag(request: HttpRequest, trace: Trace) -> tuple[bool, int | None, Flag | None]:
    """The item named by ``segment`` (empty: the whole trace) and its flag when it is one; False
    when it is not one of this trace's segments."""
    value = request.POST.get("segment", "") if request.method == "POST" else ""
    value = value or request.GET.get("segment", "")
    if not value:
        return True, None, None
    segment_id = whole_number(value)
    if segment_id is None:
        return False, None, None
    known, flag = segment_flag(trace_id=trace.pk, segment_id=segment_id)
    if flag is not None:
        # As the page shows it: without what hidden detectors say, and a span someone else
        # marked, hidden from this labeler, as a plain segment.
        shown = visible_flags([flag], viewer=request.user, trace_id=trace.pk)
        flag = shown[0] if shown else None
    return known, segment_id, flag


@role_required(LABELER)
@require_http_methods(["GET", "POST"])
def save(request: HttpRequest, trace_id: int) -> HttpResponse:
    """GET: the label panel of one item (``?segment=S``, or the whole trace), with the history
    the viewer may see. POST: save a label as a new revision; with ``next`` and a queue, send
    the browser on to the queue's next item."""
    trace = get_object_or_404(Trace, pk=trace_id)
    known, segment_id, flag = item_flag(request, trace)
    if not known:
        return HttpResponse("That segment is not part of this trace.", status=400)
    queue = posted_queue(request)
    categories = active_categories()

    def panel(**extra: object) -> dict:
        """The label panel of this item, as the page shows it."""
        return panel_context(
            request=request,
            trace=trace,
            segment_id=segment_id,
            flag=flag,
            categories=categories,
            queue=queue,
            **extra,
        )

    if request.method == "GET":
        return render(request, "review/trace.html#panel", panel())

    form = LabelForm(request.POST, categories=categories, auto_id="label-%s")
    if not form.is_valid():
        if not request.htmx:
            context = page_context(
                request, trace, queue=queue, focus_segment=segment_id, from_index=None, form=form
            )
            return render(request, "review/trace.html", context, status=422)
        return render(request, "review/trace.html#panel", panel(form=form), status=422)

    segment = Segment(pk=segment_id) if segment_id is not None else None
    was_blind = detector_blinding(viewer=request.user, trace_id=trace.pk).hidden
    saved = save_label(
        author=request.user, trace=trace, segment=segment, label=form.label_input(), queue=queue
    )
    if queue is not None and request.POST.get("next"):
        next_url = reverse("review:queue-next", args=[queue.pk])
        if request.htmx:
            return HttpResponse(status=204, headers={"HX-Redirect": next_url})
        return redirect(next_url)
    step = flag.step_index if flag else None
    if not request.htmx:
        return redirect(trace_url(trace.pk, queue=queue, segment_id=segment_id, step=step))
    if was_blind and not detector_blinding(viewer=request.user, trace_id=trace.pk).hidden:
        # The first verdict is in: the whole page comes again, with what the detectors found.
        # No #step-N: the same address with a fragment would only scroll the page, not load it.
        url = trace_url(trace.pk, queue=queue, segment_id=segment_id, step=None)
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    # The rail changes only by this item's tick, which the partial sends out of band.
    return render(request, "review/trace.html#label-saved", panel(saved=saved))


@role_required(LABELER)
@require_POST
def flag_span(request: HttpRequest, trace_id: int) -> HttpResponse:
    """Turn a person's selection into a human segment with its first label, and send back the
    step with its new highlight, the flag rail and the new segment's label panel."""
    trace = get_object_or_404(Trace, pk=trace_id)
    categories = active_categories()
    form = flag_form(categories, request.POST)
    step = None
    if form.is_valid():
        data = form.cleaned_data
        step = Step.objects.filter(trace=trace, index=data["step"]).first()
        if step is None:
            form.add_error("step", "This trace has no such step.")
        elif data["end"] > len(step.content):
            form.add_error(
                "end", f"The selection ends past the step's text ({len(step.content)} characters)."
            )
    if not form.is_valid():
        context = {"trace": trace, "flag_form": form, "queue": posted_queue(request)}
        response = render(request, "review/trace.html#flag-form", context, status=400)
        response["HX-Retarget"] = "#flag-span"
        response["HX-Reswap"] = "outerHTML"
        return response

    data = form.cleaned_data
    queue = posted_queue(request)
    with transaction.atomic():
        # Flagging the same span again is a new revision of the same item, not a second item.
        segment, _ = Segment.objects.get_or_create(
            step=step,
            start=data["start"],
            end=data["end"],
            origin=Segment.Origin.HUMAN,
            created_by=request.user,
        )
        saved = save_label(
            author=request.user,
            trace=trace,
            segment=segment,
            label=LabelInput(
                verdict=data["verdict"] or Verdict.MISALIGNED,
                category=data["category"],
                severity=data["severity"],
                note=data["note"],
            ),
        )
    if not request.htmx:
        return redirect(trace_url(trace.pk, queue=queue, segment_id=segment.pk, step=step.index))
    labeled = labeled_items(trace_id=trace.pk, user=request.user)
    blinding = detector_blinding(viewer=request.user, trace_id=trace.pk, labeled=labeled)
    flags = visible_flags(
        trace_flags(trace_id=trace.pk),
        viewer=request.user,
        trace_id=trace.pk,
        labeled=labeled,
        blinding=blinding,
    )
    flag = find_flag(flags, segment.pk)
    context = panel_context(
        request=request,
        trace=trace,
        segment_id=segment.pk,
        flag=flag,
        categories=categories,
        queue=queue,
        saved=saved,
    )
    context |= {
        "flags": flags,
        "focus": flag,
        "labeled": labeled,
        "blinding": blinding,
        "flag_form": flag_form(categories),
        "step_html": render_step(step, [f for f in flags if f.step_index == step.index], oob=True),
    }
    return render(request, "review/trace.html#flag-saved", context)


# The items each queue's labeler skipped, passed over until only they are left: in the session,
# as {queue id: [segment or trace ids]}.
SKIPPED = "queue-skipped"


def skipped_items(request: HttpRequest, queue: Queue) -> list[int]:
    return [int(item) for item in request.session.get(SKIPPED, {}).get(str(queue.pk), [])]


def remember_skipped(request: HttpRequest, queue: Queue, items: list[int]) -> None:
    skipped = dict(request.session.get(SKIPPED, {}))
    if items:
        skipped[str(queue.pk)] = items
    else:
        skipped.pop(str(queue.pk), None)
    request.session[SKIPPED] = skipped


@role_required(LABELER)
@require_http_methods(["GET", "POST"])
def next_item(request: HttpRequest, queue_id: int) -> HttpResponse:
    """Lease the queue's next item to the user and open it; say so when nothing is left. Items
    the user skipped come after every other, in the queue's order again."""
    queue = get_object_or_404(Queue, pk=queue_id)
    assignment = None
    try:
        if queue.active:
            skipped = skipped_items(request, queue)
            assignment = claim_next(queue=queue, user=request.user, skipped=skipped)
            if assignment is None and skipped:
                remember_skipped(request, queue, [])
                assignment = claim_next(queue=queue, user=request.user)
    except DocumentError as error:  # its stored filter went bad: a reviewer must set it again
        context = {"queue": queue, "error": str(error)}
        return render(request, "review/label_queue_empty.html", context, status=409)
    if assignment is None:
        return render(request, "review/label_queue_empty.html", {"queue": queue})
    return redirect(
        trace_url(
            assignment.trace_id,
            queue=queue,
            segment_id=assignment.segment_id,
            step=assignment.step_index,
        )
    )


@role_required(LABELER)
@require_POST
def skip(request: HttpRequest, queue_id: int) -> HttpResponse:
    """Give back the item the user holds (``assignment``) and open the queue's next one; the
    skipped item comes back once nothing else is left."""
    queue = get_object_or_404(Queue, pk=queue_id)
    assignment_id = whole_number(request.POST.get("assignment", ""))
    given_back = None
    if assignment_id is not None:
        given_back = queue_skip(queue=queue, user=request.user, assignment_id=assignment_id)
    if given_back is None:
        return HttpResponse(
            "assignment: you hold no unsaved item of this queue with that id.", status=400
        )
    item = given_back.segment_id if queue_item_field(queue) == "segment" else given_back.trace_id
    remember_skipped(request, queue, [*skipped_items(request, queue), item])
    return redirect("review:queue-next", queue_id=queue.pk)


@role_required(LABELER)
@require_GET
def back(request: HttpRequest, queue_id: int) -> HttpResponse:
    """Open the item the user labeled in the queue before assignment ``before`` (the last one
    they labeled when ``before`` is not submitted yet), to read or change their label."""
    queue = get_object_or_404(Queue, pk=queue_id)
    before = whole_number(request.GET.get("before", ""))
    previous = previous_assignment(queue=queue, user=request.user, before=before)
    if previous is None:
        return redirect("review:queue-next", queue_id=queue.pk)
    segment = previous.segment
    return redirect(
        trace_url(
            previous.trace_id,
            queue=queue,
            segment_id=previous.segment_id,
            step=segment.step.index if segment is not None else None,
        )
    )
