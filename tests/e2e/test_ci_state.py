"""Learning that survives CI: four parallel jobs (real `chain analyze` processes, each with its own state
database) merged with `chain profiles merge` give the table one run over all their executions in time order
would hold."""

from __future__ import annotations

import sqlite3
import subprocess

from chain.store import ema
from tests.conftest import CHAIN, ROOT

TASKS = ["examples/projects/stats_bug", "examples/projects/wordfreq", "examples/projects/slow_fib",
         "examples/projects/stats_bug"]


def test_four_parallel_jobs_merge_into_one_runs_table(tmp_path):
    dbs = [tmp_path / f"job{i}.db" for i in range(4)]
    jobs = []
    for i, (task, db) in enumerate(zip(TASKS, dbs)):
        profile = "aggressive" if i % 2 else "balanced"
        script = f"{' '.join(CHAIN)} task {task} | {' '.join(CHAIN)} analyze -p {profile} --state {db}"
        jobs.append(subprocess.Popen(["bash", "-o", "pipefail", "-c", script], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE))
    for job in jobs:
        assert job.wait(timeout=300) == 0, job.stderr.read().decode()

    merged = tmp_path / "merged.db"
    proc = subprocess.run([*CHAIN, "profiles", "merge", *map(str, dbs), "-o", str(merged)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "merged 4 database(s): 4 executions" in proc.stderr and proc.stdout == ""

    # The one run, computed here from the jobs' own logs: every learned execution, in time order.
    runs = sorted(row for db in dbs for row in sqlite3.connect(db).execute(
        "SELECT at, stage, profile, status, score, duration_ms, alpha FROM executions WHERE learned = 1"))
    expected: dict[tuple[str, str], list] = {}
    for _at, stage, profile, status, score, ms, alpha in runs:
        n, wins, s, sc, d = expected.get((stage, profile), (0, 0, None, None, None))
        ok = 1.0 if status == "passed" else 0.0
        expected[(stage, profile)] = (n + 1, wins + int(ok), ema(s, ok, alpha), ema(sc, score, alpha),
                                      ema(d, ms, alpha))
    table = {(r[0], r[1]): r[2:] for r in sqlite3.connect(merged).execute(
        "SELECT stage, profile, executions, successes, ema_success, ema_score, ema_duration_ms FROM profile_stats")}
    assert table == expected
    assert table[("analyze", "balanced")][0] == 2 and table[("analyze", "aggressive")][0] == 2


def test_merge_refuses_a_database_it_cannot_read_with_exit_4(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    proc = subprocess.run([*CHAIN, "profiles", "merge", str(junk), "-o", str(tmp_path / "m.db")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4 and "not a chain state database" in proc.stderr
    assert not (tmp_path / "m.db").exists()
