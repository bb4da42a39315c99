import multiprocessing as mp
import sqlite3

import pytest

from chain.store import Outcome, ProfileStore, ema


def outcome(status="passed", score=1.0, ms=100.0, stage="analyze", profile="balanced", task="t"):
    return Outcome(task, stage, profile, status, score, ms, "local", 1, 1)


def test_ema_starts_at_the_first_observation_and_moves_by_alpha():
    assert ema(None, 1.0, 0.4) == 1.0
    assert ema(1.0, 0.0, 0.4) == pytest.approx(0.6)
    assert ema(0.6, 1.0, 0.4) == pytest.approx(0.76)


def test_record_updates_stats_per_stage_and_profile(tmp_path):
    store = ProfileStore(tmp_path / "s.db")
    store.record(outcome("passed", 1.0, 100), alpha=0.4)
    stats = store.record(outcome("failed", 0.5, 200), alpha=0.4)
    store.record(outcome("passed", stage="process"), alpha=0.4)
    assert stats["executions"] == 2 and stats["successes"] == 1
    assert stats["ema_success"] == pytest.approx(0.6)
    assert stats["ema_score"] == pytest.approx(0.8)
    assert stats["ema_duration_ms"] == pytest.approx(140.0)
    rows = {(r["stage"], r["profile"]): r for r in store.stats()}
    assert set(rows) == {("analyze", "balanced"), ("process", "balanced")}
    assert store.execution_count() == 3
    assert store.reset(stage="analyze") == 1
    assert [r["stage"] for r in store.stats()] == ["process"]


def test_state_file_is_created_with_its_directory(tmp_path):
    path = tmp_path / "deep" / "dir" / "state.db"
    ProfileStore(path).record(outcome(), alpha=0.4)
    assert path.exists()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _hammer(path, proc_no, n, start):
    store = ProfileStore(path)
    start.wait()
    for i in range(n):
        # Half the processes share one stage/profile row so they really contend for the same read-modify-write.
        stage = "analyze" if proc_no % 2 else f"stage{proc_no}"
        store.record(outcome("passed" if i % 2 else "failed", 0.5, 10.0, stage=stage, task=f"p{proc_no}-{i}"), 0.4)
    store.close()


def test_concurrent_updates_from_8_processes_lose_nothing(tmp_path):
    path = tmp_path / "shared.db"
    ProfileStore(path).close()
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_hammer, args=(str(path), p, 200, start)) for p in range(8)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = ProfileStore(path)
    assert store.execution_count() == 8 * 200
    rows = {r["stage"]: r for r in store.stats()}
    assert rows["analyze"]["executions"] == 4 * 200  # the four odd processes shared this row
    assert rows["analyze"]["successes"] == 4 * 100
    for p in range(0, 8, 2):
        assert rows[f"stage{p}"]["executions"] == 200
    assert store.integrity_check() == "ok"


def test_unwritable_state_path_is_a_clear_config_error(tmp_path):
    from chain.errors import StateError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="state database"):
        ProfileStore(blocker / "state.db")
