"""Fault localization and repair on buggy programs with known ground truth.

Suites: benchmarks/repair_tasks/ (small generated single-bug tasks) and benchmarks/real_bugs/ (realistic
programs: module, pytest file, conftest.py, helpers, JSON data; looping bugs, multi-line fixes; built by
benchmarks/real_bugs/_build.py, their fixes in ground_truth.json beside the task folders).

For the suite: how often `chain analyze` ranks a faulty line in its top 3, then for each profile how many
tasks `chain process` repairs plausibly (every test passes) — each repair verified by rerunning the tests on
the emitted files in a fresh sandbox (`chain analyze --sandbox local`) — how many of those are the ground
truth's fix (same AST), the wall time, time per task and candidates per second.

    python benchmarks/repair_rate.py [--suite real_bugs] [--profiles conservative,balanced,aggressive] [-j 2]
        [--per-task]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"repair_tasks": ROOT / "benchmarks" / "repair_tasks", "real_bugs": ROOT / "benchmarks" / "real_bugs"}
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
    ap.add_argument("--suite", choices=sorted(SUITES), default="repair_tasks")
    ap.add_argument("--only", default="", help="comma-separated task names (default: the whole suite)")
    ap.add_argument("--per-task", action="store_true", help="a line per task and profile on stderr")
    ap.add_argument("--no-analyze", action="store_true",
                    help="skip the localization report: process gets the tasks as they are (it ranks lines itself)")
    args = ap.parse_args()
    SUITE = SUITES[args.suite]
    truth = json.loads((SUITE / "ground_truth.json").read_text())
    if args.only:
        truth = {k: v for k, v in truth.items() if k in args.only.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CHAIN_STATE": str(Path(tmp) / "bench.db")}
        dirs = sorted(str(SUITE / name) for name in truth)
        tasks = subprocess.run([*CHAIN, "task", *dirs], capture_output=True, check=True, cwd=ROOT).stdout
        n = len(truth)
        if args.no_analyze:
            analyzed = [orjson.loads(line) for line in tasks.splitlines() if line.strip()]
        started = time.perf_counter()
        analyzed = analyzed if args.no_analyze else chain(["analyze", "--no-learn", "-j", str(args.concurrency)],
                                                           tasks, env)
        analyze_s = time.perf_counter() - started
        if args.no_analyze:
            print("fault localization: not measured (--no-analyze)")
        else:
            top3 = 0
            print(f"{'task':<18} {'fault':<12} {'rank':>4}  kind", file=sys.stderr)
            for r in analyzed:
                want = truth[r["task_id"]]
                faulty = {(want["file"], line) for line in want.get("lines", [want.get("line")])}
                ranking = r["task"]["history"][-1]["data"].get("suspicious", [])
                spots = [(s["file"], s["line"]) for s in ranking]
                rank = next((i + 1 for i, spot in enumerate(spots) if spot in faulty), None)
                top3 += bool(rank and rank <= 3)
                where = f"{want['file']}:{min(line for _, line in faulty)}"
                print(f"{r['task_id']:<22} {where:<22} {rank or '-':>4}  {want['kind']}", file=sys.stderr)
            n = len(analyzed)
            print(f"fault localization: faulty line in top 3 for {top3}/{n} tasks ({top3 / n:.0%}); "
                  f"analyze took {analyze_s:.1f}s")
        analyzed_lines = b"\n".join(orjson.dumps(r) for r in analyzed) + b"\n"
        print(f"{'profile':<13} {'repaired':>9} {'rate':>6} {'verified':>9} {'truth':>6} {'wall s':>7} "
              f"{'s/task':>7} {'candidates':>11} {'cand/s':>7}")
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
            candidates = sum(_repair(r).get("candidates_evaluated", 0) for r in processed)
            exact = sum(_same_as_truth(r, truth[r["task_id"]]) for r in repaired)
            search_s = sum(r["duration_ms"] for r in processed) / 1000
            if args.per_task:
                for r in sorted(processed, key=lambda r: r["task_id"]):
                    print(f"  {profile:<12} {r['task_id']:<22} {r['status']:<8} {r['duration_ms'] / 1000:>6.1f}s "
                          f"{_repair(r).get('candidates_evaluated', 0):>4} cand  "
                          f"{'truth' if _same_as_truth(r, truth[r['task_id']]) else ''}", file=sys.stderr)
            print(f"{profile:<13} {len(repaired):>4}/{n:<4} {len(repaired) / n:>6.0%} {verified:>9} {exact:>6} "
                  f"{wall:>7.1f} {wall / n:>7.1f} {candidates:>11} {candidates / max(search_s, 1e-9):>7.1f}")


def _repair(result: dict) -> dict:
    return result["task"]["history"][-1]["data"].get("repair", {})


def _same_as_truth(result: dict, want: dict) -> bool:
    """The emitted file is the ground truth's fix, up to formatting (same AST)."""
    if "fixed" not in want or result["status"] != "passed":
        return False
    try:
        return ast.dump(ast.parse(result["task"]["files"][want["file"]])) == ast.dump(ast.parse(want["fixed"]))
    except (KeyError, SyntaxError):
        return False


if __name__ == "__main__":
    main()
