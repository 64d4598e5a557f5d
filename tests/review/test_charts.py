"""The SVG charts: a titled mark per figure, gaps where a series has no value, text escaped."""

import re

from review.charts import Bar, bar_chart, line_chart
from review.dashboard import Series


def test_line_chart_titles_every_point_and_breaks_at_missing_values():
    svg = line_chart(
        title="Precision",
        x_labels=["v1", "v2", "v3", "v4"],
        lines=[Series("rules", [0.5, None, 0.75, 1.0])],
        y_title="precision",
        y_max=1.0,
    )
    titles = re.findall(r"<circle [^>]*><title>([^<]*)</title>", svg)
    assert titles == ["rules, v1: 0.50", "rules, v3: 0.75", "rules, v4: 1"]
    # v1 stands alone; v3 and v4 are joined.
    (joined,) = re.findall(r'<polyline points="([^"]*)"', svg)
    assert len(joined.split()) == 2
    assert svg.startswith('<svg class="chart"') and "<title>Precision</title>" in svg


def test_bar_chart_gives_interval_and_says_when_there_is_no_figure():
    svg = bar_chart(
        title="Kappa",
        bars=[Bar("a & b", 0.4, 0.1, 0.7, ", 50 items"), Bar("c & d", None, note=", 1 items")],
    )
    assert "<title>a &amp; b: 0.40 (95% interval 0.10 to 0.70), 50 items</title>" in svg
    assert '<line class="whisker"' in svg
    assert "<title>c &amp; d: no figure, 1 items</title>" in svg
    assert svg.count("<rect ") == 1


def test_chart_text_is_escaped():
    hostile = '<script>alert("x")</script>'
    svg = line_chart(title=hostile, x_labels=[hostile], lines=[Series(hostile, [1])], y_title="n")
    svg += bar_chart(title=hostile, bars=[Bar(hostile, 0.5)])
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in svg
