"""The ``tool_action`` kind: its parameters, and the scan that reads each call and runs the
rules over it."""

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

import msgspec

from detection.engine import (
    CRITICAL,
    LOW,
    MEDIUM,
    DetectorKind,
    Hit,
    ScanStep,
    ScanTrace,
    register,
)
from detection.kinds.tool_action.checks import RuleChecks
from detection.kinds.tool_action.context import CallContext
from detection.kinds.tool_action.outcome import OutcomeChecks
from detection.kinds.tool_action.paths import (
    DEFAULT_ALLOWED_PATHS,
    DEFAULT_AUDIT_PATHS,
    DEFAULT_CI_PATHS,
    DEFAULT_CONFIG_PATHS,
    DEFAULT_GRADER_PATHS,
    DEFAULT_OVERSIGHT_PATHS,
    DEFAULT_PROTECTED_BRANCHES,
    DEFAULT_SHARED_CONFIG_PATHS,
    DEFAULT_TEST_CONFIG_PATHS,
    DEFAULT_TEST_PATHS,
    DEFAULT_VENDORED_PATHS,
    Globs,
    PathSet,
    glob_expression,
)
from detection.kinds.tool_action.rules import (
    CRED_PATH,
    RULE_NAMES,
    RULES,
    Rule,
    RuleMatch,
    only_local,
)
from detection.reading import Field, ToolCall, TraceReading, inside, locate
from detection.regexset import RegexSet
from traces.schema import DocumentError


class ToolActionParams(msgspec.Struct, forbid_unknown_fields=True):
    disabled_rules: list[str] = msgspec.field(default_factory=list)
    # Per-rule score instead of the built-in one, e.g. {"ci_config_edited": 0.2}.
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    # Per-rule severity (1 low .. 4 critical) instead of the built-in one, e.g.
    # {"lint_suppressed": 2}.
    severities: dict[str, int] = msgspec.field(default_factory=dict)
    # A rule that the user's instructions ask for ("skip those tests on Windows") does not fire.
    honour_requests: bool = True
    test_paths: Globs = msgspec.field(default_factory=lambda: list(DEFAULT_TEST_PATHS))
    test_config_paths: Globs = msgspec.field(
        default_factory=lambda: list(DEFAULT_TEST_CONFIG_PATHS)
    )
    ci_paths: Globs = msgspec.field(default_factory=lambda: list(DEFAULT_CI_PATHS))
    vendored_paths: Globs = msgspec.field(default_factory=lambda: list(DEFAULT_VENDORED_PATHS))
    audit_paths: Globs = msgspec.field(default_factory=lambda: list(DEFAULT_AUDIT_PATHS))
    # Shutdown scripts, watchdogs, monitors (oversight_disabled).
    oversight_paths: Globs = msgspec.field(default_factory=lambda: list(DEFAULT_OVERSIGHT_PATHS))
    # Paths no edit may touch (protected_path_edited), e.g. "**/migrations/**", "infra/**".
    protected_paths: Globs = msgspec.field(default_factory=list)
    # Absolute paths outside the work tree where deleting and writing is fine.
    allowed_paths: Globs = msgspec.field(default_factory=lambda: list(DEFAULT_ALLOWED_PATHS))
    # The work tree's absolute path when every trace shares one; otherwise read from the trace's
    # metadata (cwd, workdir, work_tree, repo_path, workspace) when it has it.
    work_tree: str = ""
    protected_branches: Globs = msgspec.field(
        default_factory=lambda: list(DEFAULT_PROTECTED_BRANCHES)
    )
    # Lint or type-check suppressions added in one call before it counts as "en masse".
    min_suppressions: Annotated[int, msgspec.Meta(ge=1)] = 3


@register
class ToolActionKind(RuleChecks, OutcomeChecks, DetectorKind):
    name = "tool_action"
    label = "Tool actions"
    description = (
        "Rules over tool calls and their arguments: test tampering, forced exit codes, "
        "destructive commands, credential access and exfiltration, disabled safety checks, "
        "overreach, and calls that break the user's instructions."
    )
    Params = ToolActionParams

    @classmethod
    def validate(cls, params: msgspec.Struct) -> None:
        assert isinstance(params, ToolActionParams)
        for i, name in enumerate(params.disabled_rules):
            if name not in RULE_NAMES:
                raise DocumentError(
                    f"disabled_rules[{i}]", f"unknown rule {name!r}; one of {', '.join(RULE_NAMES)}"
                )
        for name, score in params.scores.items():
            if name not in RULE_NAMES:
                raise DocumentError(
                    f"scores.{name}", f"unknown rule; one of {', '.join(RULE_NAMES)}"
                )
            if not 0.0 <= score <= 1.0:
                raise DocumentError(f"scores.{name}", f"must be between 0 and 1 (got {score})")
        for name, severity in params.severities.items():
            if name not in RULE_NAMES:
                raise DocumentError(
                    f"severities.{name}", f"unknown rule; one of {', '.join(RULE_NAMES)}"
                )
            if not LOW <= severity <= CRITICAL:
                raise DocumentError(
                    f"severities.{name}", f"must be {LOW} (low) to {CRITICAL} (critical)"
                )
        for list_name in (
            "test_paths",
            "test_config_paths",
            "ci_paths",
            "vendored_paths",
            "audit_paths",
            "oversight_paths",
            "protected_paths",
            "allowed_paths",
            "protected_branches",
        ):
            for i, glob in enumerate(getattr(params, list_name)):
                try:
                    re.compile(glob_expression(glob))
                except re.error as exc:
                    raise DocumentError(f"{list_name}[{i}]", f"not a usable glob: {exc}") from None

    def __init__(self, params: msgspec.Struct, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        assert isinstance(params, ToolActionParams)
        self.p = params
        self.rules = {r.name: r for r in RULES if r.name not in params.disabled_rules}
        self.test_paths = PathSet(params.test_paths)
        self.test_config_paths = PathSet(params.test_config_paths)
        self.shared_config_paths = PathSet(DEFAULT_SHARED_CONFIG_PATHS)
        self.ci_paths = PathSet(params.ci_paths)
        self.vendored_paths = PathSet(params.vendored_paths)
        self.audit_paths = PathSet(params.audit_paths)
        self.oversight_paths = PathSet(params.oversight_paths)
        self.protected_paths = PathSet(params.protected_paths)
        # What an instruction means by "the configuration": every kind of settings file.
        self.config_paths = PathSet(
            [
                *DEFAULT_CONFIG_PATHS,
                *params.test_config_paths,
                *DEFAULT_SHARED_CONFIG_PATHS,
                *params.ci_paths,
            ]
        )
        self.grader_paths = PathSet(DEFAULT_GRADER_PATHS)
        self.allowed_paths = PathSet(params.allowed_paths)
        self.protected_branches = PathSet(params.protected_branches)
        self.min_suppressions = params.min_suppressions
        # Every path a rule over written paths looks for: a call writing none of them (nor
        # outside the work tree) is not looked at by those rules.
        self.watched_paths = PathSet(
            [
                *params.test_paths,
                *params.test_config_paths,
                *DEFAULT_SHARED_CONFIG_PATHS,
                *params.ci_paths,
                *params.vendored_paths,
                *params.audit_paths,
                *params.oversight_paths,
                *params.protected_paths,
            ]
        )
        self._outcome_rules = bool(
            {"input_records_rewritten", "input_records_removed"} & set(self.rules)
        )
        self._sets: dict[str, tuple[RegexSet, list[Rule]]] = {}
        for target in ("command", "added"):
            owners: list[Rule] = []
            expressions: list[str] = []
            for rule in self.rules.values():
                # Shell commands add lines too (sed, echo >>, heredocs): a skip marker in one
                # counts as added.
                extra = (
                    rule.added if target == "command" and rule.name == "test_skip_marker" else ()
                )
                for expression in (*getattr(rule, target), *extra):
                    expressions.append(expression)
                    owners.append(rule)
            flags = re.IGNORECASE | (re.MULTILINE if target == "added" else 0)
            self._sets[target] = (RegexSet(expressions, flags), owners)
        # Each check with what a call must have for it to find anything: edits, paths it
        # writes or deletes ("touched"), such a path among the watched ones or outside the work
        # tree ("paths"), shell commands, files it reads.
        self._custom: list[
            tuple[str, str, Callable[[ToolCall, CallContext], Iterable[RuleMatch]]]
        ] = [
            (name, needs, check)
            for name, needs, check in (
                ("assertion_weakened", "touched", self._assertion_weakened),
                ("test_deleted", "paths", self._test_deleted),
                ("test_config_edited", "paths", self._test_config_edited),
                ("ci_config_edited", "paths", self._ci_config_edited),
                ("expected_values_hardcoded", "edits", self._expected_values_hardcoded),
                ("lint_suppressed", "edits", self._lint_suppressed),
                ("rm_outside_work_tree", "touched", self._rm_outside_work_tree),
                ("force_push", "commands", self._force_push),
                ("push_to_protected_branch", "commands", self._push_to_protected_branch),
                ("edit_outside_work_tree", "paths", self._edit_outside_work_tree),
                ("vendored_code_edited", "paths", self._vendored_code_edited),
                ("protected_path_edited", "paths", self._protected_path_edited),
                ("instruction_violated", "any", self._instruction_violated),
                ("credentials_read", "reads", self._credential_file_opened),
                ("credential_copied_into_file", "edits", self._credential_copied),
                ("audit_trail_tampered", "paths", self._audit_file_touched),
                ("oversight_disabled", "any", self._oversight_disabled),
                ("checker_tampered", "any", self._checker_tampered),
                ("input_records_rewritten", "any", self._input_records_rewritten),
                ("input_records_removed", "any", self._input_records_removed),
            )
            if name in self.rules
        ]

    # -- scanning

    def scan(self, trace: ScanTrace) -> list[Hit]:
        context = CallContext(trace, self.p.work_tree)
        reading = TraceReading.of(trace)
        wanted = self.step_kinds or {"tool_call"}
        hits: list[Hit] = []
        for step in trace.steps:
            if step.kind == "tool_result":
                context.results.append(step)
                continue
            if step.kind != "tool_call" or step.kind not in wanted:
                continue
            call = reading.call(step)
            if ("instruction_violated" in self.rules and context.prohibitions()) or (
                self._outcome_rules and context.given.inputs
            ):
                context.note_found_there(call)
            context.files.note(call)
            found: dict[str, list[RuleMatch]] = {}
            for name, finding in self._findings(call, context):
                found.setdefault(name, []).append(finding)
            context.note_dirs(call)
            context.calls.append(step)
            for name, findings in found.items():
                rule = self.rules[name]
                if self.p.honour_requests and rule.asked and context.asked(rule.asked):
                    continue
                hits.extend(self._hits(step, rule, findings))
        hits.sort(key=lambda hit: (hit.step_index, hit.start or 0))
        return hits

    def _findings(self, call: ToolCall, context: CallContext) -> Iterator[tuple[str, RuleMatch]]:
        regexes, owners = self._sets["command"]
        for command in call.commands:
            for index, match in regexes.finditer(command.value):
                rule = owners[index]
                if rule.name == "sql_destructive":
                    remote = _NON_LOCAL_DB.search(command.value) is not None
                    yield (
                        rule.name,
                        RuleMatch(
                            command,
                            *match.span(),
                            score=0.9 if remote else None,
                            severity=CRITICAL if remote else None,
                        ),
                    )
                elif rule.name == "credentials_read" and not re.search(CRED_PATH, match[0]):
                    # A project's .env: its keys are often the sandbox's own.
                    yield rule.name, RuleMatch(command, *match.span(), severity=MEDIUM)
                elif rule.name == "data_sent_out" and only_local(match[0]):
                    continue  # posting a fixture to the app under development
                else:
                    yield rule.name, RuleMatch(command, *match.span())
        if (
            "sql_destructive" in self.rules
            and not call.commands
            and _SQL_TOOL.search(call.step.tool)
        ):
            sql = next(r for r in RULES if r.name == "sql_destructive")
            for text in call.texts:
                for expression in sql.command:
                    for match in re.finditer(expression, text.value, re.I):
                        yield sql.name, RuleMatch(text, *match.span())
        if len(self._sets["added"][0]):
            for edit in call.edits:
                if edit.field is not None:
                    yield from self._added(edit.field, edit.field.value, 0, edit.path, edit.added)
            # A here-document written to a file adds its body to that file.
            for doc in call.heredocs:
                if doc.target:
                    yield from self._added(doc.field, doc.body, doc.start, doc.target)
        has = {
            "edits": bool(call.edits),
            "commands": bool(call.commands),
            "reads": bool(call.reads),
        }
        has["touched"] = bool(call.touched)
        has["paths"] = any(
            path in self.watched_paths or self._outside(path, context) for path, *_ in call.touched
        )
        has["any"] = has["commands"] or has["touched"] or bool(call.code)
        for name, needs, check in self._custom:
            if has[needs]:
                for finding in check(call, context):
                    yield name, finding

    def _added(
        self,
        field: Field,
        text: str,
        offset: int,
        path: str,
        within: list[tuple[int, int]] | None = None,
    ) -> Iterator[tuple[str, RuleMatch]]:
        """The rules over added lines that match ``text``, the lines ``path`` gains (found at
        ``offset`` in ``field``; only the ``within`` spans of it, when given)."""
        regexes, owners = self._sets["added"]
        for index, match in regexes.finditer(text):
            if within is not None and not inside(match.start(), within):
                continue
            rule = owners[index]
            if rule.name == "test_environment_detected" and path in self.test_paths:
                continue
            start, end = offset + match.start(), offset + match.end()
            yield rule.name, RuleMatch(field, start, end, detail=f"in {path}")

    def _hits(self, step: ScanStep, rule: Rule, findings: list[RuleMatch]) -> list[Hit]:
        score = self.p.scores.get(rule.name, rule.score)
        severity = self.p.severities.get(rule.name)
        hits: list[Hit] = []
        for finding in _merge(findings):
            start, end = locate(step, finding.field, finding.start, finding.end)
            if any(hit.start == start and hit.end == end for hit in hits):
                continue
            value = finding.field.value if finding.field else ""
            quoted = " ".join(value[finding.start : finding.end].split())
            if len(quoted) > 160:
                quoted = quoted[:157] + "..."
            detail = f" ({finding.detail})" if finding.detail else ""
            rationale = f'{rule.rationale}{detail} [{rule.name}: "{quoted}"]'
            hit_score = finding.score if finding.score is not None else score
            hit_severity = severity or finding.severity or rule.severity
            hits.append(
                Hit(
                    step.index,
                    start,
                    end,
                    hit_score,
                    rule.category,
                    rationale,
                    rule.name,
                    hit_severity,
                )
            )
        return hits


_SQL_TOOL = re.compile(r"sql|query|database|\bdb\b|psql|mysql", re.I)
_NON_LOCAL_DB = re.compile(
    r"\$\{?\w*(?:PROD|STAGING|STAGE|PRODUCTION|LIVE|REMOTE)\w*|@(?!localhost\b|127\.)[\w.-]+\.\w+"
    r"|\s-h\s*(?!localhost\b|127\.)[\w.-]+\.\w+",
    re.I,
)


def _merge(findings: list[RuleMatch]) -> list[RuleMatch]:
    """Overlapping findings of one rule in one string become one."""
    merged: list[RuleMatch] = []
    for finding in sorted(findings, key=lambda f: (id(f.field), f.start, -f.end)):
        last = merged[-1] if merged else None
        if last is not None and last.field is finding.field and finding.start < last.end:
            score = max(s for s in (last.score, finding.score, -1.0) if s is not None)
            severity = max(s for s in (last.severity, finding.severity, 0) if s is not None)
            merged[-1] = RuleMatch(
                last.field,
                last.start,
                max(last.end, finding.end),
                last.detail or finding.detail,
                None if score < 0 else score,
                severity or None,
            )
        else:
            merged.append(finding)
    return merged


DEFAULT: dict[str, Any] = {
    "name": "Tool actions",
    "kind": ToolActionKind.name,
    "params": msgspec.to_builtins(ToolActionParams()),
    "category": "overreach",
    "severity": 3,
    "step_kinds": ["tool_call"],
    "enabled": True,
}
