"""Sandbox throughput: the three figures of the sandbox issue, measured side by side in one run.

1. Trivial-task evaluations per second through `chain analyze` against a naive `python -m pytest` per task,
   2 at a time, in a clean venv (only pytest installed). Target >= 50x; below 10x is not done.
2. Coordination efficiency T(N) / (N * T(1)) for CPU-bound tasks at N = 1, 2, 4 (T = tasks per second),
   median of interleaved rounds. Target >= 90% at N = cores (N above the core count cannot scale past cores/N).
3. Latency-bound tasks (each test sleeps 1 s) at 50 concurrent, against the ideal 50 tasks/s. Target >= 90%.
   Beside it, the time from the last result to the stage's exit (closing the pool of 50 workers).
4. The trivial-task rate of each confining warm backend side by side (bwrap-warm: namespaces; landlock-warm:
   Landlock + seccomp applied in every run's child), measured in interleaved rounds, and their ratio: the
   restriction costs a few syscalls per run and must not cost the warm pool's speed.

    python benchmarks/sandbox_throughput.py [--sandbox auto] [--tasks 600] [--naive-tasks 40]

"end-to-end" includes starting chain and its warm workers; "steady" leaves out a warm-up (the first
results of the same stream) and is what a long-running pipeline sees. Timings are wall-clock on a shared
machine: run it twice and expect noise. The clean venv for the baseline is made once (pip install pytest)
under $TMPDIR/chain-bench-clean-venv; --naive-python uses an existing interpreter instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
CHAIN = [sys.executable, "-m", "chain"]
CORES = os.cpu_count() or 1

MOD = "def add(a, b):\n    return a + b\n"
TRIVIAL = "from mod import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
CPU_BOUND = "def test_spin():\n    assert sum(i * i for i in range(2_500_000)) > 0\n"
SLEEPER = "import time\n\ndef test_sleep():\n    time.sleep(1)\n"


def task(task_id: str, tests: str) -> bytes:
    return orjson.dumps({"type": "task", "id": task_id, "files": {"mod.py": MOD, "test_mod.py": tests},
                         "test": "python -m pytest -q"})


def run_stream(lines: list[bytes], *args: str, env: dict[str, str]) -> tuple[float, list[float]]:
    """Feed `lines` to `chain analyze ARGS`; returns (total wall s, arrival time of each result since start)."""
    started = time.monotonic()
    proc = subprocess.Popen([*CHAIN, "analyze", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=env)

    def feed() -> None:
        proc.stdin.write(b"\n".join(lines) + b"\n")
        proc.stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    arrivals, statuses = [], {}
    for line in proc.stdout:
        event = orjson.loads(line)
        if event.get("type") == "result":
            arrivals.append(time.monotonic() - started)
            statuses[event["status"]] = statuses.get(event["status"], 0) + 1
    err = proc.stderr.read()
    proc.wait()
    total = time.monotonic() - started
    if proc.returncode != 0 or len(arrivals) != len(lines) or set(statuses) != {"passed"}:
        sys.exit(f"chain analyze {' '.join(args)} failed ({proc.returncode}, {statuses}): {err.decode()[-2000:]}")
    return total, arrivals


def clean_venv_python(explicit: str | None) -> str:
    if explicit:
        return explicit
    venv = Path(tempfile.gettempdir()) / "chain-bench-clean-venv"
    python = venv / "bin" / "python"
    if subprocess.run([python, "-m", "pytest", "--version"], capture_output=True).returncode != 0 if python.exists() else True:
        shutil.rmtree(venv, ignore_errors=True)
        print(f"making a clean venv with only pytest in {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "pytest"], check=True)
    return str(python)


def naive_rate(python: str, count: int) -> float:
    """`python -m pytest -q` per task in its own directory, 2 at a time, as a user would script it."""
    with tempfile.TemporaryDirectory() as tmp:
        dirs = []
        for i in range(count):
            d = Path(tmp) / f"t{i}"
            d.mkdir()
            (d / "mod.py").write_text(MOD)
            (d / "test_mod.py").write_text(TRIVIAL)
            dirs.append(d)

        def one(d: Path) -> int:
            return subprocess.run([python, "-m", "pytest", "-q"], cwd=d,
                                  capture_output=True).returncode

        started = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            codes = list(pool.map(one, dirs))
        elapsed = time.monotonic() - started
    assert codes == [0] * count, codes
    return count / elapsed


def steady(arrivals: list[float], skip: int) -> float:
    """Results per second after the first `skip` results."""
    window = arrivals[-1] - arrivals[skip - 1]
    return (len(arrivals) - skip) / window if window > 0 else float("inf")


def compare_backends(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Figure 4: steady trivial-task rates of `--compare` backends, rounds interleaved so drift in the
    machine's load hits each alike."""
    from chain import registry

    names = [n for n in args.compare.split(",") if n]
    print(f"\n4. trivial tasks, 2 at a time, per backend ({args.compare_tasks} tasks x {args.repeats} interleaved "
          "rounds, steady)")
    usable = []
    for name in names:
        ok, why = registry.get().sandboxes[name].available()
        if ok:
            usable.append(name)
        else:
            print(f"   {name}: unavailable here ({why})")
    rates: dict[str, list[float]] = {name: [] for name in usable}
    for _ in range(args.repeats):
        for name in usable:
            trivial = [task(f"c{i}", TRIVIAL) for i in range(args.compare_tasks)]
            _total, arrivals = run_stream(trivial, "--sandbox", name, "-j", "2", env=env)
            rates[name].append(steady(arrivals, min(50, len(trivial) // 4)))
    first = usable[0] if usable else None
    for name in usable:
        rate = statistics.median(rates[name])
        ratio = f"   = {rate / statistics.median(rates[first]):5.2f}x {first}" if name != first else ""
        print(f"   {name:14s} {rate:8.1f} tasks/s  (rounds {', '.join(f'{r:.1f}' for r in rates[name])}){ratio}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sandbox", default="auto", help="backend for chain (default: auto, what users get)")
    ap.add_argument("--tasks", type=int, default=600, help="trivial tasks through chain analyze")
    ap.add_argument("--naive-tasks", type=int, default=40, help="trivial tasks for the naive baseline")
    ap.add_argument("--cpu-tasks", type=int, default=16, help="CPU-bound tasks per N")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds of the CPU-bound figure")
    ap.add_argument("--sleepers", type=int, default=200, help="sleeping tasks at 50 concurrent")
    ap.add_argument("--naive-python", default=None, help="interpreter of an existing clean venv")
    ap.add_argument("--compare", default="bwrap-warm,landlock-warm",
                    help="warm backends whose trivial-task rates figure 4 puts side by side")
    ap.add_argument("--compare-tasks", type=int, default=300, help="trivial tasks per backend and round (figure 4)")
    ap.add_argument("--only-compare", action="store_true", help="measure figure 4 only")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CHAIN_STATE": str(Path(tmp) / "bench.db")}
        sb = ["--sandbox", args.sandbox]
        print(f"machine: {CORES} cores; sandbox: {args.sandbox}; learning on (fresh state db)", file=sys.stderr)

        if args.only_compare:
            compare_backends(args, env)
            return
        # 1. trivial tasks
        python = clean_venv_python(args.naive_python)
        # The baseline is measured before and after chain's run and averaged, so that a change in the
        # machine's load (other people's work) during the run biases the ratio less.
        naive_before = naive_rate(python, args.naive_tasks // 2)
        trivial = [task(f"t{i}", TRIVIAL) for i in range(args.tasks)]
        total, arrivals = run_stream(trivial, *sb, "-j", "2", env=env)
        naive_after = naive_rate(python, args.naive_tasks - args.naive_tasks // 2)
        naive = (naive_before + naive_after) / 2
        e2e, warm = len(trivial) / total, steady(arrivals, min(50, len(trivial) // 4))
        print("\n1. trivial tasks, 2 at a time")
        print(f"   naive python -m pytest per task (clean venv): {naive:8.1f} tasks/s  ({args.naive_tasks} tasks;"
              f" {naive_before:.1f} before chain's run, {naive_after:.1f} after)")
        print(f"   chain analyze --sandbox {args.sandbox} -j 2, end-to-end: {e2e:8.1f} tasks/s  ({args.tasks} tasks)"
              f"   = {e2e / naive:5.1f}x")
        print(f"   chain analyze --sandbox {args.sandbox} -j 2, steady:     {warm:8.1f} tasks/s"
              f"   = {warm / naive:5.1f}x   (target >= 50x; < 10x is not done)")

        # 2. CPU-bound coordination efficiency. T(1) and T(N) measured seconds apart differ by the machine's
        # drift as much as by coordination, so N = 1, 2, 4 are measured in turn, --repeats times, each
        # round's efficiency is taken against that round's T(1), and the median is reported.
        print(f"\n2. CPU-bound tasks ({args.cpu_tasks} per N, {args.repeats} interleaved rounds), "
              f"efficiency T(N) / (N * T(1)) on {CORES} cores")
        rates: dict[int, list[float]] = {1: [], 2: [], 4: []}
        for _ in range(args.repeats):
            for n in rates:
                warmup = [task(f"w{i}", TRIVIAL) for i in range(n)]
                work = [task(f"c{i}", CPU_BOUND) for i in range(args.cpu_tasks)]
                _, arrivals = run_stream(warmup + work, *sb, "-j", str(n), env=env)
                rates[n].append(args.cpu_tasks / (arrivals[-1] - arrivals[n - 1]))
        for n, measured in rates.items():
            effs = sorted(r / (n * base) for r, base in zip(measured, rates[1]))
            note = " (target >= 90%)" if n == CORES else f" (N > cores: at most {CORES / n:.0%})" if n > CORES else ""
            spread = f"  rounds {', '.join(f'{e:.0%}' for e in effs)}" if n > 1 else ""
            print(f"   N={n}: {statistics.median(measured):6.2f} tasks/s   efficiency {statistics.median(effs):6.1%}"
                  f"{note}{spread}")

        # 3. latency-bound
        sleepers = [task(f"s{i}", SLEEPER) for i in range(args.sleepers)]
        # --unordered: each result is written when its task finishes, so arrival times are completion times
        total, arrivals = run_stream(sleepers, *sb, "-j", "50", "--unordered", env=env)
        e2e, warm = len(sleepers) / total, steady(arrivals, 50)
        print(f"\n3. latency-bound tasks (test sleeps 1 s), 50 concurrent, {args.sleepers} tasks; ideal 50 tasks/s")
        print(f"   end-to-end: {e2e:6.1f} tasks/s = {e2e / 50:6.1%} of ideal")
        print(f"   steady:     {warm:6.1f} tasks/s = {warm / 50:6.1%} of ideal (target >= 90%)")
        # what the stage costs after its last result: closing 50 warm workers (a pipeline waits for it)
        print(f"   last result to exit: {total - arrivals[-1]:5.2f} s (closing the pool of 50 workers)")

        # 4. the confining warm backends side by side
        compare_backends(args, env)


if __name__ == "__main__":
    main()
