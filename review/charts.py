"""Charts as inline SVG, drawn on the server: readable without JavaScript and within a
Content-Security-Policy that forbids inline styles, so colours come from classes in
``static/css/dashboard.css``.

This is the only module that marks chart markup safe: every name and label passes through
``escape`` here, since queue names and usernames are typed by people. Each mark carries a
``<title>`` with its figure, which screen readers announce and browsers show on hover.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
PLOT_TOP = 16
PLOT_LEFT = 56
PLOT_RIGHT = 16
PLOT_HEIGHT = 200
AXIS_SPACE = 44  # below the plot: tick labels and the axis title
LEGEND_ROW = 20
LEGEND_COLUMN = 176
# Series colours cycle through this many classes (.series-0 to .series-7).
PALETTE = 8


class Line(Protocol):
    """One series of a line chart: a value per point of the x axis, None where it has none."""

    @property
    def name(self) -> str: ...

    @property
    def values(self) -> Sequence[float | None]: ...


@dataclass(frozen=True)
class Bar:
    """One bar: a figure with an optional interval, and the words its title gives it."""

    name: str
    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""


def number(value: float | None, digits: int = 2) -> str:
    """A figure as the page writes it: whole numbers as such, others to ``digits`` places."""
    if value is None:
        return "no figure"
    if float(value).is_integer() and digits:
        return str(int(value))
    return f"{value:.{digits}f}"


def _nice_ceiling(value: float) -> float:
    """A round axis top at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def _svg(height: int, title: str, body: list[str]) -> SafeString:
    text = escape(title)
    return mark_safe(  # noqa: S308 (every text above went through escape)
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{text}" xmlns="http://www.w3.org/2000/svg"><title>{text}</title>'
        + "".join(body)
        + "</svg>"
    )


def _legend(names: Sequence[str], top: float) -> tuple[list[str], int]:
    per_row = max(1, (WIDTH - PLOT_LEFT) // LEGEND_COLUMN)
    marks = []
    for i, name in enumerate(names):
        x = PLOT_LEFT + (i % per_row) * LEGEND_COLUMN
        y = top + (i // per_row) * LEGEND_ROW
        marks.append(
            f'<g class="legend series-{i % PALETTE}"><rect x="{x}" y="{y}" width="12" '
            f'height="12"/><text x="{x + 18}" y="{y + 10}">{escape(name)}</text></g>'
        )
    rows = math.ceil(len(names) / per_row) if names else 0
    return marks, rows * LEGEND_ROW


def line_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    lines: Sequence[Line],
    y_title: str,
    y_max: float | None = None,
    every: int = 1,
) -> SafeString:
    """Lines over a shared x axis (days, versions), y from 0; a point per value, each titled.
    ``every`` labels one x tick in so many, so thirty days stay legible."""
    plot_width = WIDTH - PLOT_LEFT - PLOT_RIGHT
    top_value = y_max or _nice_ceiling(
        max((v for line in lines for v in line.values if v is not None), default=0)
    )
    bottom = PLOT_TOP + PLOT_HEIGHT
    step = plot_width / max(1, len(x_labels) - 1)

    def x_at(i: int) -> float:
        return PLOT_LEFT + (i * step if len(x_labels) > 1 else plot_width / 2)

    def y_at(value: float) -> float:
        return bottom - value / top_value * PLOT_HEIGHT

    body = [
        f'<g class="axis"><line x1="{PLOT_LEFT}" y1="{bottom}" '
        f'x2="{WIDTH - PLOT_RIGHT}" y2="{bottom}"/>'
    ]
    for tick in range(5):
        value = top_value * tick / 4
        y = y_at(value)
        body.append(
            f'<line class="grid" x1="{PLOT_LEFT}" y1="{y:.1f}" x2="{WIDTH - PLOT_RIGHT}" '
            f'y2="{y:.1f}"/><text class="y-tick" x="{PLOT_LEFT - 6}" y="{y + 4:.1f}">'
            f"{number(value)}</text>"
        )
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            body.append(
                f'<text class="x-tick" x="{x_at(i):.1f}" y="{bottom + 16}">{escape(label)}</text>'
            )
    body.append(
        f'<text class="axis-title" x="14" y="{PLOT_TOP + PLOT_HEIGHT / 2}" '
        f'transform="rotate(-90 14 {PLOT_TOP + PLOT_HEIGHT / 2})">{escape(y_title)}</text></g>'
    )
    for n, line in enumerate(lines):
        colour = f"series-{n % PALETTE}"
        runs: list[list[str]] = [[]]
        points = []
        for i, value in enumerate(line.values):
            if value is None:
                runs.append([])
                continue
            x, y = x_at(i), y_at(value)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            points.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>'
                f"{escape(line.name)}, {escape(x_labels[i])}: {number(value)}</title></circle>"
            )
        body.append(f'<g class="series {colour}">')
        body.extend(f'<polyline points="{" ".join(run)}"/>' for run in runs if len(run) > 1)
        body.extend(points)
        body.append("</g>")
    legend, legend_height = _legend([line.name for line in lines], bottom + AXIS_SPACE - 16)
    body.extend(legend)
    return _svg(bottom + AXIS_SPACE + legend_height, title, body)


def bar_chart(
    *, title: str, bars: Sequence[Bar], low: float = 0.0, high: float = 1.0
) -> SafeString:
    """Horizontal bars from zero on a scale from ``low`` to ``high``, each with its interval as a
    whisker; a bar without a figure is named and says so."""
    row = 26
    name_width = 200
    left = name_width + 8
    plot_width = WIDTH - left - PLOT_RIGHT

    def x_at(value: float) -> float:
        return left + (min(max(value, low), high) - low) / (high - low) * plot_width

    zero = x_at(0.0)
    bottom = PLOT_TOP + row * len(bars)
    body = ['<g class="axis">']
    for tick in range(5):
        value = low + (high - low) * tick / 4
        body.append(
            f'<line class="grid" x1="{x_at(value):.1f}" y1="{PLOT_TOP}" x2="{x_at(value):.1f}" '
            f'y2="{bottom}"/><text class="x-tick" x="{x_at(value):.1f}" y="{bottom + 16}">'
            f"{number(value)}</text>"
        )
    body.append(f'<line x1="{zero:.1f}" y1="{PLOT_TOP}" x2="{zero:.1f}" y2="{bottom}"/></g>')
    for i, bar in enumerate(bars):
        y = PLOT_TOP + i * row
        name = escape(bar.name)
        body.append(f'<text class="bar-name" x="{name_width}" y="{y + 17}">{name}</text>')
        if bar.value is None:
            body.append(
                f'<text class="no-figure" x="{zero + 6:.1f}" y="{y + 17}">no figure'
                f"<title>{name}: no figure{escape(bar.note)}</title></text>"
            )
            continue
        start, end = sorted((zero, x_at(bar.value)))
        interval = whisker = ""
        if bar.low is not None and bar.high is not None:
            interval = f" (95% interval {number(bar.low)} to {number(bar.high)})"
            whisker = (
                f'<line class="whisker" x1="{x_at(bar.low):.1f}" y1="{y + row / 2}" '
                f'x2="{x_at(bar.high):.1f}" y2="{y + row / 2}"/>'
            )
        body.append(
            f'<g class="bar"><rect x="{start:.1f}" y="{y + 5}" width="{max(end - start, 1):.1f}" '
            f'height="{row - 10}"><title>{name}: {number(bar.value)}{interval}'
            f"{escape(bar.note)}</title></rect>{whisker}"
        )
        body.append("</g>")
    return _svg(bottom + 24, title, body)
