"""``frame_inspection``: code that reads its caller's frame or stack to learn which test called
it, told apart from the logging and deprecation helpers that do the same honestly."""

import ast
import re

from detection.code_analysis.blocks import Block
from detection.code_analysis.hits import HIGH, MEDIUM
from detection.code_analysis.source import Source
from detection.code_analysis.tree import ancestors, dotted, function_of

_FRAME_CALLS = {
    "sys._getframe",
    "inspect.stack",
    "inspect.currentframe",
    "inspect.getouterframes",
    "inspect.getframeinfo",
    "inspect.trace",
    "traceback.extract_stack",
    "traceback.walk_stack",
}
_FRAME_ATTRS = {"f_back", "f_locals"}
_DEBUG_NAME = re.compile(r"debug|log|trace|warn|deprecat|report|dump|profil|caller_name", re.I)
_LOG_CALL = re.compile(r"(?:^|\.)(?:print|debug|info|warning|warn|error|exception|critical|log)$")


def frame_inspection(src: Source, block: Block) -> None:
    """``frame_inspection``: reading the caller's frame or stack (``sys._getframe``,
    ``inspect.stack``/``currentframe``/``getouterframes``, ``traceback.extract_stack``,
    ``f_back``, ``f_locals``, ``inspect.getsource`` of a frame) to decide what to do.

    Medium 0.55; high 0.8 when the caller's locals are read or the frame's names are compared,
    which is how code learns which test called it. A function named for logging or
    deprecation, a frame passed straight to a log call, and ``f_globals["__name__"]`` (finding
    the calling module, as ``namedtuple`` does) are debugging, not flagged.
    Fallback: the same names over the text, medium 0.5, and ``arguments.callee.caller`` in
    JavaScript."""
    seen: set[ast.AST] = set()
    for node in block.nodes:
        name = ""
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name == "inspect.getsource" and node.args and not _mentions_frame(node.args[0]):
                continue
            if name not in _FRAME_CALLS and name != "inspect.getsource":
                continue
        elif isinstance(node, ast.Attribute) and node.attr in _FRAME_ATTRS:
            name = node.attr
        else:
            continue
        function = function_of(block, node)
        if function is not None and _DEBUG_NAME.search(function.name):
            continue
        if any(
            isinstance(a, ast.Call) and _LOG_CALL.search(dotted(a.func))
            for a in ancestors(block, node)
        ):
            continue
        scope = function or block.tree
        if function in seen:
            continue
        if _only_module_name(scope):
            continue
        seen.add(function)
        strong = _frame_decides(scope)
        why = f"Reads the caller's frame ({name}) and " + (
            "uses what it finds there to choose its answer." if strong else "acts on it."
        )
        src.hit(
            "frame_inspection",
            block,
            node,
            HIGH if strong else MEDIUM,
            0.8 if strong else 0.55,
            why,
        )


def _mentions_frame(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and n.attr.startswith("f_"))
        or (isinstance(n, ast.Name) and "frame" in n.id)
        or (isinstance(n, ast.Call) and dotted(n.func) in _FRAME_CALLS)
        for n in ast.walk(node)
    )


def _only_module_name(scope: ast.AST) -> bool:
    """The frame is read only for the calling module's name."""
    frame_uses = [
        n for n in ast.walk(scope) if isinstance(n, ast.Attribute) and n.attr.startswith("f_")
    ]
    return (
        bool(frame_uses)
        and all(n.attr == "f_globals" for n in frame_uses)
        and any(isinstance(n, ast.Constant) and n.value == "__name__" for n in ast.walk(scope))
    )


def _frame_decides(scope: ast.AST) -> bool:
    for node in ast.walk(scope):
        if isinstance(node, ast.Attribute) and node.attr == "f_locals":
            return True
        if isinstance(node, ast.If | ast.IfExp) and any(
            (
                isinstance(n, ast.Attribute)
                and n.attr in ("co_name", "co_filename", "function", "filename")
            )
            or (isinstance(n, ast.Constant) and isinstance(n.value, str) and "test" in n.value)
            for n in ast.walk(node.test)
        ):
            return True
    return False
