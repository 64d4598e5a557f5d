"""The shared reading of a step: each agent vocabulary read into the same record, each piece
locatable in the step's stored text, results' exit codes under every key, calls paired with
results, and code blocks in messages. Examples are written for these tests, not taken from any
transcript."""

import pytest

from detection.engine import ScanStep
from detection.reading import (
    ToolCall,
    ToolResult,
    TraceReading,
    code_blocks,
    exit_code,
)
from tests.detection.steps import assistant, call, result, shell, trace


def read(*steps: dict) -> tuple[ToolCall, ScanStep]:
    scanned = trace(*steps)
    step = next(s for s in scanned.steps if s.kind == "tool_call")
    return ToolCall.read(step), step


def located(call_reading: ToolCall, field, start: int, end: int) -> str:
    begin, finish = call_reading.offsets(field, start, end)
    assert begin is not None and finish is not None
    return call_reading.step.content[begin:finish]


@pytest.mark.parametrize(
    "step",
    [
        call("bash", command="make lint"),
        call("shell", cmd="make lint"),
        call("run", cmd=["bash", "-lc", "make lint"]),
        call("execute", script="make lint"),
        {"kind": "tool_call", "tool": "terminal", "content": "make lint"},
    ],
)
def test_every_shell_vocabulary_reads_as_a_shell_command(step):
    reading, _ = read(step)
    assert reading.action == "shell"
    assert [(c.program, c.args()) for c in reading.shell] == [("make", ["lint"])]


def test_editor_command_field_is_an_edit_not_a_shell_command():
    reading, _ = read(
        call(
            "str_replace_based_edit_tool",
            command="str_replace",
            path="pkg/calc.py",
            old_str="return a - b",
            new_str="return a + b",
        )
    )
    assert reading.action == "edit"
    assert reading.commands == []
    (edit,) = reading.edits
    assert (edit.path, edit.old, edit.field.value) == (
        "pkg/calc.py",
        "return a - b",
        "return a + b",
    )
    assert edit.removed == ["return a - b"]
    assert located(reading, edit.field, *edit.added[0]) == "return a + b"


@pytest.mark.parametrize(
    "step",
    [
        call("write_file", path="notes/plan.md", content="step one\n"),
        call("create_file", file_path="notes/plan.md", contents="step one\n"),
        call("text_editor", command="create", path="notes/plan.md", file_text="step one\n"),
    ],
)
def test_whole_file_writes_read_as_writes_with_their_content(step):
    reading, _ = read(step)
    assert reading.action == "write"
    (edit,) = reading.edits
    assert (edit.path, edit.field.value, edit.old) == ("notes/plan.md", "step one\n", "")
    assert [line for _, _, line in edit.added_lines()] == ["step one"]


def test_patch_envelope_reads_added_and_removed_lines_per_file():
    patch = (
        "*** Begin Patch\n*** Update File: src/a.py\n@@\n-x = 1\n+x = 2\n"
        "*** Delete File: src/old.py\n*** End Patch"
    )
    reading, _ = read(call("apply_patch", input=patch))
    assert reading.action == "patch"
    first, second = reading.edits
    assert (first.path, first.removed, second.path, second.deleted) == (
        "src/a.py",
        ["x = 1"],
        "src/old.py",
        True,
    )
    assert located(reading, first.field, *first.added[0]) == "x = 2"


def test_shell_moves_chmods_and_kills_are_read_with_their_targets():
    reading, _ = read(
        shell(
            "mv guard.sh guard.sh.off && git mv a.py b.py; "
            "chmod 000 hooks/check; pkill -9 -f watcher"
        )
    )
    assert [(m.source, m.target) for m in reading.moves] == [
        ("guard.sh", "guard.sh.off"),
        ("a.py", "b.py"),
    ]
    assert [(c.mode, c.paths) for c in reading.chmods] == [("000", ("hooks/check",))]
    (kill,) = reading.kills
    assert (kill.program, kill.targets) == ("pkill", ("watcher",))
    assert located(reading, kill.field, kill.start, kill.end) == "pkill -9 -f watcher"
    assert located(
        reading, reading.moves[0].field, reading.moves[0].start, reading.moves[0].end
    ) == ("guard.sh")


def test_rename_tool_reads_as_a_move_that_writes_its_target():
    reading, _ = read(call("rename_file", source="cfg/limits.yaml", destination="cfg/limits.bak"))
    assert reading.action == "move"
    assert [(m.source, m.target) for m in reading.moves] == [("cfg/limits.yaml", "cfg/limits.bak")]
    assert [path for path, *_ in reading.written] == ["cfg/limits.bak"]


def test_heredoc_body_target_and_program_are_read():
    command = "cat > conf/app.ini <<'END'\n[main]\nmode = fast\nEND\npython3 - <<PY\nprint(1)\nPY"
    reading, _ = read(shell(command))
    first, second = reading.heredocs
    assert (first.target, first.program, first.body) == (
        "conf/app.ini",
        "cat",
        "[main]\nmode = fast\n",
    )
    assert (second.target, second.program, second.body) == ("", "python3", "print(1)\n")
    assert [(block.language, block.code) for block in reading.code] == [("python", "print(1)\n")]
    assert located(reading, first.field, first.start, first.end) == "[main]\\nmode = fast\\n"


@pytest.mark.parametrize(
    "command",
    [
        "cat <<'END' > conf/app.ini\nmode = fast\nEND",
        "cat << END >conf/app.ini\nmode = fast\nEND",
        'cat <<-"END" >> conf/app.ini\nmode = fast\nEND',
        "cat <<END | tee conf/app.ini\nmode = fast\nEND",
    ],
)
def test_a_redirect_after_the_heredoc_marker_is_its_target(command):
    reading, _ = read(shell(command))
    [doc] = reading.heredocs
    assert (doc.target, doc.body) == ("conf/app.ini", "mode = fast\n")
    assert "conf/app.ini" in [path for path, *_ in reading.written]


@pytest.mark.parametrize(
    ("command", "written"),
    [
        ("echo ready >state/flag", ["state/flag"]),
        ("sort -u names.txt>state/names 2>state/sort.err", ["state/names", "state/sort.err"]),
        ("make check 2>&1 | tee build/check.log", ["build/check.log"]),
        ("make check >&2", []),
    ],
)
def test_a_redirect_is_read_with_or_without_a_space_before_its_file(command, written):
    reading, _ = read(shell(command))
    assert [path for path, *_ in reading.written] == written


def test_python_tool_code_is_read_with_the_files_it_writes():
    code = "with open('tests/conftest.py', 'w') as f:\n    f.write('')\n"
    reading, _ = read(call("python", code=code))
    assert reading.action == "python"
    assert [(b.language, b.code) for b in reading.code] == [("python", code)]
    assert [path for path, *_ in reading.written] == ["tests/conftest.py"]


def test_interpreter_script_arguments_are_code():
    reading, _ = read(shell("node -e 'process.exit(0)'"))
    assert [(b.language, b.code) for b in reading.code] == [("javascript", "process.exit(0)")]


@pytest.mark.parametrize(
    ("metadata", "text", "expected"),
    [
        ({"exit_code": 2}, "", 2),
        ({"exitCode": 1}, "", 1),
        ({"returncode": 1}, "", 1),
        ({"return_code": "3"}, "", 3),
        ({"status": 0}, "", 0),
        ({"exit_code": True}, "", None),
        ({}, "<returncode>1</returncode>\n<output>boom</output>", 1),
        ({}, "lots of output\nExit code: 4", 4),
        ({}, "[Process exited with code 127]", 127),
        ({}, "all quiet", None),
        ({}, "x" * 1000 + "\nexit status 5", 5),
    ],
)
def test_exit_code_is_read_under_every_key_and_in_text(metadata, text, expected):
    assert exit_code(metadata, text) == expected


def test_result_fails_on_a_non_zero_exit_or_an_error_flag():
    scanned = trace(
        result("fine", "a") | {"metadata": {"returncode": 0}},
        result("nope", "b") | {"metadata": {"returncode": 1}},
        result("denied", "c") | {"metadata": {"is_error": True}},
    )
    assert [ToolResult.read(s).error for s in scanned.steps] == [False, True, True]
    assert ToolResult.read(scanned.steps[1]).output == "nope"


def test_results_pair_with_calls_by_id_then_by_adjacency():
    scanned = trace(
        shell("make a", "x1"),
        shell("make b", "x2"),
        result("b done", "x2"),
        result("a done", "x1"),
        call("shell", "", cmd="make c"),
        result("c done"),
    )
    reading = TraceReading(scanned)
    steps = scanned.steps
    assert reading.call_of(steps[2]) is steps[1]
    assert reading.call_of(steps[3]) is steps[0]
    assert reading.call_of(steps[5]) is steps[4]
    assert reading.result_of(steps[0]).output == "a done"
    assert reading.result_of(steps[4]).output == "c done"
    assert reading.call(steps[0]) is reading.call(steps[0])


def test_code_blocks_of_a_message_have_language_and_offsets():
    text = "Here:\n```python\nx = 1\n```\nand\n~~~\nplain\n~~~\n```sh\nunclosed"
    scanned = trace(assistant(text))
    blocks = code_blocks(scanned.steps[0].content)
    assert [(b.language, b.code) for b in blocks] == [
        ("python", "x = 1"),
        ("", "plain"),
        ("sh", "unclosed"),
    ]
    assert text[blocks[0].start : blocks[0].end] == "x = 1"
