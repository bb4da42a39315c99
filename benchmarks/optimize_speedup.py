"""`chain optimize` on the slow example(s): baseline vs optimized median time, the speedup and its bootstrap
interval, per profile, as measured by the stage itself; then the emitted code is timed again independently
(a fresh `chain optimize --no-learn` run on the optimized task measures it as its new baseline).

    python benchmarks/optimize_speedup.py [--projects examples/projects/slow_fib]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
CHAIN = [sys.executable, "-m", "chain"]


def chain(args, data=b""):
    out = subprocess.run([*CHAIN, *args], input=data, capture_output=True, cwd=ROOT,
                         env={**os.environ, "CHAIN_STATE": "/tmp/chain-opt-bench.db"})
    return [orjson.loads(l) for l in out.stdout.splitlines() if l.strip()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--projects", nargs="*", default=["examples/projects/slow_fib"])
    ap.add_argument("--profiles", default="conservative,balanced,aggressive")
    args = ap.parse_args()
    tasks = subprocess.run([*CHAIN, "task", *args.projects], capture_output=True, check=True, cwd=ROOT).stdout
    print(f"{'task':<10} {'profile':<13} {'baseline ms':>12} {'optimized ms':>13} {'speedup':>8} {'interval':>16} "
          f"{'recheck ms':>11}  rewrites")
    for profile in args.profiles.split(","):
        for r in chain(["optimize", "--no-learn", "--profile", profile], tasks):
            d = r["task"]["history"][-1]["data"]
            if not d.get("timing"):
                print(f"{r['task_id']:<10} {profile:<13} not timed: {r['result']}")
                continue
            base, opt = d["timing"]["baseline"]["median_ms"], d["timing"]["optimized"]["median_ms"]
            sp = d.get("speedup")
            # Independent measurement of the emitted code: its own baseline in a new optimize run.
            (again,) = chain(["optimize", "--no-learn", "--profile", profile], orjson.dumps(r["task"]) + b"\n")
            recheck = again["task"]["history"][-1]["data"]["timing"]["baseline"]["median_ms"]
            interval = f"{sp['ci_low']:.1f}-{sp['ci_high']:.1f}x" if sp else "-"
            ratio = f"{sp['ratio']:.1f}x" if sp else "1.0x"
            print(f"{r['task_id']:<10} {profile:<13} {base:>12.3f} {opt:>13.3f} {ratio:>8} {interval:>16} "
                  f"{recheck:>11.3f}  {', '.join(a['rewrite'] for a in d['applied']) or '-'}")


if __name__ == "__main__":
    main()
