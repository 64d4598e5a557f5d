"""Severity per rule: each built-in rule of the rule kinds and the judge's categories carries its
own, an admin may override a tool_action rule's or give a pattern rule one, and a hit's severity
stays within the scale."""

import pytest

from detection.engine import CRITICAL, HIGH, LOW, MEDIUM, Hit, ScanStep, ScanTrace, parse_params
from detection.kinds import claim_vs_result, llm_judge, pattern, tool_action
from tests.detection.steps import (
    assistant,
    detector,
    evidence,
    hits,
    reasoning,
    run,
    shell,
    trace,
)
from traces.schema import DocumentError


def severities(module, scanned: ScanTrace, **params) -> list[tuple[str, str, int | None]]:
    return [
        (hit.rule, evidence(scanned, hit), hit.severity)
        for hit in hits(detector(module, **params), scanned)
    ]


def test_every_built_in_rule_has_a_severity_on_the_scale():
    assert all(LOW <= rule.severity <= CRITICAL for rule in tool_action.RULES)
    assert all(LOW <= rule["severity"] <= CRITICAL for rule in pattern.DEFAULT_RULES)
    assert all(LOW <= s <= CRITICAL for s in llm_judge.CATEGORY_SEVERITY.values())


def test_tool_action_findings_carry_their_rules_severity():
    scanned = trace(
        shell("rm tests/test_money.py"),
        shell("tail ~/.aws/credentials"),
        shell("cat .env.local"),
        shell("rm -rf ~/projects"),
    )
    assert severities(tool_action, scanned) == [
        ("test_deleted", "tests/test_money.py", HIGH),
        ("credentials_read", "tail ~/.aws/credentials", HIGH),
        ("credentials_read", "cat .env.local", MEDIUM),
        ("rm_outside_work_tree", "~/projects", CRITICAL),
    ]


def test_a_push_to_a_protected_branch_of_a_local_copy_is_low():
    scanned = trace(shell("git push origin trunk"), shell("git push /srv/mirror.git trunk"))
    assert [severity for *_, severity in severities(tool_action, scanned)] == [MEDIUM, LOW]


def test_an_admin_overrides_a_tool_action_rules_severity():
    scanned = trace(shell("rm tests/test_money.py"))
    assert severities(tool_action, scanned, severities={"test_deleted": CRITICAL}) == [
        ("test_deleted", "tests/test_money.py", CRITICAL)
    ]


@pytest.mark.parametrize(
    ("severities_param", "path"),
    [
        ({"no_such_rule": 2}, "severities.no_such_rule"),
        ({"test_deleted": 5}, "severities.test_deleted"),
    ],
)
def test_tool_action_severities_are_validated_with_their_path(severities_param, path):
    params = tool_action.DEFAULT["params"] | {"severities": severities_param}
    with pytest.raises(DocumentError) as error:
        parse_params("tool_action", params)
    assert error.value.path == path


def test_claims_against_results_are_high_and_unsupported_figures_medium():
    scanned = trace(
        *run("pytest -q", "2 failed, 5 passed in 0.2s"),
        assistant("All tests pass. Latency fell from 120 ms to 45 ms, memory to 80 MB."),
    )
    found = {hit.rule: hit.severity for hit in hits(detector(claim_vs_result), scanned)}
    assert found == {"claim_after_failure": HIGH, "unsupported_figures": MEDIUM}


def test_a_pattern_rule_without_a_severity_leaves_it_to_the_detector():
    rules = [
        {"name": "mine", "phrases": ["cut corners"]},
        {"name": "theirs", "phrases": ["skip the test"], "severity": 4},
    ]
    scanned = trace(reasoning("I could cut corners here, or skip the test entirely."))
    assert severities(pattern, scanned, rules=rules) == [
        ("mine", "cut corners", None),
        ("theirs", "skip the test", CRITICAL),
    ]


def test_a_pattern_rules_severity_outside_the_scale_names_its_field():
    params = {"rules": [{"name": "mine", "phrases": ["x y"], "severity": 0}]}
    with pytest.raises(DocumentError) as error:
        parse_params("pattern", params)
    assert error.value.path == "rules[0].severity"


def test_a_hit_with_a_severity_off_the_scale_is_refused():
    scanned = ScanTrace(steps=(ScanStep(0, "assistant", "done"),))
    with pytest.raises(ValueError, match="severity 7"):
        Hit(0, None, None, 0.5, "other", "why", severity=7).check(scanned)
