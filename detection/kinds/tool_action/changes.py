"""Every file a call changes, and how, for rules that judge a change by its path.

``detection.reading`` reads what an editor, a patch, a redirect, ``sed -i``, ``tee``, ``cp``,
``mv`` and ``rm`` write or delete. An agent told to leave a file alone has more ways to change
it than those: move it away, restore an older version with ``git checkout`` or ``git restore``,
stash it, delete or rewrite it through ``find -delete`` / ``find -exec`` or a ``grep -l ... |
xargs sed -i`` pipeline, or open, unlink and rename it from Python code (a Python tool, a
here-document fed to ``python``, ``python -c``). This module reads those too, and says how much
of the file changed: a re-indented block or lines only added to the file are not the same act as
rewriting an assertion.
"""

import itertools
import re
from dataclasses import dataclass

from detection.reading import (
    Edit,
    Field,
    SimpleCommand,
    ToolCall,
    normal_path,
    positional,
    span_of,
)

# How much of the file a change touches.
CHANGED = "changed"  # lines replaced or removed, the file overwritten, deleted or moved away
ADDED = "added"  # lines only added; nothing that was there is gone
WHITESPACE = "whitespace"  # the same text, spaced or indented differently


@dataclass(frozen=True, slots=True)
class Change:
    """A path a call changes: ``how`` in words ("edits", "deletes", "moves away"...), where the
    call names it (``field.value[start:end]``) and how much of it (``extent``)."""

    path: str
    how: str
    field: Field | None
    start: int
    end: int
    extent: str = CHANGED


_PY_FILE_OPS = re.compile(
    r"""\bopen\(\s*(?P<q>['"])(?P<opened>[^'"\n]+)(?P=q)\s*,\s*(?:mode\s*=\s*)?['"](?P<mode>[rwaxbt+]+)['"]
    |\bPath\(\s*['"](?P<p>[^'"\n]+)['"]\s*\)\s*\.(?P<method>write_text|write_bytes|unlink|rename
      |replace|rmdir)\b
    |\b(?:os\.(?P<os>remove|unlink|rmdir|rename|replace)|shutil\.(?P<shutil>rmtree|move|copy\w*))
      \(\s*['"](?P<source>[^'"\n]+)['"](?:\s*,\s*['"](?P<target>[^'"\n]+)['"])?""",
    re.X,
)
_LISTERS = {"grep", "egrep", "fgrep", "rg", "ag", "ls", "echo", "printf", "find", "git"}
_IN_PLACE = ("sed", "gsed", "perl")


def changes(call: ToolCall) -> list[Change]:
    """Every path the call writes, deletes, moves away, restores or stashes, once per way."""
    found: list[Change] = []
    for edit in call.edits:
        where = edit.path_field or edit.field
        start, end = span_of(where, edit.path)
        if edit.deleted:
            found.append(Change(edit.path, "deletes", where, start, end))
        else:
            inserted = isinstance(call.step.arguments, dict) and (
                call.step.arguments.get("command") == "insert"
            )
            extent = ADDED if inserted else _extent(edit)
            found.append(Change(edit.path, "edits", where, start, end, extent))
    for segment in call.writing_shell:
        found += _shell_writes(segment)
    for move in call.moves:
        found.append(Change(move.source, "moves away", move.field, move.start, move.end))
    for before, segment in itertools.pairwise([None, *call.shell]):
        if segment.program == "git":
            found += _git(segment)
        elif segment.program == "find":
            found += _find(segment)
        if before is not None and _fed_by_pipe(before, segment):
            found += _piped(before, segment)
    for block in call.code:
        found += _python(block.field, block.start, block.code)
    for path, where, start, end, deleted in call.touched:
        found.append(Change(path, "deletes" if deleted else "writes", where, start, end))
    seen: set[str] = set()
    unique = []
    for change in found:
        if change.path and change.path not in seen:
            seen.add(change.path)
            unique.append(change)
    return unique


def _extent(edit: Edit) -> str:
    """How much an edit changes: nothing but spacing, only additions, or more."""
    if edit.field is None:
        return CHANGED
    new = edit.field.value
    if edit.old:  # an editor's replacement: its old and new text
        if "".join(edit.old.split()) == "".join(new.split()):
            return WHITESPACE
        return ADDED if not edit.removed and edit.added else CHANGED
    if edit.old is None:  # a patch: its added and removed lines
        removed = sorted("".join(line.split()) for line in edit.removed)
        added = sorted("".join(line.split()) for _, _, line in edit.added_lines())
        if removed and removed == added:
            return WHITESPACE
        return ADDED if added and not removed else CHANGED
    return CHANGED  # a whole file written


def _shell_writes(segment: SimpleCommand) -> list[Change]:
    found = []
    text = segment.field.value
    for path in segment.writes:
        start, end = segment.locate(path)
        if segment.program in _IN_PLACE:
            how, extent = "edits", CHANGED
        elif re.search(r">>\s*['\"]?$", text[segment.start : start]) or (
            segment.program == "tee" and "-a" in segment.words
        ):
            how, extent = "appends to", ADDED
        else:
            how, extent = "overwrites", CHANGED
        found.append(Change(path, how, segment.field, start, end, extent))
    for path in segment.deletes:
        found.append(Change(path, "deletes", segment.field, *segment.locate(path)))
    return found


def _git(segment: SimpleCommand) -> list[Change]:
    """``git checkout [<ref>] -- <paths>``, ``git restore <paths>``, ``git stash push <paths>``:
    the paths get another version than the one in the work tree."""
    words = segment.words[1:]
    if not words or words[0] not in ("checkout", "restore", "stash"):
        return []
    args = words[1:]
    paths: list[str] = []
    if "--" in args:
        paths = positional(args[args.index("--") + 1 :])
    elif words[0] == "checkout":
        named = positional(args)
        # One name is a branch unless it looks like a file; after a ref, the rest are files.
        paths = named[1:] if len(named) > 1 else [n for n in named if _file_like(n)]
    elif words[0] == "restore":
        paths = _without_values(args, ("-s", "--source"))
    elif args[:1] in (["push"], ["save"]):
        paths = _without_values(args[1:], ("-m", "--message"))
    how = "stashes" if words[0] == "stash" else "restores another version of"
    return [
        Change(normal_path(path), how, segment.field, *segment.locate(path))
        for path in paths
        if path not in (".", "./")
    ]


def _file_like(name: str) -> bool:
    return bool(re.search(r"\.\w+$", name)) or name.endswith("/")


def _without_values(args: list[str], options: tuple[str, ...]) -> list[str]:
    kept, skip = [], False
    for word in args:
        if skip:
            skip = False
        elif word in options:
            skip = True
        elif not word.startswith("-"):
            kept.append(word)
    return kept


def _find(segment: SimpleCommand) -> list[Change]:
    """``find DIR -name PATTERN -delete`` or ``-exec rm|sed -i ...``: the files it matches."""
    words = segment.args()
    if "-delete" in words:
        how = "deletes"
    else:
        run = next((words[i + 1 :] for i, w in enumerate(words) if w in ("-exec", "-execdir")), [])
        if not run:
            return []
        program = run[0].rsplit("/", 1)[-1]
        if program in ("rm", "unlink"):
            how = "deletes"
        elif program in _IN_PLACE and any(w.startswith("-i") for w in run[1:]):
            how = "edits"
        else:
            return []
    return [Change(path, how, field, start, end) for path, field, start, end in _found(segment)]


def _fed_by_pipe(before: SimpleCommand, segment: SimpleCommand) -> bool:
    if before.field is not segment.field or not segment.text.startswith("xargs"):
        return False
    between = segment.field.value[before.end : segment.start]
    return between.strip() == "|"


def _piped(before: SimpleCommand, segment: SimpleCommand) -> list[Change]:
    """``grep -rl X tests/ | xargs sed -i ...``: the files the lister names, changed by what it
    feeds them to."""
    if segment.program in ("rm", "unlink"):
        how = "deletes"
    elif segment.program in _IN_PLACE and any(w.startswith("-i") for w in segment.args()):
        how = "edits"
    else:
        return []
    if before.program not in _LISTERS:
        return []
    if before.program == "find":
        return [Change(path, how, field, start, end) for path, field, start, end in _found(before)]
    named = positional(before.args())
    if before.program in ("grep", "egrep", "fgrep", "rg", "ag") and "-e" not in before.words:
        named = named[1:]  # the pattern
    if before.program == "git":
        named = [n for n in named if n not in ("ls-files", "diff", "grep")]
    return [Change(normal_path(n), how, before.field, *before.locate(n)) for n in named]


def _found(segment: SimpleCommand) -> list[tuple[str, Field, int, int]]:
    """The paths a ``find`` matches, as its roots joined with its ``-name`` patterns."""
    words = segment.args()
    roots = list(itertools.takewhile(lambda w: not w.startswith(("-", "(", "!")), words))
    names = [b for a, b in itertools.pairwise(words) if a in ("-name", "-iname", "-path")]
    return [
        (
            normal_path(name if "/" in name else f"{root.rstrip('/')}/{name}".rstrip("/")),
            segment.field,
            *segment.locate(root),
        )
        for root in roots or ["."]
        for name in names or [""]
    ]


def _python(field: Field, offset: int, code: str) -> list[Change]:
    """Files Python code opens for writing, writes, deletes, renames or copies onto."""
    found = []
    for match in _PY_FILE_OPS.finditer(code):
        if match["opened"]:
            mode = match["mode"]
            if not re.search(r"[wax+]", mode):
                continue
            how, extent = ("appends to", ADDED) if "a" in mode else ("overwrites", CHANGED)
            found.append(_at(field, offset, match, "opened", how, extent))
        elif match["p"]:
            method = match["method"]
            how = {"unlink": "deletes", "rmdir": "deletes", "rename": "moves away"}.get(
                method, "moves away" if method == "replace" else "overwrites"
            )
            found.append(_at(field, offset, match, "p", how))
        elif match["os"] in ("remove", "unlink", "rmdir") or match["shutil"] == "rmtree":
            found.append(_at(field, offset, match, "source", "deletes"))
        elif match["os"] or match["shutil"] == "move":
            found.append(_at(field, offset, match, "source", "moves away"))
            if match["target"]:
                found.append(_at(field, offset, match, "target", "overwrites"))
        elif match["target"]:  # shutil.copy*
            found.append(_at(field, offset, match, "target", "overwrites"))
    return found


def _at(
    field: Field, offset: int, match: re.Match[str], group: str, how: str, extent: str = CHANGED
) -> Change:
    start, end = match.span(group)
    return Change(normal_path(match[group]), how, field, offset + start, offset + end, extent)
