"""Detector parameters that hold no storable text are refused by the kind's own validation,
whichever way they arrive (the API, the admin's JSON fields, a command), naming the field."""

import msgspec
import pytest

from detection.engine import build, parse_params
from detection.kinds import pattern, tool_action
from traces.schema import DocumentError


def pattern_params(expression: str) -> dict:
    params = msgspec.to_builtins(pattern.PatternParams())
    params["rules"] = [{"name": "mine", "category": "other", "regexes": [expression]}]
    return params


@pytest.mark.parametrize("bad", ["\ud800", "\udfff", "\x00"])
def test_an_expression_with_a_lone_surrogate_or_nul_is_refused_naming_it(bad):
    with pytest.raises(DocumentError) as error:
        build("pattern", pattern_params(f"keeps{bad}going"), category="other")
    assert error.value.path == "rules[0].regexes[0]"
    assert "lone surrogate" in str(error.value)


def test_a_bad_key_is_named_too():
    params = msgspec.to_builtins(tool_action.ToolActionParams())
    params["severities"] = {"test_deleted\ud800": 2}
    with pytest.raises(DocumentError) as error:
        parse_params("tool_action", params)
    assert error.value.path == "severities.test_deleted\ufffd"


def test_a_valid_surrogate_pair_is_text_and_builds():
    detector = build("pattern", pattern_params("rocket \U0001f680 launch"), category="other")
    assert detector.rules[0].regexes == ["rocket \U0001f680 launch"]
