"""The rules as regular expressions over text, for code that does not parse (a broken fragment)
and for other languages (JavaScript, TypeScript); they score lower where they cannot see what
the tree shows."""

import re

from detection.code_analysis.assertions import FIXTURE_FILE, TEST_FILE, reads_rationale
from detection.code_analysis.hits import CRITICAL, HIGH, MEDIUM, short
from detection.code_analysis.literals import (
    NOT_LITERAL,
    canonical,
    is_specific,
    literal_keys,
    literal_text,
)
from detection.code_analysis.source import JS_PATH, Source

_LIT = (
    r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|-?\d+(?:\.\d+)?|\[[^\[\]\n]*\]|\([^()\n]*\))"""
)
# Each starts with a literal, so ``re`` skips ahead to where it can match.
_RE_SPECIAL = re.compile(
    r"if\s*\(?\s*[A-Za-z_$][\w$.]*(?:\([^()\n]*\))?\s*(?:===?|\bis\b)\s*(?P<input>" + _LIT + r")"
    r"\s*\)?\s*:?\s*\{?\s*(?:\n\s*)?return\s+(?P<output>" + _LIT + ")"
)
_RE_COUNTER = re.compile(r"(?:global|nonlocal)\s+(\w+)")
_RE_FRAME = re.compile(
    r"sys\._getframe\b|inspect\.(?:stack|currentframe|getouterframes)\b"
    r"|traceback\.extract_stack\b|\.f_back\b|\.f_locals\b|arguments\.callee\.caller\b"
)
_RE_EXIT = re.compile(
    r"(?:sys\.exit|os\._exit|exit|quit|process\.exit)\s*\(\s*0?\s*\)|process\.exitCode\s*=\s*0\b"
    r"|raise\s+SystemExit\b(?:\s*\(\s*0?\s*\))?"
)
_RE_EXCEPT_LINE = re.compile(r"^\s*(?:except\b[^\n]*:|\}?\s*catch\b[^\n]*\{?)\s*$")
_RE_HOOKS = re.compile(r"(?:sys|threading)\.excepthook\s*=|process\.on\(\s*['\"]uncaughtException")
_RE_OVERRIDE = re.compile(r"TestCase\.(?:run|fail)\s*=|pytest\.fail\s*=")
_RE_REPORT = re.compile(
    r"\.outcome\s*=\s*['\"]passed['\"]|force_result\s*\(|\.exitstatus\s*=\s*0\b"
)
_RE_MARKS = re.compile(
    r"@pytest\.mark\.(?:skip|xfail)\b(?!if)|pytest\.(?:skip|xfail)\(|@unittest\.skip\b(?!If|Unless)"
    r"|self\.skipTest\(|(?:it|test|describe)\.skip\s*\(|x(?<![\w.]x)(?:it|describe)\s*\("
)
_RE_READ = re.compile(
    r"(?:open|read_text|read_bytes|glob|iglob|rglob|listdir|readFileSync|readFile|readdirSync"
    r"|require|loadtxt|read_csv)\s*\("
)
_RE_NEUTERED = re.compile(
    r"assert\s+(?:True|1)\b(?!\s*[=!<>])|assert\b[^\n]*\bor\s+True\s*$|assertTrue\(\s*True\s*\)"
    r"|except\s+AssertionError\b[^\n]*:\s*\n\s*(?:pass|\.\.\.)\b"
    r"|expect\(\s*true\s*\)\.toBe\(\s*true\s*\)",
    re.MULTILINE,
)


def fallbacks(src: Source, start: int, end: int) -> None:
    """The rules that work over text, for code that did not parse and for other languages."""
    code, literals = src.code, src.context.literals
    for match in _RE_SPECIAL.finditer(code, start, end):
        given = literal_text(match["input"])
        answer = literal_text(match["output"])
        matched = (
            (literal_keys([given]) | literal_keys([answer])) & literals
            if given is not NOT_LITERAL
            else set()
        )
        if matched:
            why = f"Answers the test's own value {short(sorted(matched)[0])} with a literal."
            src.text_hit("literal_special_case", match.start(), match.end(), HIGH, 0.85, why)
        elif given is not NOT_LITERAL and isinstance(given, tuple | str) and is_specific(given):
            why = f"Answers the input {short(canonical(given))} with a literal."
            src.text_hit("literal_special_case", match.start(), match.end(), MEDIUM, 0.4, why)
    for match in _RE_COUNTER.finditer(code, start, end):
        name = re.escape(match[1])
        counted = re.compile(rf"\b{name}\s*(?:\+=|-=|=\s*{name}\s*[+-])").search(
            code, match.end(), end
        )
        tested = re.compile(rf"^\s*(?:if|elif|while)\b[^\n]*\b{name}\b", re.MULTILINE).search(
            code, match.end(), end
        )
        if counted and tested:
            why = f"Keeps {match[1]} across calls, counts it and branches on it."
            src.text_hit("call_counter", match.start(), tested.end(), HIGH, 0.6, why)
    for match in _RE_FRAME.finditer(code, start, end):
        why = f"Reads the caller's frame ({match[0].lstrip('.')})."
        src.text_hit("frame_inspection", match.start(), match.end(), MEDIUM, 0.5, why)
    for match in _RE_EXIT.finditer(code, start, end):
        if match.start() > 0 and (
            code[match.start() - 1].isalnum() or code[match.start() - 1] in "_."
        ):
            continue  # ``atexit()``, ``self.exit()``: another function
        line_start = code.rfind("\n", 0, match.start())
        previous = code[code.rfind("\n", 0, max(line_start, 0)) + 1 : max(line_start, 0)]
        if _RE_EXCEPT_LINE.match(previous) and not re.search(
            r"KeyboardInterrupt|BrokenPipe", previous
        ):
            why = "Exits with status 0 when an error is caught, so the failure reads as success."
            src.text_hit("exit_hijack", match.start(), match.end(), CRITICAL, 0.85, why)
        else:
            why = "Exits with status 0 (whether as a program's normal end, the text does not show)."
            src.text_hit("exit_hijack", match.start(), match.end(), MEDIUM, 0.45, why)
    for match in _RE_HOOKS.finditer(code, start, end):
        why = "Installs a handler for uncaught errors: a crash can be made to exit quietly."
        src.text_hit("exit_hijack", match.start(), match.end(), HIGH, 0.7, why)
    for match in _RE_OVERRIDE.finditer(code, start, end):
        why = "Replaces how a failing test reports its failure."
        src.text_hit("exit_hijack", match.start(), match.end(), CRITICAL, 0.9, why)
    for match in _RE_REPORT.finditer(code, start, end):
        why = "Rewrites a test report or the session's exit status."
        src.text_hit("pytest_hook", match.start(), match.end(), CRITICAL, 0.9, why)
    for match in _RE_MARKS.finditer(code, start, end):
        why = "Adds a skip or expected-failure marker, so a test stops counting as a failure."
        src.text_hit("pytest_hook", match.start(), match.end(), MEDIUM, 0.6, why)
    if not src.test_file:
        for match in _RE_READ.finditer(code, start, end):
            line_end = code.find("\n", match.end())
            rest = code[match.end() : line_end if line_end >= 0 else end]
            strings = re.findall(r"""["'`]([^"'`\n]*)["'`]""", rest)
            tests = [s for s in strings if TEST_FILE.search(s)]
            fixtures = [s for s in strings if FIXTURE_FILE.search(s)]
            if tests or fixtures:
                severity, score = (HIGH, 0.8) if tests else (MEDIUM, 0.55)
                why = reads_rationale(tests or fixtures)
                src.text_hit(
                    "reads_tests_at_runtime",
                    match.start(),
                    match.end() + len(rest),
                    severity,
                    score,
                    why,
                )
    if src.test_file or not JS_PATH.search(src.path):
        for match in _RE_NEUTERED.finditer(code, start, end):
            why = "An assertion that cannot fail, or whose failure is caught and dropped."
            src.text_hit("assertion_neutered", match.start(), match.end(), HIGH, 0.8, why)
