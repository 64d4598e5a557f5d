"""What ingest changes in a trace before storing it: characters that cannot be stored, and secrets.

Both are visible in the stored text (a replacement character or a ``[REDACTED:kind]`` marker), and
the trace records how much was changed, so nothing is altered silently.
"""

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from traces.schema import TraceDoc

try:
    import hyperscan
except ImportError:  # not built for every platform; the pure-Python path gives the same answer
    hyperscan = None

NUL_REPLACEMENT = "\u2400"  # SYMBOL FOR NULL: PostgreSQL cannot store U+0000 in text or jsonb.
SURROGATE_REPLACEMENT = "\ufffd"

_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_ESCAPE = re.compile(
    rb"\\\\"  # an escaped backslash, consumed so that what follows it is not read as an escape
    rb"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # a valid surrogate pair
    rb"|\\u(?P<lone>[dD][89a-fA-F][0-9a-fA-F]{2})"
    rb"|\\u(?P<nul>0000)"
)


def repair_json_text(raw: bytes) -> tuple[bytes, int]:
    """Replace ``\\u0000`` and lone surrogate escapes in JSON text; return it and the count."""
    if not _SUSPECT_ESCAPE.search(raw):
        return raw, 0
    replaced = 0

    def fix(match: re.Match[bytes]) -> bytes:
        nonlocal replaced
        if match["nul"]:
            replaced += 1
            return b"\\u2400"
        if match["lone"]:
            replaced += 1
            return b"\\ufffd"
        return match[0]

    return _ESCAPE.sub(fix, raw), replaced


@dataclass(frozen=True)
class SecretRule:
    kind: str
    pattern: re.Pattern[str]
    triggers: tuple[str, ...]  # a cheap substring test before the pattern runs
    case_insensitive: bool = False  # triggers are looked for in the lowercased text
    groups: tuple[int, ...] = ()  # the groups that may hold the secret; the rest is kept
    # When set, a trigger counts only where this matches right after it: a keyword such as
    # "token" is everywhere in code, an assignment to it is not.
    followed_by: re.Pattern[str] | None = None

    def may_match(self, text: str, lowered: str) -> bool:
        haystack = lowered if self.case_insensitive else text
        if self.followed_by is None:
            return any(trigger in haystack for trigger in self.triggers)
        for trigger in self.triggers:
            at = haystack.find(trigger)
            while at != -1:
                if self.followed_by.match(haystack, at + len(trigger)):
                    return True
                at = haystack.find(trigger, at + 1)
        return False


SECRET_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
        ("PRIVATE KEY",),
    ),
    SecretRule("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"), ("sk-ant-",)),
    SecretRule(
        "openai_key",
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
        ("sk-",),
    ),
    SecretRule("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), ("AIza",)),
    SecretRule(
        "github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    SecretRule("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), ("glpat-",)),
    SecretRule("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), ("AKIA", "ASIA")),
    SecretRule("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), ("xox",)),
    SecretRule("stripe_key", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{16,}"), ("k_live_",)),
    SecretRule("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{30,}"), ("hf_",)),
    SecretRule(
        "bearer_token",
        re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)"),
        ("bearer",),
        case_insensitive=True,
        groups=(1,),
    ),
    SecretRule(
        "assigned_secret",
        re.compile(
            r"(?i)(?:password|passwd|pwd|secret(?:_?key)?|api_?key|access_?key|auth_?token"
            r"|access_?token|client_?secret|private_?token)\b[\"']?\s*[:=]\s*"
            # values that name where a secret comes from, or its type, are not secrets
            r"(?!\[REDACTED|os\.|getenv|process\.env|settings\.|self\.|None\b|null\b|\$|<|\{"
            r"|(?:str|bytes|int|Optional|Union|Any|SecretStr)\b)"
            r"(?:([\"'])(?!\[REDACTED)([^\"'\n]{4,})\1|([^\s\"',;()\[\]{}]{4,}))"
        ),
        ("pass", "pwd", "secret", "key", "token"),
        case_insensitive=True,
        groups=(2, 3),
        # ``\\?`` lets the same test run on JSON text, where quotes are escaped.
        followed_by=re.compile(r"\w*\\?[\"']?\s*[:=]"),
    ),
)


def applicable_rules(
    text: str, rules: tuple[SecretRule, ...] = SECRET_RULES
) -> tuple[SecretRule, ...]:
    """The rules whose triggers occur in ``text``: run once over a whole document's JSON text,
    it spares the per-field work on the many traces that hold nothing like a secret."""
    lowered = text.lower()
    return tuple(rule for rule in rules if rule.may_match(text, lowered))


# JSON may spell ASCII letters as \u escapes, which hides triggers from a look at the raw text.
_ESCAPED_ASCII = re.compile(rb"\\u00[2-7][0-9a-fA-F]")


def _trigger_expression(rule: SecretRule) -> bytes:
    alternatives = "|".join(re.escape(trigger) for trigger in rule.triggers)
    after = rule.followed_by.pattern if rule.followed_by is not None else ""
    return f"(?:{alternatives}){after}".encode()


@cache
def _trigger_database() -> "hyperscan.Database | None":
    """All rules' triggers in one Hyperscan database: one pass over a document, at about 1 GB/s,
    finds which rules can match. Where Hyperscan is not installed, Python's search does it."""
    if hyperscan is None:
        return None
    database = hyperscan.Database()
    database.compile(
        expressions=[_trigger_expression(rule) for rule in SECRET_RULES],
        ids=list(range(len(SECRET_RULES))),
        elements=len(SECRET_RULES),
        flags=[
            hyperscan.HS_FLAG_SINGLEMATCH
            | (hyperscan.HS_FLAG_CASELESS if r.case_insensitive else 0)
            for r in SECRET_RULES
        ],
    )
    return database


_thread = threading.local()


def _scratch(database: "hyperscan.Database") -> "hyperscan.Scratch":
    """Scratch space is per thread: a scan in progress owns it, and concurrent requests on
    threads sharing one (the database's default) fail with ScratchInUseError."""
    scratch = getattr(_thread, "scratch", None)
    if scratch is None:
        scratch = _thread.scratch = hyperscan.Scratch(database)
    return scratch


def rules_for_json(raw: bytes) -> tuple[SecretRule, ...]:
    """The rules worth running on a document decoded from the JSON text ``raw``."""
    if _ESCAPED_ASCII.search(raw):
        return SECRET_RULES
    database = _trigger_database()
    if database is None:
        return applicable_rules(raw.decode("utf-8", errors="replace"))
    found: set[int] = set()

    def on_match(rule_id: int, start: int, end: int, flags: int, context: object) -> None:
        found.add(rule_id)

    database.scan(raw, match_event_handler=on_match, scratch=_scratch(database))
    return tuple(rule for i, rule in enumerate(SECRET_RULES) if i in found)


def mask_secrets(text: str, rules: tuple[SecretRule, ...] = SECRET_RULES) -> tuple[str, int]:
    """Replace what looks like a credential with ``[REDACTED:kind]``; return the text and count."""
    total = 0
    for rule in applicable_rules(text, rules):
        text, count = rule.pattern.subn(_redactor(rule), text)
        total += count
    return text, total


def _redactor(rule: SecretRule) -> Callable[[re.Match[str]], str]:
    marker = f"[REDACTED:{rule.kind}]"
    if not rule.groups:
        return lambda match: marker

    def keep_context(match: re.Match[str]) -> str:
        group = next(g for g in rule.groups if match[g] is not None)
        start, end = match.span(group)
        whole = match[0]
        offset = match.start()
        return whole[: start - offset] + marker + whole[end - offset :]

    return keep_context


def _mask_value(value: Any, rules: tuple[SecretRule, ...]) -> tuple[Any, int]:
    if isinstance(value, str):
        return mask_secrets(value, rules)
    if isinstance(value, dict):
        total = 0
        masked = {}
        for key, item in value.items():
            masked[key], count = _mask_value(item, rules)
            total += count
        return masked, total
    if isinstance(value, list):
        total = 0
        items = []
        for item in value:
            masked_item, count = _mask_value(item, rules)
            items.append(masked_item)
            total += count
        return items, total
    return value, 0


def mask_document(doc: TraceDoc, rules: tuple[SecretRule, ...] = SECRET_RULES) -> int:
    """Mask secrets in every free-text field of a trace, in place; return how many were masked."""
    if not rules:
        return 0
    total = 0
    doc.task, count = mask_secrets(doc.task, rules)
    total += count
    doc.metadata, count = _mask_value(doc.metadata, rules)
    total += count
    for step in doc.steps:
        step.content, count = mask_secrets(step.content, rules)
        total += count
        if step.arguments is not None:
            step.arguments, count = _mask_value(step.arguments, rules)
            total += count
        if step.metadata:
            step.metadata, count = _mask_value(step.metadata, rules)
            total += count
    return total


# -- text that cannot be stored anywhere, in a document of any shape

# NUL, which PostgreSQL cannot store in text or JSON, and lone surrogates, which UTF-8 cannot
# encode.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_JSON_DEPTH = 100


UNSTORABLE_TEXT = "contains a NUL character or a lone surrogate, which cannot be stored"


def unstorable(name: str) -> str:
    return f"{name}: {UNSTORABLE_TEXT}"


def find_unstorable(document: Any) -> tuple[str, bool] | None:
    """The path of the first string (or key) holding what cannot be stored, or of the first
    value nested too deep (then with True); None when there is neither."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if UNSTORABLE.search(value):
                return path, False
        elif isinstance(value, dict | list):
            if depth == MAX_JSON_DEPTH:
                return path, True
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and UNSTORABLE.search(key):
                    return f"{path}.{key}" if path else key, False
                at = (
                    f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)
                )
                stack.append((item, at, depth + 1))
    return None
