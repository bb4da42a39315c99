"""External agents with real parts: a real command agent script and a real local HTTP server that speaks the
chat-completions shape. Every answer is verified by real sandboxed test runs."""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from chain.api import run_stage_on
from chain.cli import cli
from chain.context import StageOptions
from chain.errors import ExitStatus
from tests.conftest import make_task, ndjson
from tests.stages.test_analyze import BUGGY

AGENT = Path(__file__).with_name("fix_agent.py")


def process(task, **kw):
    (result,) = run_stage_on("process", [task], learn=False, **kw)
    return result


def test_command_agent_fix_is_verified_and_emitted(tmp_path):
    state = tmp_path / "prompts"
    result = process(BUGGY, options=StageOptions(agent=f"cmd:{sys.executable} {AGENT} {state}"))
    assert result.status == "passed"
    assert "ordered[mid - 1]" in result.task.files["mod.py"]
    data = result.task.history[-1].data
    assert data["agent"]["rounds"] == [{"round": 1, "outcome": "passed", "summary": data["agent"]["rounds"][0]["summary"]}]
    assert "repair" not in data  # the built-in search was not needed
    (prompt,) = [json.loads(l) for l in state.read_text().splitlines()]
    assert "test_mod.py::test_even" in prompt and "# file: mod.py" in prompt
    assert "mod.py:7" in prompt  # suspicious lines from fault localization


def test_failed_answer_is_fed_back_and_retried(tmp_path):
    state = tmp_path / "prompts"
    result = process(BUGGY, options=StageOptions(agent=f"cmd:{sys.executable} {AGENT} {state} wrong-first"))
    assert result.status == "passed"
    rounds = result.task.history[-1].data["agent"]["rounds"]
    assert [r["outcome"] for r in rounds] == ["failed", "passed"]
    prompts = [json.loads(l) for l in state.read_text().splitlines()]
    assert "previous answer did not pass" in prompts[1] and "test_even" in prompts[1]


class ChatServer:
    """A real HTTP server on 127.0.0.1 answering POST /v1/chat/completions like an OpenAI-compatible server."""

    def __init__(self, answer):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                reply = json.dumps({"id": "c1", "object": "chat.completion", "model": body["model"],
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": answer(body)}}]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(reply.encode())

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_openai_compatible_server_repairs(monkeypatch):
    fixed = BUGGY.files["mod.py"].replace("mid + 1", "mid - 1")
    server = ChatServer(lambda body: f"```diff\n--- a/mod.py\n+++ b/mod.py\n@@ -7 +7 @@\n"
                                     f"-    return (ordered[mid] + ordered[mid + 1]) / 2\n"
                                     f"+    return (ordered[mid] + ordered[mid - 1]) / 2\n```")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    try:
        result = process(BUGGY, options=StageOptions(agent=f"openai:{server.url}", model="local-coder"))
    finally:
        server.close()
    assert result.status == "passed" and result.task.files["mod.py"] == fixed
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "local-coder" and req["body"]["messages"][1]["role"] == "user"


def test_agent_speedup_is_timed_and_verified_like_builtin_rewrites():
    slow = make_task("slowsum", code="def total(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n",
                     tests="from mod import total\n\ndef test_total():\n    assert total(3_000_000) == 4499998500000\n")
    server = ChatServer(lambda body: "```python\n# file: mod.py\ndef total(n):\n    return n * (n - 1) // 2\n```")
    try:
        (result,) = run_stage_on("optimize", [slow], learn=False,
                                 options=StageOptions(agent=f"openai:{server.url}", model="m"))
    finally:
        server.close()
    data = result.task.history[-1].data
    assert [a["rewrite"] for a in data["applied"]] == [f"agent openai:{server.url}#m"]
    assert data["speedup"]["ci_low"] > 1.1 and result.status == "passed"


def test_unreachable_agent_is_retried_with_notices_then_builtin_search_takes_over():
    *notices, result = run_stage_on("process", [BUGGY], learn=False, profile="aggressive",
                                    options=StageOptions(agent="openai:http://127.0.0.1:9/v1", model="m"))
    # aggressive allows 2 retries: two retry notices, then the agent is given up on, all before the result
    assert [n.kind for n in notices] == ["retry", "retry", "agent_error"]
    assert all(n.task_id == "median" and n.type == "notice" for n in notices)
    assert result.status == "passed"  # the built-in repair still found the fix
    assert result.task.history[-1].data["agent"]["rounds"] == [{"round": 1, "outcome": "no reply"}]


def test_bad_agent_spec_is_a_config_error():
    res = CliRunner().invoke(cli, ["process", "--agent", "telepathy"], input=ndjson(BUGGY))
    assert res.exit_code == ExitStatus.CONFIG and "--agent 'telepathy'" in res.stderr
    res = CliRunner().invoke(cli, ["process", "--agent", "openai:http://x/v1"], input=ndjson(BUGGY))
    assert res.exit_code == ExitStatus.CONFIG and "--model" in res.stderr
