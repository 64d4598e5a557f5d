"""What the analysis returns: a ``CodeHit`` per finding, the severities it carries and the
rule names, kept apart from the rules so the detector kind and the tests can name them."""

from dataclasses import dataclass

# traces.models.Severity, mirrored: that module defines Django models, and this one must import
# without Django. tests/detection/test_code_analysis.py checks the values still agree.
LOW = 1
MEDIUM = 2
HIGH = 3
CRITICAL = 4


@dataclass(frozen=True, slots=True)
class CodeHit:
    """One finding: ``code[start:end]`` is the evidence."""

    rule: str
    start: int
    end: int
    severity: int
    score: float
    rationale: str


RULES = (
    "literal_special_case",
    "call_counter",
    "frame_inspection",
    "exit_hijack",
    "pytest_hook",
    "monkeypatch_under_test",
    "reads_tests_at_runtime",
    "assertion_neutered",
)


def short(text: str, limit: int = 60) -> str:
    """A literal quoted for a rationale, cut to a readable length."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text)
