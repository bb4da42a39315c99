"""Repair candidate validations per second: chain's batch validation against a naive `python -m pytest` per
candidate, on the same candidates, side by side in one run.

Candidates are real mutants (chain.repair.mutate) of realistic tasks from benchmarks/real_bugs/ (a conftest.py,
helpers, JSON data files), at the lines each task's tests run; one in five is made to loop forever (a
`while True: pass` before the line), as mutants of loop conditions and counters do. Both sides run 2 at a
time and decide each candidate on the whole suite:
- chain: chain.repair.batch through the sandbox (--sandbox, default auto): one sandbox run per batch of
  chain.repair.search.BATCH_SIZE, a child per candidate forked from a session collected once with the
  candidate's code swapped in (or a fresh session where the swap cannot be shown equal to one), CPU-time
  limits from the original's cost (so a looping mutant stops within tens of milliseconds of CPU), stopping
  at the first failing test;
- naive: a fresh workspace and `python -m pytest -q` per candidate with a wall-clock limit of
  max(5 s, 10 x the original's duration) (chain's old floor of 2 s cuts off good candidates on a loaded
  machine), no sandbox at all (which only flatters the naive side).
Verdicts are compared (they must agree except where the naive run hit its wall limit).

    python benchmarks/candidate_throughput.py [--tasks 6] [--per-task 30] [--sandbox auto] [--suite real_bugs]

`--suite trivial`: sandbox_throughput's trivial task instead (a one-line module and one test), --tasks copies.
Besides the ratio, the line per task says how many chain candidates were swapped into the collected session
rather than imported fresh.

Wall-clock figures on a shared machine are noisy: the ratio, measured in the same run, is the figure.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chain.api import open_sandbox  # noqa: E402
from chain.context import StageContext  # noqa: E402
from chain.repair import batch  # noqa: E402
from chain.repair.limits import from_original  # noqa: E402
from chain.repair.mutate import apply, mutations  # noqa: E402
from chain.repair.search import BATCH_SIZE  # noqa: E402
from chain.stages.process import _first_run  # noqa: E402
from chain.strategy import load_profile  # noqa: E402
from chain.tasks import tasks_from_paths  # noqa: E402

TRIVIAL_MOD = "def add(a, b):\n    return a + b\n"  # benchmarks/sandbox_throughput.py's MOD and TRIVIAL
TRIVIAL_TEST = "from mod import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
PARALLEL = 2
LOOP_SHARE = 0.2
NAIVE_WALL_FLOOR_S = 5.0  # chain's old floor was 2 s; on a loaded machine that cuts off good candidates


def _module(files: dict[str, str]) -> str:
    return next(p for p in sorted(files) if p.endswith(".py") and not p.startswith(("test_", "conftest", "helpers")))


def _candidates(files: dict[str, str], n: int, rng: random.Random) -> list[dict[str, str]]:
    """n changed-file dicts: mutants over the module's lines, one in five looping."""
    path = _module(files)
    text = files[path]
    pool = [e for line in range(1, len(text.splitlines()) + 1) for e in mutations(path, text, line)]
    rng.shuffle(pool)
    out: list[dict[str, str]] = []
    body_lines = [i for i, ln in enumerate(text.splitlines(keepends=True)) if ln.startswith("    ")
                  and not ln.strip().startswith(('"""', "#"))]
    for i in range(n):
        if i % int(1 / LOOP_SHARE) == int(1 / LOOP_SHARE) - 1 and body_lines:
            lines = text.splitlines(keepends=True)
            at = rng.choice(body_lines)
            indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
            lines.insert(at, f"{indent}while True:\n{indent}    pass\n")
            out.append({path: "".join(lines)})
        elif pool:
            changed = apply(files, [pool.pop()])
            if changed is not None:
                out.append({path: changed[path]})
    return out


def naive(files: dict[str, str], cand: dict[str, str], timeout: float, python: str) -> tuple[bool, bool]:
    """(passed, hit the wall limit): the candidate's workspace and a fresh `python -m pytest -q`."""
    with tempfile.TemporaryDirectory() as tmp:
        for path, text in {**files, **cand}.items():
            target = Path(tmp) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        try:
            proc = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, True
        return proc.returncode == 0, False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default="real_bugs")
    ap.add_argument("--tasks", type=int, default=6)
    ap.add_argument("--per-task", type=int, default=30)
    ap.add_argument("--sandbox", default="auto")
    ap.add_argument("--naive-python", default=sys.executable)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    suite = ROOT / "benchmarks" / args.suite
    if args.suite == "trivial":  # sandbox_throughput's trivial task (mod.add and one test), args.tasks copies
        suite = Path(tempfile.mkdtemp(prefix="chain-trivial-"))
        for i in range(args.tasks):
            (suite / f"trivial_{i}").mkdir()
            (suite / f"trivial_{i}" / "mod.py").write_text(TRIVIAL_MOD)
            (suite / f"trivial_{i}" / "test_mod.py").write_text(TRIVIAL_TEST)
    dirs = sorted(d for d in suite.iterdir() if d.is_dir() and not d.name.startswith(("_", ".")))
    dirs = [d for d in dirs if "loop" not in d.name][: args.tasks]  # originals that finish: a known cost
    sandbox = open_sandbox(args.sandbox)
    ctx = StageContext(stage="process", profile=load_profile("balanced"), sandbox=sandbox)
    totals = {"chain_s": 0.0, "naive_s": 0.0, "n": 0, "agree": 0, "naive_walled": 0, "loops": 0, "swapped": 0}
    print(f"{'task':<24} {'cands':>5} {'chain/s':>8} {'naive/s':>8} {'ratio':>6} {'agree':>6} {'swapped':>7}")
    try:
        for d in dirs:
            task = tasks_from_paths([d])[0]
            files = dict(task.files)
            ev, _ = _first_run(files, task, ctx.for_task(task.id))
            limits = from_original(ev, ctx.run_timeout)
            cands = _candidates(files, args.per_task, rng)
            started = time.monotonic()
            chunks = [cands[i : i + BATCH_SIZE] for i in range(0, len(cands), BATCH_SIZE)]
            with ThreadPoolExecutor(PARALLEL) as pool:
                verdicts = [v for vs in pool.map(lambda ch: batch.run_batch(
                    ctx, files, [(c, None) for c in ch], task.test, limits, task.id), chunks) for v in vs]
            chain_s = time.monotonic() - started
            wall = max(NAIVE_WALL_FLOOR_S, 10 * ev.duration_ms / 1000)
            started = time.monotonic()
            with ThreadPoolExecutor(PARALLEL) as pool:
                naive_v = list(pool.map(lambda c: naive(files, c, wall, args.naive_python), cands))
            naive_s = time.monotonic() - started
            agree = sum(v.passed == p or walled for v, (p, walled) in zip(verdicts, naive_v))
            totals["chain_s"] += chain_s
            totals["naive_s"] += naive_s
            swapped = sum(v.via == "swap" for v in verdicts)
            totals["swapped"] += swapped
            totals["n"] += len(cands)
            totals["agree"] += agree
            totals["naive_walled"] += sum(w for _, w in naive_v)
            totals["loops"] += sum("while True:" in next(iter(c.values())) for c in cands)
            print(f"{task.id:<24} {len(cands):>5} {len(cands) / chain_s:>8.1f} {len(cands) / naive_s:>8.1f} "
                  f"{naive_s / chain_s:>6.1f} {agree:>3}/{len(cands)} {swapped:>7}", flush=True)
    finally:
        sandbox.close()
        if args.suite == "trivial":
            shutil.rmtree(suite, ignore_errors=True)
    n = totals["n"]
    print(f"all: {n} candidates ({totals['loops']} looping; naive hit its wall limit {totals['naive_walled']}x): "
          f"chain {n / totals['chain_s']:.1f}/s, naive {n / totals['naive_s']:.1f}/s, "
          f"ratio {totals['naive_s'] / totals['chain_s']:.1f}x, verdicts agree {totals['agree']}/{n}, "
          f"{totals['swapped']} swapped into the collected session")


if __name__ == "__main__":
    main()
