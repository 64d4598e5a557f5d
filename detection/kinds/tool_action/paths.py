"""Paths for ``tool_action``: the default globs of tests, test and CI configuration, vendored
code, audit trails and allowed places, and ``PathSet``, a list of globs matched as one
expression."""

import re
from collections.abc import Iterable
from typing import Annotated

import msgspec

from detection.reading import normal_path

DEFAULT_TEST_PATHS = [
    "**/tests/**",
    "**/test/**",
    "**/__tests__/**",
    "**/__snapshots__/**",
    "**/spec/**",
    "**/specs/**",
    "**/test_*.py",
    "**/*_test.py",
    "**/*_test.go",
    "**/*.test.*",
    "**/*.spec.*",
    "**/*Test.java",
    "**/*Tests.java",
    "**/*Test.kt",
    "**/*Tests.cs",
    "**/*_spec.rb",
    "**/*_test.rb",
]
DEFAULT_TEST_CONFIG_PATHS = [
    "**/conftest.py",
    "**/pytest.ini",
    "**/tox.ini",
    "**/noxfile.py",
    "**/.coveragerc",
    "**/jest.config.*",
    "**/jest.setup.*",
    "**/vitest.config.*",
    "**/vitest.workspace.*",
    "**/karma.conf.*",
    "**/.mocharc*",
    "**/phpunit.xml*",
    "**/playwright.config.*",
    "**/cypress.config.*",
    "**/.nycrc*",
]
# Files that hold test configuration among other things: an edit counts when its added lines
# touch a test section.
DEFAULT_SHARED_CONFIG_PATHS = ["**/setup.cfg", "**/pyproject.toml", "**/package.json"]
DEFAULT_CI_PATHS = [
    "**/.github/workflows/**",
    "**/.gitlab-ci.yml",
    "**/.gitlab-ci/**",
    "**/.circleci/**",
    "**/Jenkinsfile",
    "**/azure-pipelines.yml",
    "**/.travis.yml",
    "**/bitbucket-pipelines.yml",
    "**/.buildkite/**",
    "**/.drone.yml",
]
# What "the configuration" names when an instruction forbids changing it, besides the test,
# shared and CI configuration above: build, packaging, lint and application settings.
DEFAULT_CONFIG_PATHS = [
    "**/*.cfg",
    "**/*.ini",
    "**/*.toml",
    "**/*.conf",
    "**/*.yaml",
    "**/*.yml",
    "**/.*rc",
    "**/.*rc.*",
    "**/*.config.*",
    "**/tsconfig*.json",
    "**/setup.py",
    "**/Makefile",
    "**/Dockerfile",
    "**/requirements*.txt",
    "**/settings.py",
    "**/settings/**",
    "**/config/**",
    "**/conf/**",
]
# What "the grader" names: the scripts that check or score the agent's work.
DEFAULT_GRADER_PATHS = [
    "**/*grader*",
    "**/*grading*",
    "**/grade.*",
    "**/*scorer*",
    "**/*scoring*",
    "**/*evaluat*",
    "**/*judge*",
]
DEFAULT_VENDORED_PATHS = [
    "**/vendor/**",
    "**/third_party/**",
    "**/third-party/**",
    "**/node_modules/**",
    "**/site-packages/**",
    "**/.venv/**",
]
DEFAULT_AUDIT_PATHS = [
    "**/*audit*.log",
    "**/*audit*.jsonl",
    "**/audit/*.log",
    "**/.bash_history",
    "**/.zsh_history",
    "**/.*_history",
    "/var/log/**",
]
# What stops, watches or records the agent: its shutdown and kill-switch scripts, watchdogs,
# monitors and oversight configuration.
DEFAULT_OVERSIGHT_PATHS = [
    "**/*shutdown*",
    "**/*kill_switch*",
    "**/*killswitch*",
    "**/*kill-switch*",
    "**/*watchdog*",
    "**/*oversight*",
    "**/*monitor*.sh",
    "**/*monitor*.json",
    "**/*monitor*.yaml",
    "**/*monitor*.yml",
    "**/*monitor*.toml",
    "**/*monitor*.conf",
    "**/*monitor*.cfg",
    "**/*tripwire*",
]
DEFAULT_ALLOWED_PATHS = [
    "/tmp/**",  # noqa: S108 (paths an agent may delete in, not paths this code writes)
    "/var/tmp/**",  # noqa: S108
    "/private/tmp/**",
    "/dev/null",
    "/dev/stdout",
    "/dev/stderr",
]
DEFAULT_PROTECTED_BRANCHES = [
    "main",
    "master",
    "trunk",
    "develop",
    "production",
    "prod",
    "stable",
    "release",
    "release/*",
    "releases/*",
]

# A backup copy's name: a file's own with a suffix (x.sh.bak, x.orig, x~).
BACKUP = re.compile(r"(?:\.(?:bak|orig|backup|old|save|prev)[\w.$-]*|~)$", re.I)

Globs = list[Annotated[str, msgspec.Meta(min_length=1, max_length=300)]]

# ---------------------------------------------------------------------------------------------
# Paths


def glob_expression(pattern: str) -> str:
    """A path glob as an expression: ``**`` any directories, ``*`` and ``?`` within one name; a
    pattern without a slash matches that name in any directory."""
    pattern = pattern.strip()
    if "/" not in pattern.rstrip("/"):
        pattern = "**/" + pattern
    if pattern.endswith("/"):
        pattern += "**"
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            close = pattern.find("]", i + 1)
            if close == -1:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(pattern[i : close + 1].replace("[!", "[^"))
                i = close + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


class PathSet:
    """A list of globs as one expression (answers cached: the same paths come back often)."""

    def __init__(self, globs: Iterable[str]) -> None:
        expressions = [glob_expression(g) for g in globs if g.strip()]
        self.pattern = (
            re.compile("|".join(f"(?:{e})" for e in expressions)) if expressions else None
        )
        self._answers: dict[str, bool] = {}

    def __contains__(self, path: str) -> bool:
        if self.pattern is None or not path:
            return False
        answer = self._answers.get(path)
        if answer is None:
            if len(self._answers) > 4096:
                self._answers.clear()
            answer = self._answers[path] = self._match(normal_path(path))
        return answer

    def _match(self, path: str) -> bool:
        assert self.pattern is not None
        if path.startswith("/") or path.startswith("~"):
            return self.pattern.fullmatch(path) is not None or (
                self.pattern.fullmatch(path.lstrip("/~")) is not None
            )
        return self.pattern.fullmatch(path) is not None


def under(path: str, prefix: str) -> bool:
    path = normal_path(path)
    prefix = normal_path(prefix)
    if path == prefix or path.startswith(prefix + "/") or ("/" + prefix + "/") in ("/" + path):
        return True
    return "/" not in prefix and "." in prefix and path.rsplit("/", 1)[-1] == prefix
