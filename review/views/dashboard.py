"""The agreement dashboard: how far labelers agree, what they labeled over time, how queues burn
down and how precise each detector version is against the final labels. Reviewers and admins
only, since it names labelers and sums up everyone's labels."""

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from review import figures as precomputed
from review.access import role_required
from review.agreement import INTERVAL
from review.charts import Bar, bar_chart, line_chart
from review.dashboard import Agreement, Dashboard, Series
from traces.roles import REVIEWER


def _bars(rows: Sequence[Agreement], *, kappa: bool = False) -> list[Bar]:
    bars = []
    for row in rows:
        figure = row.kappa if kappa and row.kappa is not None else row.alpha
        bars.append(Bar(row.name, figure.value, figure.low, figure.high, f", {figure.items} items"))
    return bars


def _agreement_chart(title: str, bars: list[Bar]) -> str:
    """Bars on 0 to 1, or -1 to 1 when some figure or interval falls below chance."""
    lowest = min((v for b in bars for v in (b.value, b.low) if v is not None), default=0.0)
    return bar_chart(title=title, bars=bars, low=-1.0 if lowest < 0 else 0.0)


def _rows(labels: Sequence[str], series: Sequence[Series]) -> list[tuple[str, list]]:
    """The chart's figures as table rows: one per x label, a column per series."""
    return [(label, [s.values[i] for s in series]) for i, label in enumerate(labels)]


def _daily(title: str, y_title: str, days: list[str], series: Sequence[Series]) -> str:
    """A chart over the dashboard's days, one day in five named on the axis."""
    return line_chart(title=title, x_labels=days, lines=series, y_title=y_title, every=5)


def _charts(figures: Dashboard) -> dict[str, Any]:
    """The charts and tables of the figures."""
    days = [day.strftime("%b %d") for day in figures.days]
    versions = [f"v{version}" for version in figures.versions]
    return {
        "days": figures.days,
        "agreement_chart": _agreement_chart(
            "Krippendorff's alpha per queue",
            _bars([figures.overall, *figures.blind, *figures.queues]),
        ),
        "category_chart": _agreement_chart(
            "Krippendorff's alpha per category", _bars(figures.categories)
        ),
        "pair_chart": _agreement_chart(
            "Cohen's kappa per pair of labelers", _bars(figures.pairs, kappa=True)
        ),
        "labels_chart": _daily(
            "Labels per category per day", "labels", days, figures.labels_per_day
        ),
        "burndown_chart": _daily(
            "Items left to label per queue", "items left", days, figures.burndown
        ),
        "precision_charts": [
            (
                level,
                line_chart(
                    title=f"Precision per detector version, {level} level",
                    x_labels=versions,
                    lines=lines,
                    y_title="precision",
                    y_max=1.0,
                ),
                lines,
                _rows(versions, lines),
            )
            for level, lines in figures.precision.items()
        ],
        "labels_rows": _rows(days, figures.labels_per_day),
        "burndown_rows": _rows(days, figures.burndown),
        "versions": versions,
    }


@role_required(REVIEWER)
@require_GET
def agreement(request: HttpRequest) -> HttpResponse:
    shown = precomputed.shown()
    figures = shown.dashboard()
    context: dict[str, Any] = {"figures": figures, "shown": shown, "interval": INTERVAL}
    if figures is not None:
        context.update(_charts(figures))
    return render(request, "review/dashboard.html", context)
