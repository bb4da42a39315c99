"""Big repositories by reference: what chain costs on a 5,000-module / ~80 MB tree, against direct pytest and
against the same project at 10 files.

    .venv/bin/python benchmarks/big_repo.py [--modules 5000] [--module-kb 16] [--sandbox auto] [--runs 20]

1. End to end: `chain task | chain analyze | chain process` (each stage its own process, as in a shell pipe)
   on the big tree and on a 10-file copy of the same project (same bug, same two tests), and direct
   `python -m pytest` on the big tree. Per stage: wall time, its sandbox runs, and chain's own overhead
   (wall minus the sandbox time the stage reports), plus the bytes each stage wrote.
2. Per-candidate materialization: `RunDir.create` + `remove` of a run that changes one file, for the big
   base as bubblewrap shows it (an overlay of hard links: the sandbox mounts it) and as other backends copy
   it, a 10-file base, and a 10-file self-contained task (every file written every run), and the one-time
   link or copy of the big base.

Targets (issue #15): chain's own overhead <= 1 s per stage beyond the test runs; per-candidate
materialization the same order for the big tree as for 10 files. Absolute figures are noisy on a shared
machine; the ratios are measured within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chain.sandbox.workspace import RunDir  # noqa: E402
from chain.tasks import tasks_from_paths  # noqa: E402
from chain.tree import with_base  # noqa: E402

CORE = "def add(a, b):\n    return a - b\n\n\ndef twice(x):\n    return add(x, x)\n"
TESTS = ("from pkg import core, mod_00001\n\n\ndef test_add():\n    assert core.add(2, 3) == 5\n\n\n"
         "def test_module_loads():\n    assert mod_00001.f0(1) == 1\n")


def module_text(i: int, kb: int) -> str:
    body = [f'"""Generated module {i}: filler so the tree is as big as a real monorepo."""\n']
    n = 0
    while sum(map(len, body)) < kb * 1024:
        body.append(f"\n\ndef f{n}(x):\n    total = x\n    for k in range({n % 7}):\n        total += k * {i}\n"
                    f"    return total - {n % 7 * (n % 7 - 1) // 2 * i}\n")
        n += 1
    return "".join(body)


def make_repo(where: Path, modules: int, kb: int) -> Path:
    (where / "pkg").mkdir(parents=True)
    (where / "tests").mkdir()
    (where / "pkg" / "__init__.py").write_text("")
    (where / "pkg" / "core.py").write_text(CORE)
    (where / "tests" / "test_core.py").write_text(TESTS)
    for i in range(modules):
        (where / "pkg" / f"mod_{i:05d}.py").write_text(module_text(i, kb))
    return where


def tree_size(where: Path) -> tuple[int, int]:
    n = size = 0
    for dirpath, _, names in os.walk(where):
        for name in names:
            n += 1
            size += os.path.getsize(os.path.join(dirpath, name))
    return n, size


def stage(cmd: list[str], stdin: bytes, env: dict) -> tuple[float, bytes, list[dict]]:
    started = time.perf_counter()
    done = subprocess.run(cmd, input=stdin, capture_output=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return wall, done.stdout, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def pipeline(repo: Path, sandbox: str, state: Path) -> dict:
    env = {**os.environ, "CHAIN_STATE": str(state)}
    chain = [sys.executable, "-m", "chain"]
    out: dict = {}
    wall, task_line, _ = stage([*chain, "task", str(repo)], b"", env)
    out["task"] = {"wall_s": wall, "bytes_out": len(task_line)}
    wall, analyzed, (res,) = stage([*chain, "analyze", "--sandbox", sandbox], task_line, env)
    out["analyze"] = {"wall_s": wall, "bytes_out": len(analyzed), "status": res["status"],
                      "sandbox_s": res["duration_ms"] / 1000, "summary": res["result"]}
    wall, processed, (res,) = stage([*chain, "process", "--sandbox", sandbox], analyzed, env)
    repair = res["task"]["history"][-1]["data"].get("repair", {})
    out["process"] = {"wall_s": wall, "bytes_out": len(processed), "status": res["status"],
                      "sandbox_s": res["duration_ms"] / 1000, "candidates": repair.get("candidates_evaluated"),
                      "summary": res["result"]}
    return out


def materialization(big: Path, small: Path, runs: int) -> dict:
    (big_task,) = tasks_from_paths([big], by_reference="always")
    (small_ref,) = tasks_from_paths([small], by_reference="always")
    (small_inline,) = tasks_from_paths([small], by_reference="never")
    out = {}
    slot = Path(tempfile.mkdtemp(prefix="chain-bigrepo-slot-", dir=os.environ.get("CHAIN_TMPDIR")))
    cases = (("big base, overlay", big_task, True), ("big base, copy", big_task, False),
             ("10-file base", small_ref, False), ("10-file inline", small_inline, False))
    for name, task, overlay in cases:
        task = with_base(task)
        tree = getattr(task.files, "tree", None)
        change = {"pkg/core.py": CORE.replace("a - b", "a + b")}
        files = change if tree is not None else {**task.files, **change}
        # overlay: what bubblewrap (warm and cold) does; the base linked once into a worker's directory, each
        # run an empty workspace (the sandbox mounts the overlay) and its changed files. copy: other backends.
        def create(files=files, tree=tree, overlay=overlay):
            if overlay:
                return RunDir.create(files, root=slot, base=tree, overlay=True)
            return RunDir.create(files, base=tree)

        started = time.perf_counter()
        first = create()  # the one-time link or copy of the base (per worker / concurrent slot)
        first_s = time.perf_counter() - started
        first.empty() if overlay else first.remove()
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            run = create()
            if not overlay:
                (run.workspace / "pkg" / "core.py").read_text()
            run.empty() if overlay else run.remove()
            times.append(time.perf_counter() - started)
        out[name] = {"first_ms": first_s * 1000, "median_ms": statistics.median(times) * 1000,
                     "max_ms": max(times) * 1000}
    shutil.rmtree(slot, ignore_errors=True)  # (links to the generated tree's files: nothing of ours to chmod)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", type=int, default=5000)
    ap.add_argument("--module-kb", type=int, default=16)
    ap.add_argument("--sandbox", default="auto")
    ap.add_argument("--runs", type=int, default=20, help="materializations timed per case")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chain-bigrepo-", dir=os.environ.get("CHAIN_TMPDIR")))
    try:
        started = time.perf_counter()
        big = make_repo(work / "big", args.modules, args.module_kb)
        small = make_repo(work / "small", 7, 1)  # 10 files: __init__, core, 7 modules, the test file
        n, size = tree_size(big)
        print(f"generated {n} files, {size / 1e6:.1f} MB in {time.perf_counter() - started:.1f}s "
              f"(10-file copy: {tree_size(small)[0]} files)")

        direct = {}
        for name, repo in (("big", big), ("10 files", small)):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=repo,
                                  capture_output=True, text=True)
            direct[name] = time.perf_counter() - started
            print(f"direct pytest, {name}: {direct[name]:.2f}s ({done.stdout.strip().splitlines()[-1]})")

        rows = {}
        for name, repo in (("big", big), ("10 files", small)):
            rows[name] = pipeline(repo, args.sandbox, work / f"state-{name}.db")
        print(f"\n== chain task | analyze | process (--sandbox {args.sandbox}), each stage its own process")
        print(f"{'stage':<8} {'big s':>7} {'10-file s':>9} {'extra s':>8} {'big out bytes':>14}  big result")
        for st in ("task", "analyze", "process"):
            b, s_ = rows["big"][st], rows["10 files"][st]
            print(f"{st:<8} {b['wall_s']:7.2f} {s_['wall_s']:9.2f} {b['wall_s'] - s_['wall_s']:+8.2f} "
                  f"{b['bytes_out']:>14}  {b.get('summary', '')[:80]}")
        cands = [rows[name]["process"].get("candidates") for name in rows]
        print(f"(extra = what the big tree costs chain beyond the same project at 10 files, same tests; "
              f"repair candidates {cands[0]} vs {cands[1]}; direct pytest itself differs by "
              f"{direct['big'] - direct['10 files']:+.2f}s; target <= 1 s per stage)")

        print(f"\n== per-candidate materialization ({args.runs} runs each; one changed file)")
        mats = materialization(big, small, args.runs)
        for name, m in mats.items():
            print(f"{name:<18} first {m['first_ms']:8.1f} ms   then median {m['median_ms']:6.2f} ms "
                  f"(max {m['max_ms']:.2f})")
        for name in ("big base, overlay", "big base, copy"):
            ratio = mats[name]["median_ms"] / mats["10-file inline"]["median_ms"]
            print(f"{name} / 10-file inline task, per candidate: {ratio:.1f}x (target: the same order)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
