"""Pieces of trace text shown as evidence on the triage and adjudication pages.

Trace text is hostile: every piece is escaped, and the only markup around it is the ``<mark>``
added here, so a snippet can be marked safe without trusting a character of the trace.
"""

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from review import selectors
from traces.models import Segment

ELLIPSIS = "…"


def marked_span(
    text: str,
    start: int | None,
    end: int | None,
    *,
    cut_before: bool = False,
    cut_after: bool = False,
) -> SafeString:
    """``text`` escaped, with ``text[start:end]`` in a ``<mark>`` (nothing marked when either is
    None), and an ellipsis on a side where the text was cut from a longer one."""
    pieces = [ELLIPSIS] if cut_before else []
    if start is None or end is None:
        pieces.append(escape(text))
    else:
        start = max(0, min(start, len(text)))
        end = max(start, min(end, len(text)))
        pieces += [
            escape(text[:start]),
            f'<mark class="flag-span">{escape(text[start:end])}</mark>',
            escape(text[end:]),
        ]
    if cut_after:
        pieces.append(ELLIPSIS)
    return mark_safe("".join(pieces))  # noqa: S308 - every piece of text above is escaped


def search_snippet(
    text: str, pattern: re.Pattern[str] | None, *, width: int = 240, before: int = 60
) -> SafeString:
    """A window of ``text`` around the first match of ``pattern``, escaped, with the matches in
    it marked; the start of the text when nothing matches (a stemmed or far-off hit)."""
    first = pattern.search(text) if pattern else None
    begin = max(0, first.start() - before) if first else 0
    window = text[begin : begin + width]
    pieces = [ELLIPSIS] if begin > 0 else []
    position = 0
    for match in pattern.finditer(window) if pattern else ():
        pieces += [escape(window[position : match.start()]), f"<mark>{escape(match[0])}</mark>"]
        position = match.end()
    pieces.append(escape(window[position:]))
    if begin + width < len(text):
        pieces.append(ELLIPSIS)
    return mark_safe("".join(pieces))  # noqa: S308 - every piece of text above is escaped


def flag_excerpt(segment: Segment) -> SafeString:
    """The flagged span, marked in the excerpt that ``selectors.flag_list`` cut around it."""
    excerpt, offset = segment.excerpt or "", segment.excerpt_from
    if segment.start is None:
        cut = len(excerpt) >= selectors.EXCERPT_SPAN + selectors.EXCERPT_AFTER
        return marked_span(excerpt, None, None, cut_after=cut)
    span = min(segment.end - segment.start, selectors.EXCERPT_SPAN)
    wanted = segment.start - offset + span + selectors.EXCERPT_AFTER
    return marked_span(
        excerpt,
        segment.start - offset,
        segment.end - offset,
        cut_before=offset > 0,
        cut_after=len(excerpt) >= wanted,
    )
