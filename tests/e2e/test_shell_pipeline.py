"""Real processes, real pipes: the way users run chain."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.chain.sandbox.conftest import marker, processes_with
from tests.conftest import CHAIN, ROOT, make_task, ndjson, parse_lines, run_chain

PY = sys.executable


def sh(script: str, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, timeout=timeout,
                          env={**os.environ, **env}, cwd=ROOT)


def test_three_stage_shell_pipeline_on_the_examples(isolated_state):
    chain = f"{PY} -m chain"
    proc = sh(f"{chain} task examples/projects/* | {chain} analyze | {chain} process | {chain} optimize",
              {"CHAIN_STATE": str(isolated_state)})
    assert proc.returncode == 0, proc.stderr.decode()
    results = parse_lines(proc.stdout)
    by_id = {r["task_id"]: r for r in results}
    assert set(by_id) == {"stats_bug", "slow_fib", "wordfreq"}
    for r in results:
        assert [h["stage"] for h in r["task"]["history"]] == ["analyze", "process", "optimize"]
    assert by_id["wordfreq"]["status"] == "passed"
    assert by_id["stats_bug"]["task"]["history"][0]["status"] == "failed"  # analyze saw the bug
    assert "test_stats.py::test_median_even" in by_id["stats_bug"]["task"]["history"][0]["data"]["failing"]
    assert "median" in by_id["slow_fib"]["task"]["history"][2]["summary"] or by_id["slow_fib"]["status"] == "passed"
    # Every stage learned from its real runs, in one shared database written by three processes at once.
    db = sqlite3.connect(isolated_state)
    counts = dict(db.execute("SELECT stage, executions FROM profile_stats WHERE profile = 'balanced'"))
    assert counts == {"analyze": 3, "process": 3, "optimize": 3}
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    profiles = run_chain(["profiles", "--json"])
    stats = orjson.loads(profiles.stdout)["stats"]
    assert {s["stage"] for s in stats} == {"analyze", "process", "optimize"}


def test_head_1_ends_the_stage_quietly_and_kills_its_sandboxes(isolated_state, tmp_path):
    marker = f"chain-head-test-{os.getpid()}"
    sleeper = make_task("sleeper", tests=f"import time\n\ndef test_{marker.replace('-', '_')}():\n    time.sleep(60)\n")
    events = [{"type": "log", "i": i} for i in range(3)] + [sleeper]
    src = tmp_path / "in.ndjson"
    src.write_bytes(ndjson(*events))
    started = time.monotonic()
    proc = sh(f"{PY} -m chain analyze -j 2 < {src} | head -1", {"CHAIN_STATE": str(isolated_state)}, timeout=60)
    assert time.monotonic() - started < 30
    assert proc.stdout == b'{"type":"log","i":0}\n'
    assert b"Traceback" not in proc.stderr and b"Error" not in proc.stderr, proc.stderr.decode()
    time.sleep(0.5)
    leftovers = subprocess.run(["pgrep", "-f", marker.replace("-", "_")], capture_output=True)
    assert leftovers.stdout == b"", "sandboxed test outlived the stage"


def test_sigint_cancels_in_flight_tasks_and_keeps_the_database_intact(isolated_state):
    words = [marker() for _ in range(3)]
    sleepers = [make_task(f"s{i}", tests=_sleeping_test(w)) for i, w in enumerate(words)]
    quick = make_task("quick")
    proc = subprocess.Popen([*CHAIN, "analyze", "-j", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "CHAIN_STATE": str(isolated_state)})
    proc.stdin.write(ndjson(quick, *sleepers))
    proc.stdin.flush()  # stdin stays open: an endless stream
    first = proc.stdout.readline()  # the quick task's result arrives while input is still open
    assert orjson.loads(first)["task_id"] == "quick"
    for word in words[:2]:  # -j 2: two sleepers run in their sandboxes, the third waits for a slot
        _wait_until_running(word, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    rest = parse_lines(out)
    assert [r["task_id"] for r in rest] == ["s0", "s1", "s2"]
    assert {r["status"] for r in rest} == {"cancelled"}
    db = sqlite3.connect(isolated_state)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Only the real outcome was learned; cancelled runs say nothing about the strategy.
    assert db.execute("SELECT executions FROM profile_stats").fetchall() == [(1,)]


def _sleeping_test(word: str) -> str:
    """A test that starts a child named by `word` and waits: once the child exists, the run is in flight."""
    return ("import subprocess, sys, time\n\ndef test_wait():\n"
            f"    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', '{word}'])\n"
            "    time.sleep(60)\n")


def _wait_until_running(word: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    # A fixed sleep raced chain's start-up on a loaded machine (the signal arrived before its handlers).
    deadline = time.monotonic() + timeout
    while not processes_with(word):
        assert proc.poll() is None and time.monotonic() < deadline, "the sandboxed test never started"
        time.sleep(0.05)


def test_sigterm_exits_143_with_cancelled_results(isolated_state):
    word = marker()
    sleeper = make_task("s", tests=_sleeping_test(word))
    proc = subprocess.Popen([*CHAIN, "process"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdin.write(ndjson(sleeper))
    proc.stdin.flush()
    _wait_until_running(word, proc)
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err.decode()
    (result,) = parse_lines(out)
    assert result["status"] == "cancelled" and result["subtype"] == "error_cancelled"
    time.sleep(0.2)
    assert processes_with(word) == [], "the cancelled run's child outlived the stage"


def test_timeout_kills_the_whole_process_group(isolated_state, tmp_path):
    pidfile = tmp_path / "pids"
    # The test spawns a grandchild that would sleep for a minute, then sleeps itself.
    tests = (
        "import subprocess, time\n\n"
        "def test_spawns():\n"
        f"    child = subprocess.Popen(['sleep', '61'])\n"
        f"    open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "    time.sleep(60)\n"
    )
    # The local backend: the test writes its child's pid outside the workspace, which bwrap would forbid
    # (tests/chain/sandbox covers timeouts on every backend).
    proc = run_chain(["analyze", "--timeout", "2", "--sandbox", "local"], ndjson(make_task("grp", tests=tests)))
    (result,) = parse_lines(proc.stdout)
    assert result["status"] == "timeout"
    child = int(pidfile.read_text())
    time.sleep(0.2)
    state = Path(f"/proc/{child}/stat")
    assert not state.exists() or state.read_text().split()[2] == "Z", "grandchild survived the timeout"
