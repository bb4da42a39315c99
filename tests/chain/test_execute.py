"""Profile choice, races and learning, through the real stage loop and the real local sandbox."""

import os
import subprocess
import time

import orjson
from click.testing import CliRunner

from chain.api import make_context
from chain.context import StageContext
from chain.execute import TaskRunner
from chain.pipeline import StageProcessor, stage_events
from chain.strategy import load_all
from chain.protocol import Result, Task, make_result
from chain.registry import StageSpec
from chain.store import ProfileStore
from chain.cli import cli
from chain.stream import batches, classify_batch, dump
from tests.conftest import make_task, ndjson, parse_lines

MARKER = f"chain_race_marker_{os.getpid()}"


def racing_stage(task: Task, ctx: StageContext) -> Result:
    """Passes quickly under `aggressive`; under the other profiles its test sleeps for a minute."""
    files = dict(task.files)
    if ctx.profile.name != "aggressive":
        files["test_slow.py"] = f"import time\n\ndef test_{MARKER}():\n    time.sleep(60)\n"
    ev = ctx.run_tests(files, task.test, label=task.id)
    return make_result(task=task, stage=ctx.stage, profile=ctx.profile.name, status=ev.status, tests=ev.tests,
                       duration_ms=ev.duration_ms, sandbox=ctx.sandbox.name, summary=ev.summary, cases=ev.cases)


def run_processor(runner_kw, tasks, store):
    spec = StageSpec("racer", racing_stage)
    ctx = make_context("racer", "balanced", "local")
    runner = TaskRunner(spec, ctx, store, **runner_kw)
    proc = StageProcessor(spec, ctx, store=store, concurrency=2, runner=runner)
    lines = [dump(t).rstrip(b"\n") for t in tasks]
    return [o for o in stage_events(proc(classify_batch(list(b), 1) for b in batches(lines)))]


def test_race_first_pass_wins_losers_are_killed_and_every_outcome_recorded(tmp_path):
    store = ProfileStore(tmp_path / "s.db")
    started = time.monotonic()
    (out,) = run_processor({"profiles": load_all(), "race": ["conservative", "aggressive", "balanced"]},
                           [make_task("r1")], store)
    elapsed = time.monotonic() - started
    result = out.event
    assert result.status == "passed" and result.profile == "aggressive"
    assert result.race["winner"] == "aggressive"
    assert {n: o["status"] for n, o in result.race["outcomes"].items()} == {
        "aggressive": "passed", "conservative": "cancelled", "balanced": "cancelled"}
    assert elapsed < 30  # nobody waited for the sleeping racers
    time.sleep(0.3)
    assert subprocess.run(["pgrep", "-f", MARKER], capture_output=True).stdout == b"", "a loser's sandbox survived"
    rows = store.executions()
    assert sorted((r["profile"], r["status"], r["learned"]) for r in rows) == [
        ("aggressive", "passed", 1), ("balanced", "cancelled", 0), ("conservative", "cancelled", 0)]
    assert [(s["profile"], s["executions"]) for s in store.stats()] == [("aggressive", 1)]


def test_race_deadline_takes_the_best_finished(tmp_path):
    store = ProfileStore(tmp_path / "s.db")
    (out,) = run_processor({"profiles": load_all(), "race": ["conservative", "balanced"], "race_deadline_s": 2},
                           [make_task("r2")], store)
    # Neither can pass within the deadline: both are stopped and the result is a cancelled one, not a hang.
    assert out.event.status == "cancelled" and out.event.race["winner"] in ("conservative", "balanced")


def test_auto_records_the_concrete_profile_and_why(isolated_state):
    res = CliRunner().invoke(cli, ["analyze", "--profile", "auto", "--seed", "3"], input=ndjson(make_task("a1")))
    (result,) = parse_lines(res.stdout_bytes)
    assert result["profile"] in ("conservative", "balanced", "aggressive")
    assert result["choice"]["profile"] == result["profile"]
    assert set(result["choice"]["arms"]) == {"conservative", "balanced", "aggressive"}
    (row,) = ProfileStore(isolated_state).executions()
    assert row["profile"] == result["profile"] and row["action"]["chosen_by"] == "auto"


def test_sandbox_failures_are_retried_with_notices_and_trip_the_breaker(tmp_path, monkeypatch):
    # A real failure of the backend: its workspace directory cannot be created.
    monkeypatch.setenv("CHAIN_TMPDIR", str(tmp_path / "does-not-exist"))
    tasks = [make_task(f"t{i}") for i in range(4)]
    res = CliRunner().invoke(cli, ["analyze", "-p", "conservative", "-j", "1", "--sandbox", "local"], input=ndjson(*tasks))
    events = parse_lines(res.stdout_bytes)
    results = [e for e in events if e["type"] == "result"]
    assert [r["status"] for r in results] == ["error"] * 4
    assert "cannot prepare workspace" in results[0]["result"]
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "retrying.toml").write_text("[run]\nretries = 2\n")
    monkeypatch.setenv("CHAIN_PROFILE_PATH", str(tmp_path / "profiles"))
    res = CliRunner().invoke(cli, ["analyze", "-p", "retrying", "-j", "1", "--sandbox", "local"], input=ndjson(*tasks))
    events = parse_lines(res.stdout_bytes)
    kinds = [(e["type"], e.get("kind"), e.get("task_id")) for e in events]
    # t0: two retries, then its result; the 5th consecutive failure (t1's 2nd retry) opens the circuit.
    assert kinds[:3] == [("notice", "retry", "t0"), ("notice", "retry", "t0"), ("result", None, "t0")]
    assert ("notice", "circuit_open", "t1") in kinds
    last = [e for e in events if e["type"] == "result"][-1]
    assert "circuit open" in last["result"]
