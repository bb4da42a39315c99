"""Shared fixtures. Every test gets its own state database and profile path through the environment
variables chain reads (CHAIN_STATE, CHAIN_PROFILE_PATH, CHAIN_PLUGINS), so tests never touch a user's state."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from chain.protocol import Task

ROOT = Path(__file__).resolve().parents[1]
CHAIN = [sys.executable, "-m", "chain"]


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    state = tmp_path / "state.db"
    monkeypatch.setenv("CHAIN_STATE", str(state))
    monkeypatch.setenv("CHAIN_PLUGINS", "")  # built-ins only: an installed third-party plugin cannot interfere
    monkeypatch.delenv("CHAIN_PROFILE_PATH", raising=False)
    return state


def make_task(task_id: str = "t1", code: str = "def add(a, b):\n    return a + b\n",
              tests: str = "from mod import add\n\ndef test_add():\n    assert add(2, 3) == 5\n", **kw) -> Task:
    return Task(id=task_id, files={"mod.py": textwrap.dedent(code), "test_mod.py": textwrap.dedent(tests)}, **kw)


def ndjson(*events) -> bytes:
    out = []
    for e in events:
        if isinstance(e, bytes):
            out.append(e)
        elif hasattr(e, "model_dump"):
            out.append(orjson.dumps(e.model_dump(mode="json")))
        else:
            out.append(orjson.dumps(e))
    return b"\n".join(out) + b"\n"


def parse_lines(data: bytes) -> list[dict]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def run_chain(args: list[str], stdin: bytes = b"", timeout: float = 120, env: dict | None = None):
    return subprocess.run([*CHAIN, *args], input=stdin, capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """`--dist loadgroup` sends tests with one `xdist_group` to one worker (a Ray cluster, envd's one port, a
    report pipeline built once per session). pytest-xdist 3.8 marks the group by appending `@group` to
    `item._nodeid`, which pytest 9 no longer reads (a node's id is `item._id`): the groups were silently spread
    over every worker. Until xdist follows, re-apply its suffix where pytest 9 reads it."""
    if not (config.pluginmanager.hasplugin("xdist") and getattr(config.option, "loadgroup", False)):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest < 9: xdist's own suffix works
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")
