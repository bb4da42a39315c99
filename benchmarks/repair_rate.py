"""Fault localization and repair on single-bug tasks with known ground truth (benchmarks/repair_tasks/).

For the suite: how often `chain analyze` ranks the faulty line in its top 3, then for each profile how many
tasks `chain process` repairs — each repair verified by rerunning the tests on the emitted files in a fresh
sandbox (`chain analyze --sandbox local`) — and the wall time it took.

    python benchmarks/repair_rate.py [--profiles conservative,balanced,aggressive] [-j 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "benchmarks" / "repair_tasks"
CHAIN = [sys.executable, "-m", "chain"]


def chain(args: list[str], data: bytes, env: dict[str, str]) -> list[dict]:
    proc = subprocess.run([*CHAIN, *args], input=data, capture_output=True, env=env, cwd=ROOT)
    if proc.returncode not in (0, 6):
        sys.exit(f"chain {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return [orjson.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", default="conservative,balanced,aggressive")
    ap.add_argument("-j", "--concurrency", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    truth = json.loads((SUITE / "ground_truth.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CHAIN_STATE": str(Path(tmp) / "bench.db")}
        dirs = sorted(str(SUITE / name) for name in truth)
        tasks = subprocess.run([*CHAIN, "task", *dirs], capture_output=True, check=True, cwd=ROOT).stdout
        started = time.perf_counter()
        analyzed = chain(["analyze", "--no-learn", "-j", str(args.concurrency)], tasks, env)
        analyze_s = time.perf_counter() - started
        top3 = 0
        print(f"{'task':<18} {'fault':<12} {'rank':>4}  kind", file=sys.stderr)
        for r in analyzed:
            want = truth[r["task_id"]]
            ranking = r["task"]["history"][-1]["data"].get("suspicious", [])
            spots = [(s["file"], s["line"]) for s in ranking]
            rank = spots.index((want["file"], want["line"])) + 1 if (want["file"], want["line"]) in spots else None
            top3 += bool(rank and rank <= 3)
            print(f"{r['task_id']:<18} {want['file']}:{want['line']:<4} {rank or '-':>4}  {want['kind']}",
                  file=sys.stderr)
        n = len(analyzed)
        print(f"fault localization: faulty line in top 3 for {top3}/{n} tasks ({top3 / n:.0%}); "
              f"analyze took {analyze_s:.1f}s")
        analyzed_lines = b"\n".join(orjson.dumps(r) for r in analyzed) + b"\n"
        print(f"{'profile':<13} {'repaired':>9} {'rate':>6} {'verified':>9} {'wall s':>7} {'candidates':>11}")
        for profile in args.profiles.split(","):
            started = time.perf_counter()
            processed = chain(["process", "--profile", profile, "-j", str(args.concurrency)], analyzed_lines,
                              {**env, "CHAIN_STATE": str(Path(tmp) / f"{profile}.db")})
            wall = time.perf_counter() - started
            repaired = [r for r in processed if r["status"] == "passed"]
            # Independent check: the emitted files, tested again in a fresh sandbox by another stage.
            recheck = chain(["analyze", "--no-learn", "--sandbox", "local"],
                            b"\n".join(orjson.dumps(r["task"]) for r in repaired) + b"\n", env) if repaired else []
            verified = sum(r["status"] == "passed" for r in recheck)
            candidates = sum(r["task"]["history"][-1]["data"].get("repair", {}).get("candidates_evaluated", 0)
                             for r in processed)
            print(f"{profile:<13} {len(repaired):>4}/{n:<4} {len(repaired) / n:>6.0%} {verified:>9} {wall:>7.1f} "
                  f"{candidates:>11}")


if __name__ == "__main__":
    main()
