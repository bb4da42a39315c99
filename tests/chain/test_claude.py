"""Claude Code interop: chain reads `claude -p --output-format stream-json --verbose` transcripts and writes
lines `claude -p --input-format stream-json` accepts. The transcript below has the shape documented in
shared/reference/claude-stream-json.md (init, growing assistant snapshots, tool use, tool result, result)."""

import orjson
from click.testing import CliRunner

from chain.claude import ClaudeHarvester, code_blocks, files_from_blocks
from chain.cli import cli
from tests.conftest import ndjson, parse_lines

SOLUTION = "def slugify(s):\n    return '-'.join(s.lower().split())\n"
TESTS = "from slug import slugify\n\ndef test_slug():\n    assert slugify('Hello World') == 'hello-world'\n"
TEXT = (
    "Here is the module:\n\n```python\n# file: slug.py\n" + SOLUTION + "```\n\nAnd its tests:\n\n"
    "```python\n# file: test_slug.py\n" + TESTS + "```\nRun them with `pytest`.\n```bash\npytest -q\n```\n"
)


def transcript(session="sess-1234abcd", text=TEXT):
    return [
        {"type": "system", "subtype": "init", "session_id": session, "model": "claude", "tools": ["Write"]},
        # A partial snapshot of the message, then the full one with the same id: the last one wins.
        {"type": "assistant", "session_id": session, "parent_tool_use_id": None,
         "message": {"id": "msg_1", "role": "assistant", "content": [{"type": "text", "text": "Here is the mod"}]}},
        {"type": "assistant", "session_id": session, "parent_tool_use_id": None,
         "message": {"id": "msg_1", "role": "assistant", "content": [{"type": "text", "text": text}]}},
        {"type": "user", "session_id": session,
         "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}},
        {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 1234, "num_turns": 2,
         "result": "Done.", "session_id": session, "total_cost_usd": 0.01},
    ]


def test_code_blocks_take_names_from_marker_or_fence_info():
    text = "```python title=a.py\nx = 1\n```\n```py\n# file: pkg/b.py\ny = 2\n```\n```\nimport pytest\ndef test_x(): pass\n```"
    blocks = code_blocks(text)
    assert [b[0] for b in blocks] == ["a.py", "pkg/b.py", None]
    files = files_from_blocks(blocks)
    assert files == {"a.py": "x = 1\n", "pkg/b.py": "y = 2\n", "test_solution.py": "import pytest\ndef test_x(): pass\n"}


def test_harvester_builds_a_task_at_the_result_line_only():
    h = ClaudeHarvester()
    tasks = [h.see(e) for e in transcript()]
    assert tasks[:-1] == [None] * 4
    task = tasks[-1]
    assert task.files == {"slug.py": SOLUTION, "test_slug.py": TESTS}  # the bash block is not a source file
    assert task.id == "claude-sess-123-1" and task.metadata["session_id"] == "sess-1234abcd"


def test_write_tool_use_inputs_become_files():
    h = ClaudeHarvester()
    events = transcript(text="I wrote the files.")
    events[2]["message"]["content"].append({"type": "tool_use", "id": "t1", "name": "Write",
                                            "input": {"file_path": "/tmp/proj/slug.py", "content": SOLUTION}})
    events[2]["message"]["content"].append({"type": "tool_use", "id": "t2", "name": "Write",
                                            "input": {"file_path": "/tmp/proj/test_slug.py", "content": TESTS}})
    task = [h.see(e) for e in events][-1]
    assert task.files == {"slug.py": SOLUTION, "test_slug.py": TESTS}


def test_claude_stream_through_analyze_passes_lines_and_tests_the_harvested_code():
    events = transcript() + transcript(session="second-session", text="No code this time.")
    data = ndjson(*events)
    res = CliRunner().invoke(cli, ["analyze"], input=data, catch_exceptions=False)
    lines = res.stdout_bytes.splitlines()
    # Every Claude line passes through unchanged and in order; one chain result follows the first run's result.
    assert lines[:5] == data.splitlines()[:5]
    result = orjson.loads(lines[5])
    assert result["type"] == "result" and result["chain"] == 1 and result["status"] == "passed"
    assert result["cases"][0]["nodeid"] == "test_slug.py::test_slug"
    assert lines[6:] == data.splitlines()[5:]  # the second run wrote no code: no task
    assert res.exit_code == 0


def test_claude_input_output_format_writes_user_messages():
    data = ndjson(*transcript())
    res = CliRunner().invoke(cli, ["analyze", "--output-format", "claude-input"], input=data)
    (msg,) = parse_lines(res.stdout_bytes)
    assert msg["type"] == "user" and msg["message"]["role"] == "user"
    content = msg["message"]["content"]
    assert "analyze" in content and "passed" in content and "# file: slug.py" in content
