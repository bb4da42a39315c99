"""What chain's pytest plugins add to each test: a suite of N trivial tests, run with plain `python -m pytest`
and with chain's report and per-test-limits plugins loaded as a stage loads them (CHAIN_PYTEST_REPORT, a per-test
wall-clock limit, so the journal and the timers are on), in the same interpreter, interleaved.

    .venv/bin/python benchmarks/plugin_overhead.py [--tests 20000] [--rounds 5] [--plugin-dir DIR ...]

It prints, per variant, the median wall time and CPU time (user + system) of the pytest process and what the
plugins add per test over plain pytest's median, measured in this run. `--plugin-dir` (repeatable) adds a
variant with the plugins from another directory, e.g. an older checkout's `chain/sandbox/plugin`, to compare
before and after on the same machine at the same time. The CPU figures are the steadier ones on a shared
machine; the suite is the worst case for per-test costs (each test does nothing).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[1] / "chain" / "sandbox" / "plugin"
SUITE = """import pytest


@pytest.mark.parametrize("n", range({tests}))
def test_n(n):
    assert n >= 0
"""


def run(where: Path, plugin_dir: Path | None) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAIN_", "PYTEST_"))}
    if plugin_dir is not None:
        env.update(CHAIN_PYTEST_REPORT=str(where / "report.json"), CHAIN_TEST_TIMEOUT_S="30",
                   PYTHONPATH=str(plugin_dir), PYTEST_PLUGINS="chain_pytest_report")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "test_many.py"], cwd=where, env=env, capture_output=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"pytest failed ({done.returncode}): {done.stdout.decode()[-1000:]}{done.stderr.decode()[-1000:]}")
    for leftover in where.glob("report.json*"):
        leftover.unlink()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--plugin-dir", type=Path, action="append", default=[],
                        help="another directory holding chain_pytest_report.py and chain_test_limits.py")
    args = parser.parse_args()
    variants: list[tuple[str, Path | None]] = [("plain pytest", None), ("chain plugins (this tree)", PLUGINS)]
    variants += [(f"chain plugins ({d})", d) for d in args.plugin_dir]
    with tempfile.TemporaryDirectory(prefix="chain-plugin-overhead-") as tmp:
        where = Path(tmp)
        (where / "test_many.py").write_text(SUITE.format(tests=args.tests))
        run(where, None)  # warm the page cache and pytest's imports
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in variants}
        for _ in range(args.rounds):
            for name, plugin_dir in variants:
                figures[name].append(run(where, plugin_dir))
    base_wall = statistics.median(w for w, _ in figures["plain pytest"])
    base_cpu = statistics.median(c for _, c in figures["plain pytest"])
    print(f"{args.tests} trivial tests, {args.rounds} interleaved rounds, medians")
    print(f"{'variant':<60} {'wall s':>8} {'cpu s':>8} {'cpu ratio':>9} {'added cpu/test':>15}")
    for name, _ in variants:
        wall = statistics.median(w for w, _ in figures[name])
        cpu = statistics.median(c for _, c in figures[name])
        added = (cpu - base_cpu) / args.tests * 1e6
        print(f"{name[:60]:<60} {wall:8.2f} {cpu:8.2f} {cpu / base_cpu:8.3f}x {added:12.0f} us")
    del base_wall


if __name__ == "__main__":
    main()
