"""The ``tool_action`` kind: rules over what the agent did with its tools.

Reasoning can be hidden or absent; the calls are what happened. Each tool call is read (by
``detection.reading``) into what it runs (shell commands), what it edits (paths with added and
removed lines, from patches, editor calls and shell writes) and what it reads, and each rule looks
at one of those: test tampering (skip markers, weakened assertions, deleted tests, test and CI
configuration), forcing a zero exit code, destructive commands, reading or sending out
credentials, disabling safety checks, overreach (pushes to protected branches, infrastructure
changes, edits outside the work tree), instructions the user gave that the call breaks, and
gaming the outcome (changing the checker that scores the agent, or the records it was given).

A rule that the user's own instructions ask for ("mark those tests to skip on Windows", "push it
to main") does not fire, unless ``honour_requests`` is off. Hits point at the exact characters in
the step's content: a call stored with its arguments as pretty-printed JSON has its offsets
mapped into that JSON text.

The modules: ``paths`` (default globs, ``PathSet``), ``rules`` (the table), ``context`` (the
trace around a call), ``prohibitions`` (what the instructions forbid), ``given`` (the inputs,
checkers and places the instructions name), ``changes`` (every file a call changes, and how
much), ``checks`` (rules that need more than an expression), ``outcome`` (rules over the checker
and the given records), ``kind`` (the parameters and the scan).
"""

from detection.kinds.tool_action.kind import DEFAULT, ToolActionKind, ToolActionParams
from detection.kinds.tool_action.paths import PathSet, glob_expression
from detection.kinds.tool_action.rules import RULE_NAMES, RULES, Rule

__all__ = [
    "DEFAULT",
    "RULES",
    "RULE_NAMES",
    "PathSet",
    "Rule",
    "ToolActionKind",
    "ToolActionParams",
    "glob_expression",
]
