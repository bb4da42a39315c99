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
    assert store.profile_stat("analyze", "balanced") == rows[("analyze", "balanced")]
    assert store.profile_stat("analyze", "aggressive") is None
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


# The schema as chain wrote it before migrations (main at f894a33, `PRAGMA user_version = 1`): a database made
# by that chain must keep working, its learned rows intact.
PRE_MIGRATION_SCHEMA = """
CREATE TABLE profile_stats (
    stage TEXT NOT NULL, profile TEXT NOT NULL, executions INTEGER NOT NULL, successes INTEGER NOT NULL,
    ema_success REAL NOT NULL, ema_score REAL NOT NULL, ema_duration_ms REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (stage, profile)
);
CREATE TABLE executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, task_id TEXT NOT NULL, stage TEXT NOT NULL,
    profile TEXT NOT NULL, agent TEXT NOT NULL DEFAULT 'builtin', status TEXT NOT NULL, score REAL NOT NULL,
    reward REAL NOT NULL, duration_ms REAL NOT NULL, sandbox TEXT NOT NULL, tests_passed INTEGER NOT NULL,
    tests_total INTEGER NOT NULL, kind TEXT NOT NULL DEFAULT 'python', context TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '{}', action TEXT NOT NULL DEFAULT '{}', learned INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX executions_by_stage ON executions (stage, profile, at);
CREATE INDEX executions_by_context ON executions (stage, context, profile);
CREATE INDEX executions_by_task ON executions (task_id, at);
PRAGMA user_version = 1;
"""
FIRST_RELEASE_SCHEMA = PRE_MIGRATION_SCHEMA.split("CREATE TABLE executions")[0] + """
CREATE TABLE executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, task_id TEXT NOT NULL, stage TEXT NOT NULL,
    profile TEXT NOT NULL, status TEXT NOT NULL, score REAL NOT NULL, duration_ms REAL NOT NULL,
    sandbox TEXT NOT NULL, tests_passed INTEGER NOT NULL, tests_total INTEGER NOT NULL
);
"""


def make_pre_migration_db(path, first_release=False):
    db = sqlite3.connect(path)
    if first_release:  # before agent/reward/kind/context/state/action/learned were added
        db.executescript(FIRST_RELEASE_SCHEMA)
        db.execute("INSERT INTO executions (at, task_id, stage, profile, status, score, duration_ms, sandbox,"
                   " tests_passed, tests_total)"
                   " VALUES (1.0, 'old', 'analyze', 'balanced', 'passed', 1, 50, 'local', 1, 1)")
    else:
        db.executescript(PRE_MIGRATION_SCHEMA)
        db.execute("INSERT INTO executions (at, task_id, stage, profile, status, score, reward, duration_ms, sandbox,"
                   " tests_passed, tests_total, context) VALUES (1.0, 'old', 'analyze', 'balanced', 'passed', 1, 1,"
                   " 50, 'local', 1, 1, 'python/small/fail0')")
    db.execute("INSERT INTO profile_stats VALUES ('analyze', 'balanced', 1, 1, 1.0, 1.0, 50.0, 1.0)")
    db.commit()
    db.close()


@pytest.mark.parametrize("first_release", [False, True], ids=["main-before-migrations", "first-release"])
def test_a_database_from_before_migrations_keeps_its_learning(tmp_path, first_release):
    from chain import store_migrations

    path = tmp_path / "old.db"
    make_pre_migration_db(path, first_release)
    store = ProfileStore(path)
    (row,) = store.stats()
    assert (row["executions"], row["ema_duration_ms"]) == (1, 50.0)
    stats = store.record(outcome("failed", 0.0, 150.0), alpha=0.5)
    assert (stats["executions"], stats["ema_duration_ms"], stats["ema_success"]) == (2, 100.0, 0.5)
    old, new = store.executions()
    assert (old["task_id"], old["agent"], old["learned"], old["alpha"]) == ("old", "builtin", 1, None)
    assert new["alpha"] == 0.5
    assert store.arm_stats("analyze")["balanced"]["runs"] == 2
    store.close()
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")] == store_migrations.names()


def test_each_migration_runs_once_and_a_new_one_applies_on_next_open(tmp_path, monkeypatch):
    from chain import store_migrations

    path = tmp_path / "s.db"
    ProfileStore(path).close()
    calls = []

    def m999_test_table(db):
        calls.append(1)
        db.execute("CREATE TABLE later (x INTEGER)")

    monkeypatch.setattr(store_migrations, "MIGRATIONS", [*store_migrations.MIGRATIONS, m999_test_table])
    ProfileStore(path).close()
    ProfileStore(path).close()
    assert calls == [1]
    names = [r[0] for r in sqlite3.connect(path).execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names[-1] == "m999_test_table" and len(names) == len(set(names))


def test_a_database_from_a_newer_chain_still_opens(tmp_path):
    from chain import store_migrations

    path = tmp_path / "newer.db"
    ProfileStore(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', 0)")
    db.commit()
    store = ProfileStore(path)
    store.record(outcome(), alpha=0.4)
    assert store_migrations.unknown(store._db) == ["m999_from_the_future"]
    assert store.execution_count() == 1


def _open_fresh(path, start):
    start.wait()
    ProfileStore(path).record(outcome(), alpha=0.4)


def test_stages_opening_a_fresh_database_at_once_apply_each_migration_once(tmp_path):
    from chain import store_migrations

    path = tmp_path / "fresh.db"
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_open_fresh, args=(str(path), start)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    names = [r[0] for r in sqlite3.connect(path).execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == store_migrations.names()
    assert ProfileStore(path).execution_count() == 4
