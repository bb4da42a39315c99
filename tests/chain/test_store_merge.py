"""`chain profiles merge`: parallel jobs' databases combine into the table one run would have learned."""

import multiprocessing as mp
import sqlite3
import time

import pytest

from chain.errors import StateError
from chain.store import Outcome, ProfileStore
from chain.store_merge import merge
from tests.chain.test_store import make_pre_migration_db

ALPHA = {"balanced": 0.4, "aggressive": 0.25}


def alpha_for(profile):
    return ALPHA[profile]


def job_outcome(job, i):
    """A deterministic stream per job: mixed outcomes, two stages, two profiles with different EMA rates."""
    profile = "aggressive" if (job + i) % 3 == 0 else "balanced"
    status = "passed" if (job * 7 + i) % 4 else "failed"
    return Outcome(f"job{job}-task{i}", "analyze" if i % 2 else "process", profile, status,
                   1.0 if status == "passed" else (i % 5) / 5, 10.0 * (job + 1) + i, "local", 1, 1)


def _job(path, job, n, start):
    store = ProfileStore(path)
    start.wait()
    for i in range(n):
        outcome = job_outcome(job, i)
        store.record(outcome, alpha=ALPHA[outcome.profile])
        time.sleep(0.001 * ((job + i) % 3))  # the four streams interleave in time
    store.close()


def table(path):
    store = ProfileStore(path)
    try:
        return [{k: v for k, v in row.items() if k != "updated_at"} for row in store.stats()]
    finally:
        store.close()


def test_four_parallel_jobs_merge_into_what_one_run_in_time_order_learns(tmp_path):
    paths = [tmp_path / f"job{j}.db" for j in range(4)]
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_job, args=(str(p), j, 40, start)) for j, p in enumerate(paths)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0

    summary = merge(paths, tmp_path / "merged.db", alpha_for)
    assert (summary.executions, summary.duplicates, summary.approximate) == (160, 0, [])

    # One run over all their tasks, in the order they ran: the same outcomes folded by the store itself.
    runs = []
    for path in paths:
        store = ProfileStore(path)
        runs += store.executions()
        store.close()
    one = ProfileStore(tmp_path / "one.db")
    for e in sorted(runs, key=lambda e: e["at"]):
        one.record(Outcome(e["task_id"], e["stage"], e["profile"], e["status"], e["score"], e["duration_ms"],
                           e["sandbox"], 1, 1), alpha=e["alpha"])
    one.close()
    merged = table(tmp_path / "merged.db")
    assert merged == table(tmp_path / "one.db")  # exactly: same observations, same order, same arithmetic
    per_job = [{(r["stage"], r["profile"]): r for r in table(p)} for p in paths]
    for row in merged:  # counts add
        key = (row["stage"], row["profile"])
        assert row["executions"] == sum(t[key]["executions"] for t in per_job if key in t)
        assert row["successes"] == sum(t[key]["successes"] for t in per_job if key in t)


def test_the_base_every_job_restored_counts_once(tmp_path):
    base = tmp_path / "base.db"
    store = ProfileStore(base)
    for i in range(5):
        store.record(job_outcome(9, i), alpha=ALPHA[job_outcome(9, i).profile])
    store.close()
    jobs = []
    for j in range(2):
        path = tmp_path / f"job{j}.db"
        path.write_bytes(base.read_bytes())
        store = ProfileStore(path)
        for i in range(3):
            store.record(job_outcome(j, i), alpha=ALPHA[job_outcome(j, i).profile])
        store.close()
        jobs.append(path)
    summary = merge(jobs, tmp_path / "merged.db", alpha_for)
    assert (summary.executions, summary.duplicates) == (5 + 2 * 3, 5)
    assert sum(r["executions"] for r in table(tmp_path / "merged.db")) == 11


def test_rows_without_their_executions_add_counts_and_stay_within_the_inputs_emas(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    store = ProfileStore(a)
    for ms in (100.0, 300.0):
        store.record(Outcome("t", "analyze", "balanced", "passed", 1.0, ms, "local"), alpha=0.4)
    store.close()
    store = ProfileStore(b)  # stats imported from elsewhere: no execution log to replay
    store.import_stats({"format": "chain-profiles", "stats": [
        {"stage": "analyze", "profile": "balanced", "executions": 6, "successes": 3, "ema_success": 0.5,
         "ema_score": 0.7, "ema_duration_ms": 900.0, "updated_at": 5.0}]})
    store.close()
    summary = merge([a, b], tmp_path / "m.db", alpha_for)
    assert summary.approximate == [("analyze", "balanced")] and "approximate" in summary.describe()
    (row,) = table(tmp_path / "m.db")
    inputs = table(a) + table(b)
    assert (row["executions"], row["successes"]) == (8, 5)
    for key in ("ema_success", "ema_score", "ema_duration_ms"):
        assert min(r[key] for r in inputs) <= row[key] <= max(r[key] for r in inputs)


def test_a_database_of_an_earlier_chain_merges_and_is_not_modified(tmp_path):
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    make_pre_migration_db(old)
    before = old.read_bytes()
    store = ProfileStore(new)
    store.record(Outcome("t", "analyze", "balanced", "failed", 0.0, 150.0, "local"), alpha=0.4)
    store.close()
    summary = merge([old, new], tmp_path / "m.db", alpha_for)
    assert summary.upgraded == [str(old)]
    (row,) = table(tmp_path / "m.db")
    # old: passed 50 ms at t=1.0 (alpha unknown then: the profile's 0.4); new: failed 150 ms, later.
    assert (row["executions"], row["successes"]) == (2, 1)
    assert row["ema_success"] == pytest.approx(0.6) and row["ema_duration_ms"] == pytest.approx(90.0)
    assert old.read_bytes() == before
    assert not sqlite3.connect(old).execute("SELECT name FROM sqlite_master WHERE name = '_migrations'").fetchone()


def test_newer_chains_unknown_tables_and_non_databases_are_refused(tmp_path):
    newer = tmp_path / "newer.db"
    ProfileStore(newer).close()
    db = sqlite3.connect(newer)
    db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', 0)")
    db.commit()
    with pytest.raises(StateError, match=r"newer chain .*m999_from_the_future"):
        merge([newer], tmp_path / "m.db", alpha_for)
    extra = tmp_path / "extra.db"
    ProfileStore(extra).close()
    db = sqlite3.connect(extra)
    db.execute("CREATE TABLE operator_stats (x)")
    db.execute("INSERT INTO operator_stats VALUES (1)")
    db.commit()
    with pytest.raises(StateError, match=r"'operator_stats' has rows .* does not know how to combine"):
        merge([extra], tmp_path / "m.db", alpha_for)
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite")
    with pytest.raises(StateError, match="not a chain state database"):
        merge([junk], tmp_path / "m.db", alpha_for)
    assert not (tmp_path / "m.db").exists()


def test_the_output_may_be_one_of_the_inputs(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for path, job in ((a, 0), (b, 1)):
        store = ProfileStore(path)
        store.record(job_outcome(job, 1), alpha=0.4)
        store.close()
    merge([a, b], a, alpha_for)
    assert sum(r["executions"] for r in table(a)) == 2
    assert ProfileStore(a).integrity_check() == "ok"


def test_repair_operator_stats_merge_instead_of_refusing_the_database(tmp_path):
    # process writes what each repair operator was worth; a job that repaired anything must still merge.
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for path, fixed in ((a, 1.0), (b, 0.0)):
        store = ProfileStore(path)
        store.record(job_outcome(0, 1), alpha=0.4)
        store.fold_operators("process", {("swap_operands", "assert-eq|return"): fixed}, alpha=0.4)
        store.close()
    out = tmp_path / "merged.db"
    merge([a, b], out, alpha_for)
    store = ProfileStore(out)
    try:
        (row,) = store.operator_stats("process")
    finally:
        store.close()
    assert (row["operator"], row["tasks"], row["fixes"]) == ("swap_operands", 2, 1)
    assert row["ema_rate"] == pytest.approx(0.5)  # task-weighted mean of 1.0 and 0.0 (no log to replay)
