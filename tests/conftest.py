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
