"""The trace viewer: who may open it, what it shows, how it loads long traces, and that trace
text never becomes markup."""

import json
import re

import pytest
from django.conf import settings
from django.db import connection
from django.shortcuts import resolve_url
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from review.views.viewer import STEP_WINDOW, FindingView, Flag, render_content
from tests.review.conftest import HTMX, TAMPERING_STEPS, client_for, flag, make_trace
from tests.review.pages import step_text, tags, texts
from traces.models import Segment

pytestmark = pytest.mark.django_db


def page(trace, **params) -> str:
    url = reverse("review:trace", args=[trace.pk])
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def steps_url(trace, query: str = "") -> str:
    return reverse("review:trace-steps", args=[trace.pk]) + query


# --- Access --------------------------------------------------------------------------------------


def test_anonymous_reader_is_sent_to_sign_in(client, tampering):
    trace, _ = tampering
    response = client.get(page(trace))
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")


def test_anonymous_htmx_request_for_steps_gets_401(client, tampering):
    trace, _ = tampering
    assert client.get(steps_url(trace, "?start=0"), **HTMX).status_code == 401


def test_labeler_opens_a_trace(labeler, tampering):
    trace, _ = tampering
    response = client_for(labeler).get(page(trace))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Make the failing test pass" in html
    assert 'id="step-0"' in html and 'id="step-5"' in html


@pytest.mark.parametrize("method", ["put", "delete", "patch", "post"])
def test_the_page_and_its_steps_take_only_get(labeler, tampering, method):
    trace, _ = tampering
    client = client_for(labeler)
    assert getattr(client, method)(page(trace)).status_code == 405
    assert getattr(client, method)(steps_url(trace, "?start=0"), **HTMX).status_code == 405


def test_missing_trace_is_404(labeler):
    assert client_for(labeler).get("/traces/999999/").status_code == 404


# --- What the page shows -------------------------------------------------------------------------


def test_each_kind_of_step_is_styled_for_what_it_is(labeler, tampering):
    trace, _ = tampering
    html = client_for(labeler).get(page(trace)).content.decode()
    for kind in ("system", "user", "reasoning", "assistant", "tool_call", "tool_result"):
        assert f'class="step step-{kind}' in html
    assert "Reasoning (not shown to the user)" in html
    assert "Agent to user" in html
    # Tool results fold away; their exit code shows in the header.
    assert re.search(r'<details class="step-fold" open>\s*<summary>', html)
    assert "exit 0" in html


def test_an_exit_code_under_any_formats_key_shows_in_the_header(labeler):
    trace = make_trace(
        [
            {"kind": "tool_call", "content": "make check", "tool": "bash", "call_id": "a"},
            {
                "kind": "tool_result",
                "content": "2 checks failed",
                "call_id": "a",
                "metadata": {"returncode": 1},
            },
            {"kind": "tool_call", "content": "make lint", "tool": "bash", "call_id": "b"},
            {"kind": "tool_result", "content": "<returncode>0</returncode>", "call_id": "b"},
        ],
        external_id="exit-keys",
    )
    html = client_for(labeler).get(page(trace)).content.decode()
    assert '<span class="pill exit-bad">exit 1</span>' in html
    assert '<span class="pill exit-ok">exit 0</span>' in html


def test_step_content_element_holds_exactly_the_stored_text(labeler, tampering):
    trace, _ = tampering
    html = client_for(labeler).get(page(trace)).content.decode()
    for index, spec in enumerate(TAMPERING_STEPS):
        content = spec[1] if isinstance(spec, tuple) else spec["content"]
        assert step_text(html, index) == content


def test_text_with_carriage_returns_and_astral_characters_keeps_its_offsets(labeler, detector):
    content = "line one\r\nline two 🙂 <b>bold</b>\rend"
    trace = make_trace([("assistant", content)])
    flag(trace, detector, step=0, start=content.index("two"), end=content.index("two") + 3)
    html = client_for(labeler).get(page(trace)).content.decode()
    # A literal CR would be turned into LF by the browser's parser, shifting offsets.
    assert "\r" not in html
    assert step_text(html, 0) == content


def test_tool_call_arguments_are_pretty_printed_and_patches_coloured(labeler):
    patch = "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n-assert ok\n+# assert ok\n keep\n"
    trace = make_trace(
        [
            {
                "kind": "tool_call",
                "tool": "apply_patch",
                "arguments": {"path": "x.py", "patch": patch},
                "content": "apply the patch",
            },
            ("tool_result", "diff --git a/y b/y\n@@ -1 +1 @@\n-old\n+new\n"),
        ]
    )
    html = client_for(labeler).get(page(trace)).content.decode()
    assert '<span class="dl dl-add">+# assert ok\n</span>' in html
    assert '<span class="dl dl-del">-assert ok\n</span>' in html
    assert '<span class="dl dl-hunk">@@ -1,2 +1,2 @@\n</span>' in html
    assert "&quot;path&quot;: &quot;x.py&quot;" in html  # arguments, indented JSON
    # A diff in a tool result is coloured in place, and its text is still the stored text.
    assert '<span class="dl dl-add">+new\n</span>' in html
    assert step_text(html, 1) == "diff --git a/y b/y\n@@ -1 +1 @@\n-old\n+new\n"


def test_file_writes_and_replacements_show_as_code_not_escaped_json(labeler):
    old = "def parse(text):\n    return tokens(text)\n"
    new = "def parse(text):\n    return []  # <skip>\n"
    written = "import sys\n\nsys.exit(0)  # </pre><script>alert(1)</script>\n"
    calls = [
        (
            "str_replace_based_edit_tool",
            {"command": "str_replace", "path": "parse.py", "old_str": old, "new_str": new},
        ),
        ("Write", {"file_path": "conftest.py", "content": written}),
        (
            "MultiEdit",
            {"file_path": "a.py", "edits": [{"old_string": "x = 1", "new_string": "x = 2"}]},
        ),
    ]
    trace = make_trace(
        [
            {
                "kind": "tool_call",
                "tool": tool,
                "arguments": arguments,
                "content": json.dumps(arguments, indent=2),
            }
            for tool, arguments in calls
        ]
    )
    html = client_for(labeler).get(page(trace)).content.decode()
    assert '<span class="dl dl-del">-    return tokens(text)\n</span>' in html
    assert '<span class="dl dl-add">+    return []  # &lt;skip&gt;</span>' in html
    assert "<code>parse.py</code>: text replaced" in html
    assert '<span class="dl dl-meta">+++ b/parse.py\n</span>' in html
    assert (
        '<pre class="code">import sys\n\nsys.exit(0)  # &lt;/pre&gt;&lt;script&gt;alert(1)'
        "&lt;/script&gt;\n</pre>" in html
    )
    assert "<code>conftest.py</code> written" in html
    assert '<span class="dl dl-add">+x = 2</span>' in html
    # The call as sent is still there, folded, with its offsets' text.
    assert html.count("<summary>Arguments as sent</summary>") == 3
    assert step_text(html, 1) == json.dumps(calls[1][1], indent=2)


def test_the_page_offers_to_expand_and_collapse_all_tool_output(labeler, tampering):
    trace, _ = tampering
    html = client_for(labeler).get(page(trace)).content.decode()
    assert '<button type="button" class="secondary" id="fold-all" aria-pressed="false">' in html
    assert "js/folds.js" in html


def test_flag_is_highlighted_in_place_with_detector_score_and_rationale(labeler, tampering):
    trace, segment = tampering
    html = client_for(labeler).get(page(trace)).content.decode()
    mark = re.search(r'<mark class="flag[^"]*" data-flags="(\d+)"[^>]*>([^<]*)</mark>', html)
    assert mark and mark[1] == str(segment.pk) and mark[2] == "skip it"
    tag = mark[0]
    # Described by its entry under the step, not by a tooltip drawn over the text.
    assert f'aria-describedby="tip-{segment.pk}"' in tag and "title=" not in tag
    [entry] = texts(html, id=f"tip-{segment.pk}")
    assert "test-tamper · 0.90" in entry and "test_tampering" in entry
    assert "The agent comments out the assertion." in entry
    # The rail lists it, linking to its step.
    rail = texts(html, id="flag-rail")[0]
    assert "#2" in rail and "test-tamper · 0.90" in rail
    assert f'data-segment="{segment.pk}" data-step="2"' in html


def test_findings_of_an_old_detector_version_are_not_shown(labeler, tampering, detector):
    trace, _ = tampering
    detector.version = 2
    detector.save()
    html = client_for(labeler).get(page(trace)).content.decode()
    assert "<mark" not in html
    assert "No detector flagged this trace." in html


def test_overlapping_spans_are_marked_without_losing_text():
    one = Flag(1, 0, 0, 10, "detector", None, [FindingView("a", 1, 0.5, "x", 2, "why a")])
    two = Flag(2, 0, 5, 15, "human", 7)
    text = "0123456789abcdefghij"
    html = str(render_content(text, [one, two]))
    assert texts(f'<div class="c">{html}</div>', class_="c")[0] == text
    pieces = re.findall(r'data-flags="([\d ]+)"[^>]*>([^<]*)</mark>', html)
    assert pieces == [("1", "01234"), ("1 2", "56789"), ("2", "abcde")]
    assert html.count('tabindex="0"') == 2  # one focus stop per flag, at its first piece


def test_whole_step_segment_marks_the_whole_content():
    whole = Flag(3, 0, None, None, "detector", None, [FindingView("a", 1, 0.5, "x", 2, "")])
    html = str(render_content("all of it", [whole]))
    assert re.fullmatch(r'<mark [^>]*data-flags="3"[^>]*>all of it</mark>', html)


def test_flags_across_diff_lines_are_split_per_line():
    text = "@@ -1 +1 @@\n-old\n+new\n"
    span = Flag(4, 0, text.index("old"), text.index("new") + 3, "human", 7)
    html = str(render_content(text, [span], diff=True))
    assert texts(f"<div class=c>{html}</div>", class_="c")[0] == text
    assert re.findall(r"<mark [^>]*>([^<]*)</mark>", html) == ["old\n", "+new"]


# --- Long traces ---------------------------------------------------------------------------------


def build_long_trace(detector, steps: int, external_id: str):
    trace = make_trace(
        [
            ("reasoning" if i % 2 else "tool_result", f"step {i}: skip the test")
            for i in range(steps)
        ],
        external_id=external_id,
    )
    for index in (1, min(steps - 1, 9), steps - 1):
        flag(trace, detector, step=index, start=8, end=12)
    return trace


def test_page_runs_the_same_queries_for_10_and_10000_steps(
    labeler, detector, django_assert_num_queries
):
    short = build_long_trace(detector, 10, "short")
    long = build_long_trace(detector, 10_000, "long")
    client = client_for(labeler)
    client.get(page(short))  # warm the session and caches alike for both
    with CaptureQueriesContext(connection) as short_queries:
        response = client.get(page(short))
    assert response.status_code == 200
    with django_assert_num_queries(len(short_queries)):
        response = client.get(page(long))
    html = response.content.decode()
    assert f'id="step-{STEP_WINDOW - 1}"' in html and f'id="step-{STEP_WINDOW}"' not in html
    # Every flag is in the rail, even those whose steps are not loaded yet.
    assert 'data-step="9999"' in html
    assert 'hx-trigger="revealed"' in html


def test_step_windows_follow_one_another_until_the_end(labeler, detector):
    trace = build_long_trace(detector, 120, "mid")
    client = client_for(labeler)
    html = client.get(steps_url(trace, "?start=50"), **HTMX).content.decode()
    assert 'id="step-50"' in html and 'id="step-99"' in html and 'id="step-100"' not in html
    assert f'hx-get="/traces/{trace.pk}/steps/?start=100"' in html
    last = client.get(steps_url(trace, "?start=100"), **HTMX).content.decode()
    assert 'id="step-119"' in last
    assert "revealed" not in last
    assert "<mark" in last  # the flag on step 119 is highlighted in its window


def test_a_window_for_a_jump_offers_the_steps_before_it(labeler, detector):
    trace = build_long_trace(detector, 120, "jump")
    html = client_for(labeler).get(steps_url(trace, "?start=77&lead=1"), **HTMX).content.decode()
    assert 'id="step-50"' in html  # windows are aligned: 77 lives in 50..99
    assert "start=0&amp;lead=1&amp;tail=0" in html
    assert "Show steps 0\u201349" in html


def test_deep_link_opens_at_the_window_holding_the_step(labeler, detector):
    trace = build_long_trace(detector, 10_000, "deep")
    html = client_for(labeler).get(page(trace, **{"from": 4321})).content.decode()
    assert 'id="step-4321"' in html and 'id="step-4300"' in html and 'id="step-0"' not in html
    assert "Show steps 4250\u20134299" in html


def test_a_focused_segment_opens_at_its_step(labeler, detector):
    trace = build_long_trace(detector, 10_000, "focus")
    segment = Segment.objects.get(step__trace=trace, step__index=9999)
    html = client_for(labeler).get(page(trace, segment=segment.pk)).content.decode()
    assert 'id="step-9999"' in html
    assert "Flag on step #9999" in html


# --- Hostile trace text --------------------------------------------------------------------------

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "\"'><svg onload=alert(1)>",
]


def test_trace_text_is_escaped_everywhere(labeler, detector):
    hostile = " ".join(PAYLOADS)
    trace = make_trace(
        [
            ("reasoning", hostile),
            {"kind": "tool_call", "tool": "<script>alert(1)</script>", "arguments": {"x": hostile}},
            ("tool_result", hostile),
        ],
        task=hostile,
        metadata={"<script>alert(1)</script>": hostile},
    )
    flag(trace, detector, step=0, start=0, end=len(PAYLOADS[0]), rationale=hostile)
    response = client_for(labeler).get(page(trace))
    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "<img src=x" not in html and "<svg" not in html
    assert 'href="javascript:' not in html
    assert step_text(html, 0) == hostile
    # The elements the browser builds: scripts only from files, no handlers, styles or
    # javascript: links, and none of the payloads' elements.
    for tag, attrs in tags(html):
        assert tag not in {"img", "svg"}
        if tag == "script":
            assert (attrs.get("src") or "").startswith("/static/")
        for name, value in attrs.items():
            assert not name.startswith("on") and name != "style", (tag, name)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name)


def test_page_carries_a_policy_without_inline_script(labeler, tampering):
    trace, _ = tampering
    response = client_for(labeler).get(page(trace))
    policy = response["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'self'" in script_src
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
