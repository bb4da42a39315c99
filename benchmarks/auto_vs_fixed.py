"""Does `--profile auto` pay off? Successes per minute for each fixed profile and for auto, learning on.

Runs a task suite through one stage (`process` by default) for several rounds with each fixed profile and with
`--profile auto`, each configuration starting from a fresh state database and learning across its rounds.
Tasks are first analyzed once (fixed profile, not learned) so every configuration sees the same input.
Prints a per-round table and, after the warm-up rounds, the mean successes per minute of each configuration.

    python benchmarks/auto_vs_fixed.py [--suite tasks.ndjson] [--rounds 4] [--warmup 1] [--stage process]

Without --suite, the suite is every project under benchmarks/repair_tasks/ (single bugs a small edit repairs),
benchmarks/two_bug_tasks/ (two bugs: need combined edits), benchmarks/hopeless_tasks/ (stubs no small
edit repairs, with many suspicious lines) and examples/projects/.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
CHAIN = [sys.executable, "-m", "chain"]
FIXED = ["conservative", "balanced", "aggressive"]


def chain(args: list[str], data: bytes, env: dict[str, str]) -> bytes:
    proc = subprocess.run([*CHAIN, *args], input=data, capture_output=True, env=env, cwd=ROOT)
    if proc.returncode not in (0, 6):
        sys.exit(f"chain {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return proc.stdout


def default_suite(env: dict[str, str]) -> bytes:
    dirs = sorted(p for base in ("benchmarks/repair_tasks", "benchmarks/two_bug_tasks", "benchmarks/hopeless_tasks",
                                                          "examples/projects") for p in (ROOT / base).glob("*")
                  if p.is_dir())
    return chain(["task", *map(str, dirs)], b"", env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", type=Path)
    ap.add_argument("--stage", default="process")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show-choices", action="store_true", help="print auto's choice per task on stderr")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CHAIN_STATE": str(Path(tmp) / "scratch.db")}
        suite = args.suite.read_bytes() if args.suite else default_suite(env)
        analyzed = chain(["analyze", "--no-learn", "-j", str(args.concurrency)], suite, env)
        lines = [l for l in analyzed.splitlines() if l.strip()]
        print(f"suite: {len(lines)} tasks; stage: {args.stage}; rounds: {args.rounds} (warm-up {args.warmup}); "
              f"concurrency {args.concurrency}", file=sys.stderr)
        table: dict[str, list[tuple[int, float]]] = {}
        rng = random.Random(args.seed)
        # Rounds are interleaved (round r of every configuration before round r+1 of any) so that load from
        # other processes on a shared machine drifts over all configurations alike.
        for rnd in range(args.rounds):
            order = lines[:]
            rng.shuffle(order)  # same order for every configuration in a given round
            for config in [*FIXED, "auto"]:
                run_env = {**env, "CHAIN_STATE": str(Path(tmp) / f"{config}.db")}
                started = time.perf_counter()
                out = chain([args.stage, "--profile", config, "--seed", str(args.seed + rnd), "-j",
                             str(args.concurrency)], b"\n".join(order) + b"\n", run_env)
                elapsed = time.perf_counter() - started
                results = [orjson.loads(l) for l in out.splitlines() if b'"type":"result"' in l]
                wins = sum(r["status"] == "passed" for r in results)
                table.setdefault(config, []).append((wins, elapsed))
                print(f"  round {rnd + 1} {config:<12}: {wins}/{len(results)} passed in {elapsed:6.1f}s",
                      file=sys.stderr)
                if config == "auto" and args.show_choices:
                    for r in results:
                        print(f"      {r['task_id']:<20} {(r.get('choice') or {}).get('context', ''):<22} "
                              f"{r['profile']:<13} {r['status']}", file=sys.stderr)
        print(f"{'profile':<12} " + " ".join(f"{'round ' + str(r + 1):>16}" for r in range(args.rounds))
              + f" {'after warm-up':>16}")
        best_fixed = 0.0
        for config, rows in table.items():
            cells = [f"{w * 60 / s:8.1f}/min ({w:2d})" for w, s in rows]
            post = rows[args.warmup:]
            rate = sum(w for w, _ in post) * 60 / sum(s for _, s in post)
            if config != "auto":
                best_fixed = max(best_fixed, rate)
            print(f"{config:<12} " + " ".join(f"{c:>16}" for c in cells) + f" {rate:12.1f}/min")
        auto_rate = sum(w for w, _ in table["auto"][args.warmup:]) * 60 / sum(s for _, s in table["auto"][args.warmup:])
        verdict = "beats" if auto_rate > best_fixed else "does NOT beat"
        print(f"auto {verdict} the best fixed profile after warm-up: {auto_rate:.1f} vs {best_fixed:.1f} "
              f"successes/min ({auto_rate / best_fixed:.2f}x)")


if __name__ == "__main__":
    main()
