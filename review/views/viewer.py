"""The trace viewer: a trace's steps, loaded in windows, with flagged spans highlighted in place.

A page runs a fixed number of queries whatever the trace's length: the trace, its flags (one
query, which also feeds the side rail), one window of steps, the taxonomy, the focused item's
labels and the viewer's own labeled items. Further windows come over HTMX as the reader scrolls.

Trace text is hostile. Every piece of it goes through ``escape`` before it meets markup, and a
step's content is kept in one element whose text equals the stored content character for
character, so offsets chosen in the browser (selection.js) are offsets into the stored text.
"""

import difflib
import json
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import pairwise
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.views.decorators.http import require_GET

from detection.engine import ScanStep
from detection.reading import EXIT_CODE_KEYS, ToolCall, exit_code
from review.access import role_required
from review.audit import record_view
from review.forms import FlagSpanForm, LabelForm
from review.models import Assignment, Category, Label, Queue
from review.selectors import hiding_queue_items, queue_place
from traces.models import Segment, Step, Trace
from traces.params import whole_number
from traces.roles import LABELER, REVIEWER, has_role

# Steps per window: enough to read on without waiting, small enough that the first window of a
# 10,000-step trace costs what a short trace does.
STEP_WINDOW = 50
# Tool results longer than this many lines start folded, unless a flag points into them.
OPEN_RESULT_LINES = 12
# What each kind of step is, for the reader: reasoning is not what the agent told the user.
KIND_LABELS = {
    Step.Kind.SYSTEM: "System prompt",
    Step.Kind.USER: "User",
    Step.Kind.REASONING: "Reasoning (not shown to the user)",
    Step.Kind.ASSISTANT: "Agent to user",
    Step.Kind.TOOL_CALL: "Tool call",
    Step.Kind.TOOL_RESULT: "Tool result",
}
DIFF_HINT = re.compile(r"^(?:@@ -\d|diff --git )", re.MULTILINE)


# --- Flags -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingView:
    detector: str
    version: int
    score: float
    category: str
    severity: int
    rationale: str


@dataclass
class Flag:
    """A segment worth a reader's attention: found by current detectors, or marked by a person.

    What it shows (title, tooltip, severity) is worked out once: the rail and the step both print
    it, and a page holds every flag of its trace. Ids come as text too, printed several times
    each without going through number localisation.
    """

    segment_id: int
    step_index: int
    start: int | None
    end: int | None
    origin: str
    created_by_id: int | None
    findings: list[FindingView] = field(default_factory=list)

    @cached_property
    def ref(self) -> str:
        return str(self.segment_id)

    @cached_property
    def step_ref(self) -> str:
        return str(self.step_index)

    @cached_property
    def human(self) -> bool:
        return self.origin == Segment.Origin.HUMAN

    @cached_property
    def top(self) -> FindingView | None:
        return max(self.findings, key=lambda f: f.score, default=None)

    @cached_property
    def severity(self) -> int:
        return max((f.severity for f in self.findings), default=0)

    @cached_property
    def title(self) -> str:
        """One line naming the flag: its detectors and best score, or who marked it."""
        if not self.findings:
            return "marked by a person" if self.human else "the span to label"
        names = ", ".join(sorted({f.detector for f in self.findings}))
        return f"{names} · {self.top.score:.2f}"

    @cached_property
    def description(self) -> str:
        """Detector, version, score, category and rationale of each finding, for tooltips."""
        if not self.findings:
            # Not who: under blind labeling, a person's flag should not say whose judgement it is.
            if self.human:
                return "Marked by a person"
            return (
                "The span this queue asks you to label. What the detectors found in it shows "
                "after your verdict."
            )
        return "\n".join(
            f"{f.detector} v{f.version} · score {f.score:.2f} · {f.category}"
            + (f"\n{f.rationale}" if f.rationale else "")
            for f in sorted(self.findings, key=lambda f: -f.score)
        )

    def span(self, length: int) -> tuple[int, int]:
        """Offsets clamped to the content: a whole-step segment covers all of it."""
        if self.start is None or self.end is None:
            return 0, length
        return min(self.start, length), min(self.end, length)


def trace_flags(
    *,
    trace_id: int,
    step_range: tuple[int, int] | None = None,
) -> list[Flag]:
    """The trace's flags in reading order, from one query: segments with a finding of a current,
    enabled detector version, and segments people marked. Optionally only steps in
    ``[start, end)``."""
    rows = Segment.objects.filter(step__trace_id=trace_id).filter(
        Q(origin=Segment.Origin.HUMAN)
        | Q(
            findings__detector__enabled=True,
            findings__detector_version=F("findings__detector__version"),
        )
    )
    if step_range is not None:
        rows = rows.filter(step__index__gte=step_range[0], step__index__lt=step_range[1])
    rows = rows.values_list(
        "pk",
        "step__index",
        "start",
        "end",
        "origin",
        "created_by_id",
        "findings__detector__name",
        "findings__detector_version",
        "findings__score",
        "findings__category",
        "findings__severity",
        "findings__rationale",
    ).order_by("step__index", "start", "pk", "-findings__score")
    flags: dict[int, Flag] = {}
    for pk, index, start, end, origin, by, name, version, score, category, sev, why in rows:
        flag = flags.get(pk)
        if flag is None:
            flag = flags[pk] = Flag(pk, index, start, end, origin, by)
        if name is not None and origin == Segment.Origin.DETECTOR:
            flag.findings.append(FindingView(name, version, score, category, sev, why))
    return list(flags.values())


# One segment of a trace with its findings of current, enabled detector versions, best first: a
# row per finding, or one row with none.
_SEGMENT_FLAG_SQL = """
SELECT g.id, s."index", g.start, g."end", g.origin, g.created_by_id, f.name, f.detector_version,
    f.score, f.category, f.severity, f.rationale
FROM traces_segment g
JOIN traces_step s ON s.id = g.step_id
LEFT JOIN (
    SELECT f.segment_id, d.name, f.detector_version, f.score, f.category, f.severity, f.rationale
    FROM detection_finding f
    JOIN detection_detector d ON d.id = f.detector_id
    WHERE f.segment_id = %(segment)s AND d.enabled AND f.detector_version = d.version
) f ON g.origin = %(detector)s
WHERE g.id = %(segment)s AND s.trace_id = %(trace)s
ORDER BY f.score DESC
"""


def segment_flag(*, trace_id: int, segment_id: int) -> tuple[bool, Flag | None]:
    """Whether the segment is part of the trace, and its flag as ``trace_flags`` makes it when it
    is one now (marked by a person, or found by a current detector version), from one query."""
    params = {"trace": trace_id, "segment": segment_id, "detector": Segment.Origin.DETECTOR}
    with connection.cursor() as cursor:
        cursor.execute(_SEGMENT_FLAG_SQL, params)
        rows = cursor.fetchall()
    if not rows:
        return False, None
    pk, index, start, end, origin, by = rows[0][:6]
    flag = Flag(pk, index, start, end, origin, by)
    flag.findings = [FindingView(*row[6:]) for row in rows if row[6] is not None]
    return True, flag if flag.human or flag.findings else None


@dataclass(frozen=True)
class DetectorBlinding:
    """What queues that hide the detectors withhold from one labeler on one trace: ``items``,
    the items (segment ids, None for the whole trace) such queues handed them there; ``hidden``,
    whether the detectors stay out of the page, as they do until each of those items has the
    labeler's verdict."""

    items: frozenset[int | None] = frozenset()
    hidden: bool = False

    @property
    def revealed(self) -> bool:
        """The labeler has given their verdicts, so the page shows what was hidden, and says so."""
        return bool(self.items) and not self.hidden


def detector_blinding(
    *,
    viewer: AbstractBaseUser,
    trace_id: int,
    labeled: Collection[int | None] | None = None,
) -> DetectorBlinding:
    """Whether the detectors are hidden from the viewer on the trace, so that their first verdict
    is their own. Reviewers and admins see everything. ``labeled``: the items the viewer has
    labeled in this trace, when the caller already knows them."""
    if has_role(viewer, REVIEWER):
        return DetectorBlinding()
    items = hiding_queue_items(user=viewer, trace_id=trace_id)
    if not items:
        return DetectorBlinding()
    if labeled is None:
        labeled = labeled_items(trace_id=trace_id, user=viewer)
    return DetectorBlinding(frozenset(items), hidden=not items.issubset(labeled))


def without_detectors(flags: Iterable[Flag], blinding: DetectorBlinding) -> list[Flag]:
    """The flags minus what the detectors say, while ``blinding`` hides them: people's spans, and
    the spans handed out to label as bare spans (no detector, score, rationale, severity or
    category); every other detector flag is left out, so none of it reaches the page."""
    if not blinding.hidden:
        return list(flags)
    kept = []
    for flag in flags:
        if flag.human:
            kept.append(flag)
        elif flag.segment_id in blinding.items:
            kept.append(
                Flag(
                    flag.segment_id,
                    flag.step_index,
                    flag.start,
                    flag.end,
                    flag.origin,
                    flag.created_by_id,
                )
            )
    return kept


def visible_flags(
    flags: Sequence[Flag],
    *,
    viewer: AbstractBaseUser,
    trace_id: int,
    labeled: Collection[int | None] | None = None,
    blinding: DetectorBlinding | None = None,
) -> list[Flag]:
    """The flags the viewer may see. Blind labeling covers spans as it covers labels: a labeler
    sees a span someone else marked only once they have labeled the whole trace or that span, so
    another person's judgement does not steer theirs, or when a queue handed them that span (or
    the trace) to label. A queue that hides the detectors takes their findings out too, until the
    labeler's first verdict (``detector_blinding``, read here unless given). Reviewers see every
    flag. ``labeled``, the items the viewer has labeled in this trace, is read only when needed."""
    if has_role(viewer, REVIEWER):
        return list(flags)
    if blinding is None:
        blinding = detector_blinding(viewer=viewer, trace_id=trace_id, labeled=labeled)
    flags = without_detectors(flags, blinding)
    foreign = [flag for flag in flags if flag.human and flag.created_by_id != viewer.pk]
    if not foreign:
        return flags
    if labeled is None:
        labeled = labeled_items(trace_id=trace_id, user=viewer)
    if None in labeled:
        return flags
    hidden = {flag.segment_id for flag in foreign if flag.segment_id not in labeled}
    if hidden:
        # A queue that hands the labeler a span, or the whole trace, to label shows it to them.
        held = set(
            Assignment.objects.filter(user=viewer, trace_id=trace_id)
            .filter(Q(segment__isnull=True) | Q(segment_id__in=hidden))
            .values_list("segment_id", flat=True)
        )
        hidden = set() if None in held else hidden - held
    return [flag for flag in flags if flag.segment_id not in hidden]


# --- Rendering step content --------------------------------------------------------------------


def escape_text(text: str) -> str:
    """Escape trace text for HTML; carriage returns as references, which the HTML parser keeps
    (a literal one it would turn into a line feed, shifting every offset after it)."""
    return escape(text).replace("\r", "&#13;")


def looks_like_diff(text: str) -> bool:
    return bool(DIFF_HINT.search(text))


def diff_line_class(line: str) -> str:
    if line.startswith(("+++ ", "--- ", "diff ", "index ")):
        return "dl-meta"
    if line.startswith("@@"):
        return "dl-hunk"
    if line.startswith("+"):
        return "dl-add"
    if line.startswith("-"):
        return "dl-del"
    return "dl-ctx"


def render_content(text: str, flags: Sequence[Flag] = (), *, diff: bool = False) -> SafeString:
    """The text as HTML with each flag's span in ``<mark>`` elements, and with diff lines wrapped
    in classed spans when ``diff``.

    The text is cut at every span boundary (and line end, for diffs) into pieces; a piece under
    several flags is one ``<mark>`` naming all of them, so overlapping spans nest nothing and the
    element's text stays exactly ``text``.
    """
    length = len(text)
    spans = [(*flag.span(length), flag) for flag in flags]
    spans = [(start, end, flag) for start, end, flag in spans if start < end]
    cuts = {0, length}
    for start, end, _ in spans:
        cuts.update((start, end))
    line_ends: set[int] = set()
    if diff:
        position = 0
        for line in text.split("\n"):
            position += len(line) + 1
            if position <= length:
                line_ends.add(position)
        cuts.update(line_ends)
    out: list[str] = []
    marked: set[int] = set()
    in_line = False
    for a, b in pairwise(sorted(cuts)):
        if diff and not in_line:
            end_of_line = text.find("\n", a)
            line = text[a : end_of_line if end_of_line >= 0 else length]
            out.append(format_html('<span class="dl {}">', diff_line_class(line)))
            in_line = True
        piece = escape_text(text[a:b])
        active = [flag for start, end, flag in spans if start <= a < end]
        if active:
            out.append(
                mark_piece(piece, active, first=not marked.issuperset(f.segment_id for f in active))
            )
            marked.update(flag.segment_id for flag in active)
        else:
            out.append(piece)
        if diff and (b in line_ends or b == length):
            out.append("</span>")
            in_line = False
    return mark_safe("".join(out))  # noqa: S308 -- every piece of trace text went through escape_text


def mark_piece(piece: str, flags: Sequence[Flag], *, first: bool) -> str:
    """One highlighted piece, described by its flags' entries under the step (keys.js picks
    them out on hover or focus): a tooltip drawn over the text hid what was being read."""
    classes = ["flag"]
    if all(flag.human for flag in flags):
        classes.append("flag-human")
    if len(flags) > 1:
        classes.append("flag-overlap")
    severity = max(flag.severity for flag in flags)
    if severity:
        classes.append(f"flag-sev-{severity}")
    return format_html(
        '<mark class="{}" data-flags="{}" aria-describedby="{}"{}>{}</mark>',
        " ".join(classes),
        " ".join(str(flag.segment_id) for flag in flags),
        " ".join(f"tip-{flag.segment_id}" for flag in flags),
        mark_safe(' tabindex="0"') if first else "",
        mark_safe(piece),  # noqa: S308 -- already escaped by the caller
    )


def argument_patches(
    arguments: Any, path: str = "", depth: int = 0
) -> list[tuple[str, SafeString]]:
    """String arguments of a tool call that hold a diff (an ``apply_patch`` patch, say), rendered
    with coloured lines; the call's JSON shows them only as escaped strings."""
    found: list[tuple[str, SafeString]] = []
    if depth > 3:
        return found
    if isinstance(arguments, str):
        if looks_like_diff(arguments):
            found.append((path or "arguments", render_content(arguments, diff=True)))
    elif isinstance(arguments, dict):
        for key, value in arguments.items():
            found += argument_patches(value, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(arguments, list):
        for i, value in enumerate(arguments):
            found += argument_patches(value, f"{path}[{i}]", depth + 1)
    return found


def edit_figures(step: Step) -> list[str]:
    """The files a tool call writes or edits through an editor's arguments (a path with its new
    text, and the text it replaces), as code: a written file's text, a replacement as a diff of
    the old text against the new. The call's JSON shows them as one escaped string each, with
    ``\n`` for every line break. The call is read as the detectors read it, so the
    console and the detectors agree on what it writes; patches are ``argument_patches``'."""
    call = ToolCall.read(
        ScanStep(step.index, step.kind, step.content, step.tool, "", step.arguments)
    )
    figures = []
    for edit in call.edits:
        if edit.old is None or edit.field is None:  # a patch, or a file deleted
            continue
        path, new = escape(edit.path), edit.field.value
        if edit.old:
            lines = difflib.unified_diff(
                edit.old.splitlines(), new.splitlines(), f"a/{edit.path}", f"b/{edit.path}", n=3
            )
            diff = "\n".join(line.rstrip("\n") for line in lines)
            figures.append(
                f'<figure class="patch code-edit"><figcaption><code>{path}</code>: text replaced'
                "</figcaption>"
                f'<div class="diff-view">{render_content(diff, diff=True)}</div></figure>'
            )
        else:
            figures.append(
                f'<figure class="code-write"><figcaption><code>{path}</code> written'
                f'</figcaption><pre class="code">{escape_text(new)}</pre></figure>'
            )
    return figures


def call_figures(step: Step) -> list[str]:
    """A tool call's patches and editor writes, as code, in the order the step shows them."""
    patches = [
        f'<figure class="patch"><figcaption><code>{escape(name)}</code> as a diff'
        f'</figcaption><div class="diff-view">{html}</div></figure>'
        for name, html in argument_patches(step.arguments)
    ]
    return patches + edit_figures(step)


def step_time(moment: datetime) -> str:
    """A step's timestamp as a ``<time>`` element, in the console's time zone."""
    local = timezone.localtime(moment)
    return f'<time datetime="{local.isoformat()}">{local:%H:%M:%S}</time>'


def render_step(step: Step, flags: Sequence[Flag], *, oob: bool = False) -> SafeString:
    """A step as an ``<article>``: a header (index, kind, tool, call id, exit code, tokens,
    time), its content with flags highlighted, folded when it is a long tool result, patches in
    its arguments as diffs, its arguments and other metadata, and its flags' titles.

    Built here rather than in the template: a window renders 50 of these, and the template engine
    spent about five times as long resolving each one's variables. Every value from the trace
    goes through ``escape``; ``oob`` marks it for an HTMX out-of-band swap.
    """
    content = step.content
    index = str(step.index)
    diff = step.kind != Step.Kind.TOOL_CALL and looks_like_diff(content)
    body = (
        f'<div class="step-content{" diff-view" if diff else ""}" data-step="{index}">'
        f"{render_content(content, flags, diff=diff)}</div>"
    )
    metadata = dict(step.metadata or {})
    code = exit_code(metadata, content if step.kind == Step.Kind.TOOL_RESULT else "")
    if code is not None:  # shown once, as the pill, whatever key the format used
        key = next((k for k in EXIT_CODE_KEYS if k in metadata), None)
        if key is not None:
            metadata.pop(key)
    swap = ' hx-swap-oob="outerHTML"' if oob else ""

    out = [
        f'<article id="step-{index}" class="step step-{escape(step.kind)}'
        f'{" step-flagged" if flags else ""}" tabindex="-1" data-index="{index}"'
        f'{swap}>\n<header class="step-head">'
        f'<a class="step-anchor" href="#step-{index}" title="Link to this step">#{index}</a> '
        f'<span class="step-kind">{escape(KIND_LABELS.get(step.kind, step.kind))}</span>'
    ]
    if step.tool:
        out.append(f' <code class="step-tool">{escape(step.tool)}</code>')
    if step.call_id:
        out.append(f' <span class="muted step-call">{escape(step.call_id)}</span>')
    if code is not None:
        outcome = "exit-ok" if code == 0 else "exit-bad"
        out.append(f' <span class="pill {outcome}">exit {code}</span>')
    out.append(' <span class="step-when muted">')
    if step.token_count:
        out.append(f"{step.token_count} tokens ")
    if step.timestamp:
        out.append(step_time(step.timestamp))
    out.append("</span></header>\n")

    if step.kind == Step.Kind.TOOL_RESULT:
        lines = content.count("\n") + 1 if content else 0
        first_line = content.lstrip().split("\n", 1)[0]
        preview = first_line[:120] + ("…" if len(first_line) > 120 else "")
        is_open = bool(flags) or lines <= OPEN_RESULT_LINES
        out.append(
            f'<details class="step-fold"{" open" if is_open else ""}>\n<summary>'
            f'<span class="muted">{lines} line{pluralize(lines)}</span> '
            f'<span class="preview">{escape(preview)}</span></summary>\n{body}\n</details>'
        )
    elif figures := call_figures(step) if step.kind == Step.Kind.TOOL_CALL else []:
        out.extend(figures)
        out.append(
            f'\n<details class="step-fold"{" open" if flags else ""}>\n'
            f"<summary>Arguments as sent</summary>\n{body}\n</details>"
        )
    else:
        out.append(body)

    if step.arguments is not None:
        pretty = json.dumps(step.arguments, indent=2, ensure_ascii=False)
        # Tool calls sent without content already show their pretty arguments as content.
        if pretty != content:
            out.append(
                '\n<details class="step-extra"><summary>Arguments</summary>'
                f'<pre class="json">{escape(pretty)}</pre></details>'
            )
    if metadata:
        pretty = json.dumps(metadata, indent=2, ensure_ascii=False)
        out.append(
            '\n<details class="step-extra"><summary>Step metadata</summary>'
            f'<pre class="json">{escape(pretty)}</pre></details>'
        )
    if flags:
        out.append(f'\n<ul class="step-flags" aria-label="Flags in step {index}">')
        for flag in flags:
            human = " flag-link-human" if flag.human else ""
            out.append(
                f'\n<li id="tip-{flag.segment_id}"><a href="#step-{index}" class="flag-link{human}"'
                f' data-segment="{flag.segment_id}" data-step="{index}">{escape(flag.title)}</a>'
            )
            if top := flag.top:
                out.append(
                    f' <span class="pill sev-{flag.severity}">{escape(top.category)}</span>'
                    f' <span class="rationale">{escape(Truncator(top.rationale).chars(240))}</span>'
                )
            out.append("</li>")
        out.append("\n</ul>")
    out.append("\n</article>\n")
    return mark_safe("".join(out))  # noqa: S308 -- every value from the trace went through escape


def render_steps(steps: Iterable[Step], flags: Iterable[Flag]) -> list[SafeString]:
    by_step: dict[int, list[Flag]] = defaultdict(list)
    for flag in flags:
        by_step[flag.step_index].append(flag)
    return [render_step(step, by_step.get(step.index, [])) for step in steps]


# --- Windows of steps ----------------------------------------------------------------------------


def window_start(index: int) -> int:
    """Windows start at multiples of STEP_WINDOW, so any two windows either match or are apart."""
    return max(index, 0) // STEP_WINDOW * STEP_WINDOW


def load_window(trace: Trace, start: int) -> list[Step]:
    return list(
        Step.objects.filter(trace=trace, index__gte=start, index__lt=start + STEP_WINDOW).order_by(
            "index"
        )
    )


def window_context(
    trace: Trace, start: int, steps: list[Step], flags: Iterable[Flag], *, lead: bool, tail: bool
) -> dict:
    """What the ``steps`` partial needs: the steps, and the loaders before and after them.

    ``lead`` puts a "load earlier steps" button before a window that does not start at 0 (a deep
    link or a jump); ``tail`` puts the infinite-scroll sentinel after one that is not the last.
    """
    end = start + STEP_WINDOW
    more = end < trace.step_count or len(steps) == STEP_WINDOW
    earlier = max(start - STEP_WINDOW, 0)
    return {
        "trace": trace,
        "steps_html": render_steps(steps, flags),
        "window_start": start,
        "window_end": end,
        "lead": lead and start > 0,
        "earlier_start": earlier,
        "tail": tail and more,
        "step_window": STEP_WINDOW,
    }


# --- Labels of one item --------------------------------------------------------------------------


# Revisions of one person's label shown in the panel, newest first; earlier ones are counted.
SHOWN_REVISIONS = 10


@dataclass
class Revisions:
    """One person's revisions of their label on an item: the newest ones, and how many more."""

    author: str
    labels: list[Label]
    earlier: int

    @cached_property
    def html(self) -> SafeString:
        """The list as the panel shows it, built in Python as a step is: through the template
        engine, ten revisions cost more processor time than the query that read them."""
        out = ['<ol class="revisions">']
        for label in self.labels:
            local = timezone.localtime(label.created_at)
            extra = f" · {escape(label.category.name)}" if label.category else ""
            if label.severity:
                extra += f" · {escape(label.get_severity_display())}"
            note = f'\n  <p class="note">{escape(label.note)}</p>' if label.note else ""
            out.append(
                f'\n<li class="revision">\n  <span class="rev">rev {label.revision}</span>\n'
                f'  <span class="verdict-tag verdict-{escape(label.verdict)}">'
                f"{escape(label.get_verdict_display())}</span>{extra}\n"
                f'  <time datetime="{local.isoformat()}">{local:%Y-%m-%d %H:%M:%S}</time>{note}\n'
                "</li>"
            )
        out.append("\n</ol>")
        if self.earlier > 0:
            out.append(
                f'\n<p class="muted">{self.earlier} earlier revision{pluralize(self.earlier)}, '
                "not shown.</p>"
            )
        return mark_safe("".join(out))  # noqa: S308 -- every stored value went through escape


@dataclass
class ItemLabels:
    """The labels of an item that the viewer may see, split into theirs and everyone else's."""

    mine: Revisions | None
    others: list[Revisions]
    others_hidden: bool


# Each person's newest revisions of their label on one item (``{item}``: a segment, or the whole
# trace), with their author's name, category and how many revisions they made. For a labeler,
# ``{blind}`` keeps other people's labels out until the labeler's own is in.
_ITEM_LABELS_SQL = """
SELECT * FROM (
    SELECT l.id, l.author_id, l.trace_id, l.segment_id, l.queue_id, l.verdict, l.category_id,
        l.severity, l.note, l.revision, l.created_at, u.username AS author_name,
        c.slug AS category_slug, c.name AS category_name,
        ROW_NUMBER() OVER (PARTITION BY l.author_id ORDER BY l.revision DESC, l.id DESC) AS newest,
        COUNT(*) OVER (PARTITION BY l.author_id) AS revisions
    FROM review_label l
    JOIN auth_user u ON u.id = l.author_id
    LEFT JOIN review_category c ON c.id = l.category_id
    WHERE l.trace_id = %(trace)s AND l.{item} {blind}
) shown
WHERE newest <= %(shown)s
ORDER BY author_id, revision DESC, id DESC
"""
_BLIND_SQL = """AND (l.author_id = %(viewer)s OR EXISTS (
        SELECT 1 FROM review_label m
        WHERE m.trace_id = %(trace)s AND m.{item} AND m.author_id = %(viewer)s))"""
_LABEL_ITEMS = {"segment": "segment_id = %(segment)s", "trace": "segment_id IS NULL"}
_ITEM_LABELS = {
    (level, reviewer): _ITEM_LABELS_SQL.format(
        item=item, blind="" if reviewer else _BLIND_SQL.format(item=item)
    )
    for level, item in _LABEL_ITEMS.items()
    for reviewer in (True, False)
}


def item_labels(
    *,
    trace_id: int,
    segment_id: int | None,
    viewer: AbstractBaseUser,
    labeled: Collection[int | None] | None = None,
) -> ItemLabels:
    """Each person's newest revisions of their label on the item (``SHOWN_REVISIONS`` of them,
    with a count of the rest), minus what blind labeling hides.

    A labeler sees other people's labels only once they have submitted their own, so that two
    labels agreeing means two people judged alike. The rule is in the query, so hidden labels
    never leave the database. Reviewers and admins see everything. ``labeled``, the items the
    viewer has labeled in this trace when the caller already knows them, saves the query when a
    labeler has not labeled this one: then there is nothing they may see.
    """
    reviewer = has_role(viewer, REVIEWER)
    if not reviewer and labeled is not None and segment_id not in labeled:
        return ItemLabels(mine=None, others=[], others_hidden=True)
    sql = _ITEM_LABELS["trace" if segment_id is None else "segment", reviewer]
    params = {
        "trace": trace_id,
        "segment": segment_id,
        "viewer": viewer.pk,
        "shown": SHOWN_REVISIONS,
    }
    by_author: dict[int, Revisions] = {}
    for label in Label.objects.raw(sql, params):
        if label.category_id is not None:
            label.category = Category.from_db(
                label._state.db,
                ["id", "slug", "name"],
                (label.category_id, label.category_slug, label.category_name),
            )
        history = by_author.get(label.author_id)
        if history is None:
            history = by_author[label.author_id] = Revisions(
                label.author_name, [], max(label.revisions - SHOWN_REVISIONS, 0)
            )
        history.labels.append(label)
    mine = by_author.pop(viewer.pk, None)
    return ItemLabels(
        mine=mine, others=list(by_author.values()), others_hidden=not reviewer and not mine
    )


def labeled_items(*, trace_id: int, user: AbstractBaseUser) -> set[int | None]:
    """The items of the trace the user has labeled: segment ids, and None for the whole trace."""
    return set(
        Label.objects.filter(trace_id=trace_id, author=user)
        .order_by()
        .values_list("segment_id", flat=True)
        .distinct()
    )


def initial_label(flag: Flag | None, labels: ItemLabels) -> dict:
    """Start from the person's last revision; else from what the detectors suggest."""
    if labels.mine:
        last = labels.mine.labels[0]
        return {
            "verdict": last.verdict,
            "category": last.category.slug if last.category else "",
            "severity": last.severity,
            "note": last.note,
        }
    if flag is not None and flag.top is not None:
        return {"category": flag.top.category, "severity": flag.severity or None}
    return {}


def panel_context(
    *,
    request: HttpRequest,
    trace: Trace,
    segment_id: int | None,
    flag: Flag | None,
    categories: Sequence[Category],
    queue: Queue | None,
    form: LabelForm | None = None,
    saved: Label | None = None,
    labeled: Collection[int | None] | None = None,
) -> dict:
    """What the ``panel`` partial needs to show one item (a segment, or the whole trace when
    ``segment_id`` is None): its flag if it is one, the form and the label history.
    ``labeled``: the items the viewer has labeled in this trace, if known."""
    labels = item_labels(
        trace_id=trace.pk, segment_id=segment_id, viewer=request.user, labeled=labeled
    )
    if form is None:
        form = LabelForm(
            initial=initial_label(flag, labels), categories=categories, auto_id="label-%s"
        )
    return {
        "trace": trace,
        "segment_id": segment_id,
        "flag": flag,
        "form": form,
        "labels": labels,
        "queue": queue,
        "saved": saved,
    }


def flag_form(categories: Sequence[Category], data: Any = None) -> FlagSpanForm:
    return FlagSpanForm(data, categories=categories, auto_id="flag-%s")


# --- Views ---------------------------------------------------------------------------------------


def int_param(request: HttpRequest, name: str) -> int | None:
    """A non-negative whole number from the query string, or None when absent or malformed."""
    return whole_number(request.GET.get(name, ""))


def optional_queue(request: HttpRequest) -> Queue | None:
    queue_id = int_param(request, "queue")
    if queue_id is None:
        return None
    return Queue.objects.filter(pk=queue_id).first()


def active_categories() -> list[Category]:
    return list(Category.objects.filter(active=True))


def find_flag(flags: Iterable[Flag], segment_id: int | None) -> Flag | None:
    return next((flag for flag in flags if flag.segment_id == segment_id), None)


def page_context(
    request: HttpRequest,
    trace: Trace,
    *,
    queue: Queue | None,
    focus_segment: int | None,
    from_index: int | None,
    form: LabelForm | None = None,
) -> dict:
    """Everything the trace page shows; also used to re-render it around a rejected form."""
    labeled = labeled_items(trace_id=trace.pk, user=request.user)
    blinding = detector_blinding(viewer=request.user, trace_id=trace.pk, labeled=labeled)
    flags = visible_flags(
        trace_flags(trace_id=trace.pk),
        viewer=request.user,
        trace_id=trace.pk,
        labeled=labeled,
        blinding=blinding,
    )
    focus = find_flag(flags, focus_segment)
    if from_index is None:
        from_index = focus.step_index if focus else 0
    start = window_start(min(from_index, max(trace.step_count - 1, 0)))
    steps = load_window(trace, start)
    window_flags = [f for f in flags if start <= f.step_index < start + STEP_WINDOW]
    categories = active_categories()
    metadata = [
        (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in (trace.metadata or {}).items()
    ]
    place = None
    if queue is not None:
        place = queue_place(
            queue=queue,
            user=request.user,
            trace_id=trace.pk,
            segment_id=focus_segment,
        )
    return {
        "trace": trace,
        "metadata": metadata,
        "flags": flags,
        "focus": focus,
        "queue": queue,
        "place": place,
        "labeled": labeled,
        "blinding": blinding,
        "flag_form": flag_form(categories),
        **window_context(trace, start, steps, window_flags, lead=True, tail=True),
        **panel_context(
            request=request,
            trace=trace,
            segment_id=focus.segment_id if focus else None,
            flag=focus,
            categories=categories,
            queue=queue,
            form=form,
            labeled=labeled,
        ),
    }


@role_required(LABELER)
@require_GET
def trace_page(request: HttpRequest, trace_id: int) -> HttpResponse:
    """The whole trace page. ``?from=N`` opens at the window holding step N (deep links beyond
    the first window); ``?queue=Q&segment=S`` opens at segment S with "save and next" on."""
    trace = get_object_or_404(Trace.objects.select_related("source"), pk=trace_id)
    record_view(trace, via="console")
    context = page_context(
        request,
        trace,
        queue=optional_queue(request),
        focus_segment=int_param(request, "segment"),
        from_index=int_param(request, "from"),
    )
    return render(request, "review/trace.html", context)


@role_required(LABELER)
@require_GET
def step_window(request: HttpRequest, trace_id: int) -> HttpResponse:
    """One window of steps from ``?start=N``, for infinite scroll (a sentinel after it) and for
    jumps and earlier steps (``lead=1``: a button before it; ``tail=0``: no sentinel)."""
    trace = get_object_or_404(Trace.objects.only("pk", "step_count"), pk=trace_id)
    start = window_start(int_param(request, "start") or 0)
    steps = load_window(trace, start)
    flags = visible_flags(
        trace_flags(trace_id=trace.pk, step_range=(start, start + STEP_WINDOW)),
        viewer=request.user,
        trace_id=trace.pk,
    )
    context = window_context(
        trace,
        start,
        steps,
        flags,
        lead=request.GET.get("lead") == "1",
        tail=request.GET.get("tail") != "0",
    )
    return render(request, "review/trace.html#steps", context)
