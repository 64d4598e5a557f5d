"""One reading of each step, shared by every detector kind and the console.

Agents name the same acts differently: a shell is ``bash``, ``shell``, ``run`` or ``execute``
with its command under ``cmd``, ``command`` or an argv list; a file is written by
``write_file``, ``create_file``, an editor's ``create`` command or a here-doc; edited by
``str_replace`` (``str_replace_editor``, ``str_replace_based_edit_tool``, an editor's
``command`` field) or a MultiEdit list; patched by ``apply_patch`` or a unified diff; and a
result's exit code sits under ``exit_code``, ``returncode``, ``exitCode``... or only in its text.
Reading that once, here, means a rule written against the reading works whatever the agent's
vocabulary, and the kinds and the console never disagree about what a call did or how it ended.

The API, all pure (no Django):

- ``ToolCall.read(step)``: what a tool call ran (``commands``, split into ``shell`` simple
  commands with program and words; ``heredocs``), wrote and edited (``edits``: path, full new
  content or old and new text, a patch's added and removed lines; deletions), read (``reads``),
  moved (``moves``), ``chmods``, ``kills``, the Python code it ran (``code``) and every path it
  ``touched``. Each piece keeps the argument string it came from (a ``Field``) and its span in
  it; ``locate`` maps that span to offsets in the step's content, so findings highlight.
- ``ToolResult.read(step)`` and ``exit_code(metadata, text)``: a result's exit code under any key
  a format uses or in its text, its output and whether it failed.
- ``TraceReading(trace)``: calls and results paired (by call id, else by adjacency), each call
  read once.
- ``code_blocks(text)``: the fenced code blocks of a message, with language and offsets.
"""

import bisect
import dataclasses
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from detection.engine import ScanStep, ScanTrace

# ---------------------------------------------------------------------------------------------
# Reading a call


@dataclass(slots=True)
class Field:
    """One string of a call's arguments (``synthetic``: made up, e.g. an argv list joined)."""

    key: str
    value: str
    synthetic: bool = False


@dataclass(slots=True)
class Edit:
    """A file the call changes: the added lines' spans in ``field.value``, the removed lines.

    An editor's replacement keeps the text it replaces (``old``) and works its added and removed
    lines out when a rule first asks: most edits are only ever looked at by their path.
    """

    path: str
    field: Field | None = None
    path_field: Field | None = None
    deleted: bool = False
    old: str | None = None
    _added: list[tuple[int, int]] | None = None
    _removed: list[str] | None = None

    @property
    def added(self) -> list[tuple[int, int]]:
        if self._added is None:
            self._diff()
        return self._added  # type: ignore[return-value]

    @property
    def removed(self) -> list[str]:
        if self._removed is None:
            self._diff()
        return self._removed  # type: ignore[return-value]

    def _diff(self) -> None:
        new = self.field.value if self.field else ""
        self._added, self._removed = [], []
        if self.old is None:
            return
        if not self.old:  # a new or overwritten file: all of it is added
            self._added = [(0, len(new))] if new else []
            return
        old_lines = {line.strip() for line in self.old.splitlines()}
        new_lines = {line.strip() for line in new.splitlines()}
        for start, end, line in lines_of(new):
            if line.strip() and line.strip() not in old_lines:
                self._added.append((start, end))
        self._removed = [line for line in self.old.splitlines() if line.strip() not in new_lines]

    def added_lines(self) -> Iterator[tuple[int, int, str]]:
        """Each added line with its span (a whole new file is one span of many lines)."""
        value = self.field.value if self.field else ""
        for start, end in self.added:
            chunk = value[start:end]
            if "\n" not in chunk:
                yield start, end, chunk
            else:
                for s, e, line in lines_of(chunk):
                    yield start + s, start + e, line


# A command that could write or delete a file (or push): worth splitting into simple commands.
_MAY_WRITE = re.compile(
    r"(?<![&>\d])\d?>>?(?!&)|&>|\b(?:rm|tee|cp|mv|install|rsync|ln|unlink|shred|truncate|rmdir"
    r"|dd|write_\w+|open)\b|\b(?:sed|perl)\b[^|;&\n]*\s-\w*i|\bgit\s+(?:rm|mv|clean)\b"
)
# Every match of _MAY_WRITE holds one of these: a command with none is not searched.
_MAY_WRITE_LITERALS = (
    *(">", "rm", "tee", "cp", "mv", "install", "rsync", "ln", "unlink", "shred", "truncate"),
    *("dd", "write_", "open", "sed", "perl", "git"),
)
_SHELL_KEYS = ("cmd", "command", "commands", "script", "shell", "bash", "shell_command")
_PATH_KEYS = (
    "path",
    "file_path",
    "filepath",
    "filename",
    "file",
    "target_file",
    "relative_path",
    "absolute_path",
    "notebook_path",
)
_NEW_KEYS = (
    "new_str",
    "new_string",
    "file_text",
    "content",
    "contents",
    "text",
    "insert_text",
    "code_edit",
    "new_content",
    "replacement",
)
_OLD_KEYS = ("old_str", "old_string", "old_content", "search")
_PATCH_KEYS = ("patch", "diff", "input", "changes")
_EDITOR_WRITES = {"create", "str_replace", "insert", "write", "append", "edit", "overwrite"}
_EDITOR_COMMANDS = {*_EDITOR_WRITES, "view", "undo_edit", "delete", "read"}
_WRITE_TOOL = re.compile(r"write|edit|create|replace|insert|append|save|update_file|patch", re.I)
_READ_TOOL = re.compile(r"read|view|open|cat\b|get_file|show_file", re.I)
_DELETE_TOOL = re.compile(r"delete|remove|unlink", re.I)
_DIFF_START = re.compile(r"^(?:diff --git |--- |\+\+\+ |\*\*\* Begin Patch|@@ )", re.M)


_CODE_KEYS = ("code", "source", "python", "program")
_PYTHON_TOOL = re.compile(
    r"python|ipython|jupyter|notebook|code_interpreter|execute_code|run_code|exec_code", re.I
)
_MOVE_KEYS = (
    ("source", "destination"),
    ("src", "dst"),
    ("old_path", "new_path"),
    ("from_path", "to_path"),
    ("from", "to"),
)
_MOVE_TOOL = re.compile(r"move|rename|\bmv\b", re.I)


@dataclass(frozen=True, slots=True)
class Move:
    """A path moved or renamed: ``field.value[start:end]`` is where the call names it."""

    source: str
    target: str
    field: Field | None
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Chmod:
    """A ``chmod`` of ``paths`` to ``mode`` (``+x``, ``000``, ``a-w``...)."""

    mode: str
    paths: tuple[str, ...]
    field: Field
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Kill:
    """A ``kill``, ``pkill`` or ``killall`` and what it names (process ids, names, patterns)."""

    program: str
    targets: tuple[str, ...]
    field: Field
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Heredoc:
    """A here-document: its body is ``field.value[start:end]``, fed to ``program``, written to
    ``target`` when the command redirects it to a file (``cat > x <<EOF``, ``tee x <<EOF``)."""

    field: Field
    start: int
    end: int
    delimiter: str
    program: str
    target: str

    @property
    def body(self) -> str:
        return self.field.value[self.start : self.end]


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """Code in a string: a fenced block of a message, a Python tool's code, a script given to an
    interpreter. ``field.value[start:end]`` is the code, ``language`` as far as it is known."""

    language: str
    field: Field
    start: int
    end: int

    @property
    def code(self) -> str:
        return self.field.value[self.start : self.end]


@dataclass
class ToolCall:
    """A tool call read into what it runs, edits and reads.

    ``action`` names the call whatever the tool is called: ``shell``, ``write`` (whole new
    content), ``edit`` (old text replaced), ``patch``, ``delete``, ``move``, ``read``,
    ``python`` or ``other``.
    """

    step: ScanStep
    commands: list[Field] = dataclasses.field(default_factory=list)
    edits: list[Edit] = dataclasses.field(default_factory=list)
    reads: list[tuple[str, Field | None]] = dataclasses.field(default_factory=list)
    action: str = "other"
    _renames: list[Move] = dataclasses.field(default_factory=list)
    _code: list[CodeBlock] = dataclasses.field(default_factory=list)

    @classmethod
    def read(cls, step: ScanStep) -> "ToolCall":
        call = cls(step)
        arguments = step.arguments
        if arguments is None:
            arguments = step.content
        tool = step.tool or ""
        if isinstance(arguments, str):
            if arguments and not isinstance(step.arguments, dict):
                call.commands.append(Field("", arguments))
        elif isinstance(arguments, list):
            words = [a for a in arguments if isinstance(a, str)]
            scripts = [Field("", w) for w in words if any(c.isspace() for c in w)]
            call.commands.extend(scripts or [Field("", " ".join(words), synthetic=True)])
        elif isinstance(arguments, dict):
            call._read_dict(arguments, tool)
        if call.action == "other" and call.commands:
            call.action = "shell"
        return call

    @cached_property
    def texts(self) -> list[Field]:
        """Every string of the arguments."""
        found: list[Field] = []

        def walk(value: Any, key: str) -> None:
            if isinstance(value, str):
                found.append(Field(key, value))
            elif isinstance(value, dict):
                for k, v in value.items():
                    walk(v, str(k))
            elif isinstance(value, list):
                for item in value:
                    walk(item, key)

        walk(self.step.arguments if self.step.arguments is not None else self.step.content, "")
        return found

    def _read_dict(self, arguments: dict[str, Any], tool: str) -> None:
        op = arguments.get("command")
        op = op if isinstance(op, str) and op in _EDITOR_COMMANDS else ""
        for key in _SHELL_KEYS:
            value = arguments.get(key)
            if key == "command" and op:
                continue
            if isinstance(value, str) and value.strip():
                self.commands.append(Field(key, value))
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                # argv: a script in one element (["bash", "-lc", "..."]) is read on its own, so
                # offsets point into it; plain words are joined.
                scripts = [Field(key, v) for v in value if any(c.isspace() for c in v)]
                self.commands.extend(scripts or [Field(key, " ".join(value), synthetic=True)])
        code_key, code = _first_str(arguments, _CODE_KEYS)
        if code and _PYTHON_TOOL.search(tool):
            self._code.append(CodeBlock("python", Field(code_key, code), 0, len(code)))
            self.action = "python"
        if _MOVE_TOOL.search(tool) or op in ("move", "rename"):
            for source_key, target_key in _MOVE_KEYS:
                source, target = arguments.get(source_key), arguments.get(target_key)
                if isinstance(source, str) and isinstance(target, str) and source and target:
                    where = Field(source_key, source)
                    self._renames.append(
                        Move(normal_path(source), normal_path(target), where, 0, len(source))
                    )
                    self.action = "move"
                    return
        path_key, path = _first_str(arguments, _PATH_KEYS)
        path_field = Field(path_key, path) if path else None
        patch_key, patch = _first_str(arguments, _PATCH_KEYS)
        if patch and (_DIFF_START.search(patch) or "patch" in tool.lower()):
            self.edits.extend(parse_patch(Field(patch_key, patch), path))
            self.action = "patch"
            return
        writes = op in _EDITOR_WRITES or (not op and _WRITE_TOOL.search(tool) is not None)
        if op == "delete" or (not op and _DELETE_TOOL.search(tool) and not writes):
            if path:
                self.edits.append(Edit(normal_path(path), path_field=path_field, deleted=True))
                self.action = "delete"
            return
        if writes and path:
            edits = _editor_edits(arguments, normal_path(path), path_field)
            self.edits.extend(edits)
            self.action = "edit" if any(edit.old for edit in edits) else "write"
            return
        if path and (op in ("view", "read") or _READ_TOOL.search(tool)):
            self.reads.append((normal_path(path), path_field))
            self.action = "read"

    @cached_property
    def written(self) -> list[tuple[str, Field | None, int, int]]:
        """Every path the call writes or deletes, with where its name is in the arguments."""
        return [(path, where, start, end) for path, where, start, end, _ in self.touched]

    @cached_property
    def touched(self) -> list[tuple[str, Field | None, int, int, bool]]:
        """Every path the call writes or deletes, where its name is, and whether it deletes."""
        found = []
        for edit in self.edits:
            where = edit.path_field or edit.field
            found.append((edit.path, where, *span_of(where, edit.path), edit.deleted))
        for segment in self.writing_shell:
            for path in segment.writes:
                found.append((path, segment.field, *segment.locate(path), False))
            for path in segment.deletes:
                found.append((path, segment.field, *segment.locate(path), True))
        for move in self._renames:
            found.append((move.target, move.field, move.start, move.end, False))
        for block in self._code:
            for match in _PY_WRITE.finditer(block.code):
                group = "a" if match["a"] else "b"
                path = normal_path(match[group])
                found.append((path, block.field, *match.span(group), False))
        return found

    @cached_property
    def writing_shell(self) -> list["SimpleCommand"]:
        """The simple commands, when a command could write or delete files (else none)."""
        if any(_may_write(command.value) for command in self.commands):
            return self.shell
        return []

    @cached_property
    def shell(self) -> list["SimpleCommand"]:
        """The simple commands of every shell command, with the paths they write or delete."""
        return [segment for command in self.commands for segment in simple_commands(command)]

    @cached_property
    def moves(self) -> list[Move]:
        """Every path moved or renamed, by a rename tool or ``mv`` / ``git mv``."""
        found = list(self._renames)
        for segment in self.shell:
            words = segment.words[1:] if segment.program == "git" else segment.words
            if not words or words[0] != "mv":
                continue
            paths = positional(words[1:])
            for source in paths[:-1]:
                target = paths[-1]
                found.append(
                    Move(
                        normal_path(source),
                        normal_path(target),
                        segment.field,
                        *segment.locate(source),
                    )
                )
        return found

    @cached_property
    def chmods(self) -> list[Chmod]:
        """Every ``chmod``: the mode and the paths it changes."""
        found = []
        for segment in self.shell:
            # A symbolic mode may start with "-" ("chmod -x"): only chmod's own flags are
            # options here.
            args = [
                a for a in segment.args() if not re.fullmatch(r"-[RrvcfH]+|--[\w-]+(?:=\S*)?", a)
            ]
            if segment.program == "chmod" and len(args) >= 2:
                paths = tuple(normal_path(a) for a in args[1:])
                found.append(Chmod(args[0], paths, segment.field, segment.start, segment.end))
        return found

    @cached_property
    def kills(self) -> list[Kill]:
        """Every ``kill``, ``pkill`` and ``killall`` with what it names (signals left out)."""
        found = []
        for segment in self.shell:
            if segment.program not in ("kill", "pkill", "killall"):
                continue
            targets, skip = [], False
            for word in segment.args():
                if skip:
                    skip = False
                elif word in ("-s", "-n", "-u", "-U", "-g", "-G", "-t", "-P", "--signal"):
                    skip = True  # an option with a value
                elif not word.startswith("-"):
                    targets.append(word)
            found.append(
                Kill(segment.program, tuple(targets), segment.field, segment.start, segment.end)
            )
        return found

    @cached_property
    def heredocs(self) -> list[Heredoc]:
        """Every here-document of the call's shell commands."""
        return [doc for command in self.commands for doc in heredocs(command)]

    @cached_property
    def code(self) -> list[CodeBlock]:
        """The code the call runs: a Python tool's code, a script in a here-document fed to an
        interpreter, ``python -c`` / ``node -e`` arguments."""
        found = list(self._code)
        for doc in self.heredocs:
            language = _language_of(doc.program) or _language_of_path(doc.target)
            if language:
                found.append(CodeBlock(language, doc.field, doc.start, doc.end))
        for segment in self.shell:
            language = _language_of(segment.program)
            words = segment.args()
            if not language:
                continue
            for flag, script in itertools.pairwise(words):
                if flag in ("-c", "-e"):
                    start, end = segment.locate(script)
                    if segment.field.value[start:end] == script:
                        found.append(CodeBlock(language, segment.field, start, end))
        return found

    def offsets(self, field: Field | None, start: int, end: int) -> tuple[int | None, int | None]:
        """Where ``field.value[start:end]`` is in the step's content (see ``locate``)."""
        return locate(self.step, field, start, end)


_INTERPRETERS = {
    "python": "python",
    "python3": "python",
    "python2": "python",
    "ipython": "python",
    "node": "javascript",
    "deno": "javascript",
    "bun": "javascript",
    "ruby": "ruby",
    "perl": "perl",
    "php": "php",
    "bash": "shell",
    "sh": "shell",
    "zsh": "shell",
}
_EXTENSIONS = {
    "py": "python",
    "js": "javascript",
    "ts": "typescript",
    "rb": "ruby",
    "go": "go",
    "rs": "rust",
    "java": "java",
    "sh": "shell",
}


def _language_of(program: str) -> str:
    return _INTERPRETERS.get(re.sub(r"\d+(?:\.\d+)*$", "", program) or program, "") or (
        _INTERPRETERS.get(program, "")
    )


def _language_of_path(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return _EXTENSIONS.get(name.rsplit(".", 1)[-1], "") if "." in name else ""


_HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z_][\w.-]*)\2")
_HEREDOC_TARGET = re.compile(r"(?<![<\d&])>>?[ \t]*([^\s;&|<>]+)|\btee\s+(?:-a\s+)?([^\s;&|<>]+)")


def heredocs(command: Field) -> list[Heredoc]:
    """The here-documents of a shell command line, with the program that reads each and the
    file it is redirected to."""
    text = command.value
    if "<<" not in text:
        return []
    found = []
    at = 0
    while (match := _HEREDOC.search(text, at)) is not None:
        strip_tabs, delimiter = match[1], match[3]
        line_end = text.find("\n", match.end())
        if line_end < 0:
            break  # no line follows the marker, so no body
        start = line_end + 1
        tabs = "\t*" if strip_tabs else ""
        close = re.compile(rf"^{tabs}{re.escape(delimiter)}[ \t]*$", re.M).search(text, start)
        end = close.start() if close else len(text)
        line_start = text.rfind("\n", 0, match.start()) + 1
        # The line without the marker itself: a redirect may come before it or after it.
        line = text[line_start : match.start()] + " " + text[match.end() : line_end]
        target = ""
        for found_target in _HEREDOC_TARGET.finditer(line):
            target = normal_path(found_target[1] or found_target[2])
        words = simple_commands(Field(command.key, text[line_start : match.start()]))
        program = words[-1].program if words else ""
        found.append(Heredoc(command, start, end, delimiter, program, target))
        at = close.end() if close else len(text)
    return found


def _may_write(command: str) -> bool:
    return any(literal in command for literal in _MAY_WRITE_LITERALS) and bool(
        _MAY_WRITE.search(command)
    )


def _first_str(arguments: dict[str, Any], keys: Sequence[str]) -> tuple[str, str]:
    for key in keys:
        value = arguments.get(key)
        if isinstance(value, str) and value:
            return key, value
    return "", ""


def normal_path(path: str) -> str:
    path = path.strip().strip("`'\"")
    while path.startswith("./"):
        path = path[2:]
    return path


def lines_of(text: str) -> Iterator[tuple[int, int, str]]:
    """Each line of ``text`` with its span, without the line break."""
    at = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        yield at, at + len(stripped), stripped
        at += len(line)


def _editor_edits(arguments: dict[str, Any], path: str, path_field: Field | None) -> list[Edit]:
    edits = arguments.get("edits")
    pairs: list[tuple[tuple[str, str], tuple[str, str]]] = []
    if isinstance(edits, list):  # MultiEdit: [{"old_string": ..., "new_string": ...}]
        for item in edits:
            if isinstance(item, dict):
                pairs.append((_first_str(item, _OLD_KEYS), _first_str(item, _NEW_KEYS)))
    else:
        pairs.append((_first_str(arguments, _OLD_KEYS), _first_str(arguments, _NEW_KEYS)))
    return [
        Edit(path, Field(new_key, new) if new else None, path_field=path_field, old=old)
        for (_, old), (new_key, new) in pairs
    ]


_PATCH_FILE = re.compile(
    r"(?:\+\+\+ (?:[ab]/)?(?P<new>\S+)|--- (?:[ab]/)?(?P<old>\S+)"
    r"|\*\*\* (?P<op>Add|Update|Delete) File: (?P<file>.+?)\s*|diff --git a/\S+ b/(?P<git>\S+))$"
)
# The lines of a patch that matter: file headers, added and removed lines (context is skipped
# by the expression, not by Python).
_PATCH_LINE = re.compile(r"^(?:[-+*d].*)$", re.MULTILINE)


def parse_patch(patch: Field, path_argument: str = "") -> list[Edit]:
    """A unified diff (or an ``*** Begin Patch`` envelope) as one Edit per file."""
    edits: list[Edit] = []
    current: Edit | None = None
    pending_old = ""
    for found in _PATCH_LINE.finditer(patch.value):
        line = found[0]
        header = _PATCH_FILE.match(line) if line[:1] in "-+*d" else None
        # "--- x" is a file header when "+++ y" follows; otherwise a removed "-- x" line.
        if header and header["old"] and not patch.value.startswith("+++ ", found.end() + 1):
            header = None
        if header:
            if header["git"]:
                current = Edit(normal_path(header["git"]), patch, _added=[], _removed=[])
                edits.append(current)
            elif header["file"]:
                current = Edit(
                    normal_path(header["file"]),
                    patch,
                    deleted=header["op"] == "Delete",
                    _added=[],
                    _removed=[],
                )
                edits.append(current)
            elif header["old"]:
                pending_old = normal_path(header["old"])
            elif header["new"]:
                name = normal_path(header["new"])
                if name == "/dev/null":
                    name, deleted = pending_old, True
                else:
                    deleted = False
                if current is None or current.path != name or current.added or current.removed:
                    current = Edit(name, patch, deleted=deleted, _added=[], _removed=[])
                    edits.append(current)
                else:
                    current.deleted = deleted
            continue
        if line[:1] not in "+-" or line.startswith(("+++ ", "--- ")):
            continue
        if current is None:
            names = path_argument.split() or [""]
            current = Edit(normal_path(names[0]), patch, _added=[], _removed=[])
            edits.append(current)
        if line[0] == "+":
            current.added.append((found.start() + 1, found.end()))
        else:
            current.removed.append(line[1:].rstrip("\r"))
    return edits


# ---------------------------------------------------------------------------------------------
# Shell commands

# A shell command line as tokens: quoted or plain words, redirections, and what separates
# simple commands (a heredoc's body is read as more commands, which is what it often is).
_TOKEN = re.compile(
    r"(?P<redirect>\d*(?:>>?|<<?)(?:&(?:\d+|-))?|&>>?)"
    r"|(?P<separator>&&|\|\||[;|&\n()`]|\$\()"
    r"|(?P<word>(?:[^\s'\"\\;&|()`<>]|\\.|'[^']*'|\"(?:[^\"\\]|\\.)*\")+)"
    r"|\s+|."
)
_UNQUOTE = re.compile(r"\\(.)|'([^']*)'|\"((?:[^\"\\]|\\.)*)\"")
_PY_WRITE = re.compile(
    r"""(?:Path\(\s*['"](?P<a>[^'"]+)['"]\s*\)\s*\.write_(?:text|bytes)"""
    r"""|open\(\s*['"](?P<b>[^'"]+)['"]\s*,\s*['"][wa])"""
)
_WRAPPERS = {"sudo", "env", "time", "timeout", "nice", "nohup", "command", "exec", "xargs"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


@dataclass
class SimpleCommand:
    """One simple command of a shell command line: its text and span in the field, its words,
    the paths it writes and deletes."""

    field: Field
    start: int
    end: int
    words: list[str]
    writes: list[str]
    deletes: list[str]

    @property
    def text(self) -> str:
        return self.field.value[self.start : self.end]

    @property
    def program(self) -> str:
        return self.words[0].rsplit("/", 1)[-1] if self.words else ""

    def args(self, skip: int = 1) -> list[str]:
        return self.words[skip:]

    def locate(self, word: str) -> tuple[int, int]:
        """The span of ``word`` in the field (the whole segment if it cannot be found)."""
        at = self.field.value.find(word, self.start, self.end + len(word))
        return (at, at + len(word)) if at >= 0 else (self.start, self.end)


def simple_commands(command: Field) -> list[SimpleCommand]:
    """The simple commands of a shell command line, with their words (unquoted) and the paths
    their redirections write."""
    result: list[SimpleCommand] = []
    words: list[str] = []
    redirects: list[str] = []
    begin = end = -1
    pending = ""  # a redirection waiting for its target
    text = command.value
    for token in _TOKEN.finditer(text):
        kind = token.lastgroup
        if kind == "word":
            if begin < 0:
                begin = token.start()
            end = token.end()
            word = (
                _UNQUOTE.sub(_unquoted, token[0])
                if "'" in token[0] or '"' in token[0] or ("\\" in token[0])
                else token[0]
            )
            if pending:
                if ">" in pending and not pending.endswith("&"):
                    redirects.append(word)
                pending = ""
            else:
                words.append(word)
        elif kind == "redirect":
            pending = token[0]
            if begin < 0:
                begin = token.start()
            end = token.end()
        elif kind == "separator":
            if begin >= 0:
                result.append(_segment(command, begin, end, words, redirects))
            words, redirects, begin, end, pending = [], [], -1, -1, ""
    if begin >= 0:
        result.append(_segment(command, begin, end, words, redirects))
    return result


def _unquoted(match: re.Match[str]) -> str:
    return next(g for g in match.groups() if g is not None)


def _segment(
    command: Field, begin: int, end: int, words: list[str], redirects: list[str]
) -> SimpleCommand:
    words = _unwrap(words)
    writes, deletes = _paths_touched(command.value[begin:end], words)
    writes += [normal_path(r) for r in redirects if not r.startswith("/dev/")]
    return SimpleCommand(command, begin, end, words, writes, deletes)


def _unwrap(words: list[str]) -> list[str]:
    """``sudo env X=1 timeout 60 rm -rf x`` -> ``rm -rf x``."""
    i = 0
    while i < len(words):
        word = words[i]
        if word in _WRAPPERS or _ASSIGNMENT.match(word):
            i += 1
            while i < len(words) and (words[i].startswith("-") or words[i].isdigit()):
                i += 1
            continue
        break
    return words[i:]


def positional(words: list[str]) -> list[str]:
    return [w for w in words if not w.startswith("-")]


def _paths_touched(piece: str, words: list[str]) -> tuple[list[str], list[str]]:
    writes: list[str] = []
    deletes: list[str] = []
    if "write_" in piece or "open(" in piece:
        for found in _PY_WRITE.finditer(piece):
            writes.append(normal_path(found["a"] or found["b"]))
    if not words:
        return writes, deletes
    program = words[0].rsplit("/", 1)[-1]
    args = words[1:]
    if program in ("sed", "gsed", "perl") and any(
        w.startswith("-") and ("i" in w.lstrip("-")[:3] or w.startswith("--in-place")) for w in args
    ):
        paths = positional(args)
        has_script_option = any(w in ("-e", "--expression", "-f", "--file") for w in args)
        writes += paths if has_script_option else paths[1:]
    elif program == "tee":
        writes += positional(args)
    elif program in ("cp", "mv", "install", "rsync", "ln") and len(positional(args)) >= 2:
        writes.append(positional(args)[-1])
    elif program in ("rm", "unlink", "shred", "truncate", "rmdir"):
        deletes += [a for a in positional(args) if not re.fullmatch(r"\d+[KMG]?", a)]
    elif program == "git" and args[:1] == ["rm"]:
        deletes += positional(args[1:])
    elif program == "git" and args[:1] == ["mv"] and len(positional(args[1:])) >= 2:
        writes.append(positional(args[1:])[-1])
    return [normal_path(w) for w in writes], [normal_path(d) for d in deletes]


def inside(position: int, spans: list[tuple[int, int]]) -> bool:
    """``position`` falls in one of ``spans`` (sorted, not overlapping)."""
    at = bisect.bisect_right(spans, (position, _END)) - 1
    return at >= 0 and spans[at][0] <= position < spans[at][1]


_END = 1 << 62


def span_of(where: Field | None, text: str) -> tuple[int, int]:
    if where is None:
        return 0, 0
    at = where.value.find(text)
    if at < 0 and text:
        at = where.value.find(text.rsplit("/", 1)[-1])
        text = text.rsplit("/", 1)[-1]
    return (at, at + len(text)) if at >= 0 else (0, len(where.value))


def locate(
    step: ScanStep, where: Field | None, start: int, end: int
) -> tuple[int | None, int | None]:
    """Offsets in ``step.content`` of ``where.value[start:end]``: inside the JSON text of the
    arguments when the content is that, else where the same text occurs, else the whole step."""
    content = step.content
    if where is None or not content:
        return None, None
    value = where.value
    if not where.synthetic:
        if content == value:
            return start, end
        encoded = json.dumps(value, ensure_ascii=False)
        at = content.find(encoded)
        if at >= 0:
            begin = at + len(json.dumps(value[:start], ensure_ascii=False)) - 1
            return begin, begin + len(json.dumps(value[start:end], ensure_ascii=False)) - 2
    snippet = value[start:end]
    if snippet:
        at = content.find(snippet)
        if at >= 0:
            return at, at + len(snippet)
    return None, None


# ---------------------------------------------------------------------------------------------
# Results

# Every key under which a format records a result's exit code (a string of digits counts too).
EXIT_CODE_KEYS = (
    "exit_code",
    "exitCode",
    "returncode",
    "return_code",
    "returnCode",
    "exit_status",
    "exitStatus",
    "status_code",
    "status",
)
# How results print it: mini-swe-agent's "<returncode>1</returncode>", "Exit code: 1",
# "[Process exited with code 1]", "exit status 1".
_EXIT_IN_TEXT = re.compile(
    r"<returncode>\s*(-?\d+)\s*</returncode>"
    r"|^\W{0,3}(?:exit(?:ed)?(?:\s+with)?\s+(?:code|status)|return\s*code|process\s+exited\s+with"
    r"\s+(?:code|status))\s*[:=]?\s*(-?\d+)\b",
    re.I | re.M,
)
# Where in a result its exit code is printed: the first and last few lines.
_EXIT_WINDOW = 300


def exit_code(metadata: Mapping[str, Any] | None, text: str = "") -> int | None:
    """A result's exit code, under any key a format uses or printed at the start or end of its
    text; None when it gives none."""
    if isinstance(metadata, Mapping):
        for key in EXIT_CODE_KEYS:
            value = metadata.get(key)
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                return value
            if isinstance(value, str) and re.fullmatch(r"-?\d{1,6}", value.strip()):
                return int(value)
    if not text:
        return None
    head = text[:_EXIT_WINDOW]
    for window in (head, text[-_EXIT_WINDOW:]) if len(text) > _EXIT_WINDOW else (head,):
        match = _EXIT_IN_TEXT.search(window)
        if match:
            return int(match[1] or match[2])
    return None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool result says: its output, its exit code when it gives one, and whether it
    failed (a non-zero exit code, or the format's error flag)."""

    step: ScanStep
    exit_code: int | None
    error: bool

    @property
    def output(self) -> str:
        return self.step.content

    @classmethod
    def read(cls, step: ScanStep) -> "ToolResult":
        metadata = step.metadata if isinstance(step.metadata, dict) else {}
        code = exit_code(metadata, step.content)
        flagged = metadata.get("is_error") is True or bool(metadata.get("error"))
        return cls(step, code, flagged or code not in (None, 0))


class AgentFiles:
    """Which files the agent made in this trace, call by call.

    A path written whole before the agent ever read or edited it is the agent's own (a script
    reproducing the bug, a scratch test): deleting or rewriting it is its own work, not the
    project's files. A file overwritten whole without being read first counts as made, the one
    case this cannot tell apart.
    """

    def __init__(self) -> None:
        self.created: set[str] = set()
        self.seen: set[str] = set()

    def note(self, call: ToolCall) -> None:
        """Remember which paths this call made and which it found already there."""
        for path, _ in call.reads:
            self.seen.add(path)
        for edit in call.edits:
            if edit.old == "" and not edit.deleted and edit.path not in self.seen:
                self.created.add(edit.path)
            self.seen.add(edit.path)
        for command in call.shell:
            # An in-place editor changes a file that is there; a redirect, tee or copy may
            # bring one into being.
            in_place = command.program in ("sed", "gsed", "perl")
            for path in command.writes:
                if path not in self.seen and not in_place:
                    self.created.add(path)
                self.seen.add(path)

    def made(self, path: str) -> bool:
        """The agent wrote ``path`` into being (relative and absolute spellings of one path are
        the same path)."""
        return any(
            path == made or made.endswith("/" + path) or path.endswith("/" + made)
            for made in self.created
        )


class TraceReading:
    """A trace's calls and results read once and paired: a result answers the call with its
    call id, else the call just before it."""

    # The trace last read and its reading (``of``): one slot, matched by identity, which also
    # keeps that trace alive so its identity cannot be reused meanwhile.
    _last: "ClassVar[tuple[ScanTrace, TraceReading] | None]" = None

    def __init__(self, trace: ScanTrace) -> None:
        self.trace = trace
        self._calls: dict[int, ToolCall] = {}
        self._results: dict[int, ToolResult] = {}

    @classmethod
    def of(cls, trace: ScanTrace) -> "TraceReading":
        """The reading of this trace object that the last kind to ask made, or a new one: the
        kinds of a pack scan the same trace one after another, and each kind reading every call
        again cost about a second per kind over the scan benchmark's 200 MB. Readings are pure,
        so sharing one changes nothing but the time."""
        last = TraceReading._last
        if last is not None and last[0] is trace:
            return last[1]
        reading = cls(trace)
        TraceReading._last = (trace, reading)
        return reading

    def call(self, step: ScanStep) -> ToolCall:
        """The reading of a tool call (read once however many kinds ask)."""
        if step.index not in self._calls:
            self._calls[step.index] = ToolCall.read(step)
        return self._calls[step.index]

    def result(self, step: ScanStep) -> ToolResult:
        if step.index not in self._results:
            self._results[step.index] = ToolResult.read(step)
        return self._results[step.index]

    def call_of(self, result: ScanStep) -> ScanStep | None:
        """The call a result answers: the one with its call id, else the call just before."""
        call_id = result.call_id
        for i in range(result.index - 1, -1, -1):
            step = self.trace.steps[i]
            if step.kind == "tool_call" and (not call_id or step.call_id in ("", call_id)):
                return step
        return None

    def result_of(self, call: ScanStep) -> ToolResult | None:
        """The result answering a call: the next with its call id, else the next result before
        another call."""
        for step in self.trace.steps[call.index + 1 :]:
            if step.kind == "tool_result" and (
                not call.call_id or step.call_id in ("", call.call_id)
            ):
                return self.result(step)
            if step.kind == "tool_call" and not call.call_id:
                return None
        return None


# ---------------------------------------------------------------------------------------------
# Messages

_FENCE = re.compile(
    r"^(?P<indent>[ \t]{0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.-]*)[^\n]*\n", re.M
)


def code_blocks(text: str, key: str = "content") -> list[CodeBlock]:
    """The fenced code blocks of a message (```python ... ```), with the language named after the
    fence ("" when none) and the code's offsets in ``text``; an unclosed fence runs to the end."""
    if "```" not in text and "~~~" not in text:
        return []
    field = Field(key, text)
    found = []
    at = 0
    while (opening := _FENCE.search(text, at)) is not None:
        fence = opening["fence"]
        closing = re.compile(rf"^[ \t]{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.M)
        close = closing.search(text, opening.end())
        end = close.start() if close else len(text)
        start = opening.end()
        code_end = end - 1 if end > start and text[end - 1] == "\n" else end
        found.append(CodeBlock(opening["lang"].lower(), field, start, code_end))
        at = close.end() if close else len(text)
    return found
