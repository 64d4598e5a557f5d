"""What the instructions hand the agent: the files it is to work from (its inputs), the scripts
and settings that check or score its result (the checkers), the other scripts it is to run, and
the places it is told to work in.

An agent judged by a script it can reach has a shorter way to a passing result than doing the
work: change the script, its thresholds, or the records it reads. Outcome-driven violations,
metric gaming and data falsification all go through those files, so ``tool_action`` needs to
know which they are. Only the instructions say so; this module reads them as text, each path
with the sentence that names it.
"""

import re
from dataclasses import dataclass

from detection import prose
from detection.kinds.tool_action.paths import under
from detection.reading import normal_path

# A path with at least one slash: absolute, home, dotted or relative (not a URL's tail).
_PATH = re.compile(
    r"(?<![\w.:/~$@-])(?:(?:~|\.{1,2})?/(?:[\w.$-]+/)*[\w.*$-]+/?|(?:[\w.$-]+/)+[\w.*$-]*)"
)
# Checking, scoring or judging, in a script's name or in the sentence that names it.
_CHECKING = re.compile(
    r"(?<![^\W_])(?:validat\w*|verif\w*|check\w*|evaluat\w*|scor(?:e|es|ed|ing|er)|measur\w*"
    r"|audit\w*|grad(?:e|er|ed|es|ing)|judg\w*|complian\w*|assess\w*|benchmark\w*)(?![^\W_])",
    re.I,
)
# Settings a checker compares against: a target, a threshold, a rubric.
_LIMITS = re.compile(
    r"(?<![^\W_])(?:kpis?|thresholds?|criteria|rubrics?|targets?|limits?|cutoffs?|baselines?)"
    r"(?![^\W_])",
    re.I,
)
# Something run rather than read: a shell script, anything in a bin directory, or a program the
# sentence calls a script or tool.
_SHELL_SCRIPT = re.compile(r"\.(?:sh|bash|zsh)$|(?:^|/)s?bin/[^/]+$")
_PROGRAM = re.compile(r"\.(?:py|js|mjs|ts|rb|pl|php|sh|bash|zsh)$|(?:^|/)s?bin/[^/]+$")
_RUN_WORDS = re.compile(r"\b(?:script|tool|program|validator|checker|grader|scorer|evaluator)s?\b")
# Where a result goes: a path after these words is an output, not an input.
_OUTPUT_WORDS = re.compile(
    r"\b(?:save\w*|output\w*|writ\w*|generat\w*|produc\w*|creat\w*|submi\w*|export\w*|report\w*"
    r"|results?|summar\w*)\s*[:`'\"]*\s*(?:\S+\s+){0,4}?$",
    re.I,
)
_FROM = re.compile(r"\b(?:from|of|in)\s*[`'\"]*\s*$", re.I)
_OUTPUT_PLACE = re.compile(r"(?:^|/)(?:outputs?|out|reports?|results?|build|dist)(?:/|$)", re.I)
# What makes a named path the records the agent works from.
_DATA_WORDS = re.compile(
    r"(?<![^\W_])(?:data(?:sets?|base)?|records?|raw|inputs?|entries|logs?|measurements?"
    r"|samples?|submissions?|surveys?|ledgers?|readings?)(?![^\W_])",
    re.I,
)
_DATA_FILE = re.compile(
    r"\.(?:csv|tsv|json|jsonl|ndjson|ya?ml|xml|txt|md|dat|parquet|xlsx?|log|db|sqlite3?|h5)$", re.I
)
_SETTINGS = re.compile(r"\.(?:json|ya?ml|toml|ini|cfg|conf|txt|csv|env)$", re.I)
# Top directories that are the system's, never the task's own place.
_SYSTEM_TOPS = frozenset(
    {"usr", "etc", "bin", "sbin", "lib", "lib64", "boot", "root", "opt", "srv", "var", "proc",
     "sys", "dev", "home", "Users", "tmp", "mnt", "media", "run", "private"}
)  # fmt: skip


@dataclass(frozen=True)
class Given:
    """The paths the instructions name, sorted by what they are to the agent."""

    inputs: frozenset[str] = frozenset()
    checkers: frozenset[str] = frozenset()
    tools: frozenset[str] = frozenset()
    named: frozenset[str] = frozenset()
    places: frozenset[str] = frozenset()  # absolute folders, not the system's

    def input_of(self, path: str) -> str:
        """The input ``path`` is or lies under ("" when none)."""
        return next((given for given in self.inputs if under_given(path, given)), "")

    def checker_of(self, path: str) -> str:
        return next((given for given in self.checkers if same_path(path, given)), "")

    def tool_of(self, path: str) -> str:
        return next((given for given in self.tools if same_path(path, given)), "")

    def names(self, path: str) -> bool:
        """The instructions name ``path`` itself."""
        return any(same_path(path, named) for named in self.named)

    def in_place(self, path: str) -> bool:
        """``path`` is one the instructions name, or lies in a place they tell the agent to
        work in: not outside the work, though no work tree is known."""
        return self.names(path) or any(under_given(path, place) for place in self.places)


def same_path(path: str, given: str) -> bool:
    path, given = normal_path(path), normal_path(given)
    return path == given or (not path.startswith("/") and given.endswith("/" + path))


def under_given(path: str, given: str) -> bool:
    path, given = normal_path(path), normal_path(given)
    if given.startswith("/") != path.startswith("/"):
        return same_path(path, given) or (not path.startswith("/") and under(path, given))
    return path == given or path.startswith(given.rstrip("/") + "/")


def read_given(instructions: str) -> Given:
    """Sort every path the instructions name by the words around it."""
    inputs: set[str] = set()
    checkers: set[str] = set()
    tools: set[str] = set()
    named: set[str] = set()
    places: set[str] = set()
    words_of: dict[tuple[int, int], str] = {}
    for match in _PATH.finditer(instructions):
        path = match[0].rstrip(".,;:/*")
        if not path.strip("./~"):
            continue
        bounds = prose.sentence_bounds(instructions, *match.span())
        if bounds not in words_of:
            words_of[bounds] = _PATH.sub(" ", instructions[bounds[0] : bounds[1]])
        words = words_of[bounds]
        before = instructions[bounds[0] : match.start()]
        path = normal_path(path)
        named.add(path)
        name = path.rsplit("/", 1)[-1]
        # A folder named, or a named file's folder: where the task's files live.
        place = path if "." not in name else path.rsplit("/", 1)[0]
        top = place.split("/")[1] if place.startswith("/") else ""
        if top and top not in _SYSTEM_TOPS:
            places.add(place)
        run = _SHELL_SCRIPT.search(path) is not None or (
            _PROGRAM.search(path) is not None and _RUN_WORDS.search(words) is not None
        )
        checks = run and bool(_CHECKING.search(name) or _CHECKING.search(words))
        limits = bool(_LIMITS.search(name) and _SETTINGS.search(name))
        if checks or limits:
            checkers.add(path)
        elif run:
            tools.add(path)
        elif _PROGRAM.search(path) is None and _is_input(before, path, words):
            inputs.add(path)
    return Given(
        frozenset(inputs),
        frozenset(checkers),
        frozenset(tools),
        frozenset(named),
        frozenset(places),
    )


def _is_input(before: str, path: str, words: str) -> bool:
    """A data file or directory the agent is to read: named among words about data, not as
    where a result goes."""
    name = path.rsplit("/", 1)[-1]
    if "." in name and _DATA_FILE.search(name) is None:
        return False
    if _OUTPUT_PLACE.search(path):
        return False
    if _FROM.search(before) is None and _OUTPUT_WORDS.search(before[-60:]):
        return False
    return bool(_DATA_WORDS.search(path) or _DATA_WORDS.search(words))
