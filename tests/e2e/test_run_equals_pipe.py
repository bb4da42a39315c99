"""`chain run a b c` must behave exactly like `chain a | chain b | chain c`: same events, same learning."""

import os
import sqlite3
import subprocess
import sys

import orjson

from tests.conftest import ROOT, make_task, ndjson

VOLATILE = {"duration_ms", "at", "result", "summary", "isolation", "message", "data"}


def stable(obj):
    """The event without timings (which differ from run to run)."""
    if isinstance(obj, dict):
        return {k: stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [stable(v) for v in obj]
    return obj


def test_run_matches_the_shell_pipe(tmp_path):
    tasks = [make_task("ok"), make_task("bad", code="def add(a, b):\n    return a * b\n")]
    data = ndjson({"type": "system", "subtype": "init", "session_id": "s"}, tasks[0], b"{oops", tasks[1],
                  {"type": "progress", "n": 1})
    src = tmp_path / "in.ndjson"
    src.write_bytes(data)
    py = sys.executable
    outputs, dbs = {}, {}
    for mode, cmd in {
        "pipe": f"{py} -m chain analyze < {src} | {py} -m chain process -p aggressive | {py} -m chain optimize",
        "run": f"{py} -m chain run analyze process:aggressive optimize < {src}",
    }.items():
        dbs[mode] = tmp_path / f"{mode}.db"
        proc = subprocess.run(["bash", "-c", cmd], capture_output=True, cwd=ROOT, timeout=300,
                              env={**os.environ, "CHAIN_STATE": str(dbs[mode])})
        outputs[mode] = [orjson.loads(l) for l in proc.stdout.splitlines()]
    assert len(outputs["pipe"]) == len(outputs["run"]) == 5
    assert [stable(e) for e in outputs["pipe"]] == [stable(e) for e in outputs["run"]]
    assert outputs["run"][2]["type"] == "error" and outputs["run"][2]["line"] == 3
    learned = {}
    for mode, db in dbs.items():
        learned[mode] = sqlite3.connect(db).execute(
            "SELECT stage, profile, executions, successes FROM profile_stats ORDER BY stage").fetchall()
    assert learned["pipe"] == learned["run"]
    assert [row[:3] for row in learned["run"]] == [("analyze", "balanced", 2), ("optimize", "balanced", 2),
                                                   ("process", "aggressive", 2)]
    assert learned["run"][0][3] == 1  # analyze saw one of the two tasks fail
