"""Stream 1M small non-task events through one chain stage and through `jq -c .` in the same run.

Prints events/s for both, the ratio, and the stage's peak RSS at two stream lengths (flat memory means the
peak does not grow with the stream). Target (issue 2): chain >= 2x jq, memory flat.

    python benchmarks/passthrough.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson


def make_input(path: Path, n: int) -> None:
    line = [orjson.dumps({"type": "log", "i": i, "msg": "hello", "ok": True}) for i in range(1000)]
    with open(path, "wb") as fh:
        for start in range(0, n, 1000):
            fh.write(b"\n".join(line[: min(1000, n - start)]) + b"\n")


def run(cmd: list[str], src: Path, env: dict | None = None) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, output lines) for one run reading src and writing to a pipe we count."""
    with open(src, "rb") as stdin:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, env=env)
        lines = 0
        while chunk := proc.stdout.read(1 << 20):
            lines += chunk.count(b"\n")
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed with status {status}")
    return elapsed, usage.ru_maxrss, lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--stage", default="analyze")
    args = ap.parse_args()
    jq = shutil.which("jq")
    chain_cmd = [sys.executable, "-m", "chain", args.stage, "--no-learn"]
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "small.ndjson", Path(tmp) / "big.ndjson"
        make_input(small, args.events // 10)
        make_input(big, args.events)
        env = {**os.environ, "CHAIN_STATE": str(Path(tmp) / "state.db")}
        c_secs, c_rss, c_lines = run(chain_cmd, big, env)
        _, c_rss_small, _ = run(chain_cmd, small, env)
        print(f"events                 {args.events:>12,}")
        print(f"chain {args.stage:<16} {args.events / c_secs:>12,.0f} events/s  ({c_secs:.2f} s, {c_lines:,} lines out)")
        if jq:
            j_secs, _, j_lines = run([jq, "-c", "."], big)
            print(f"jq -c .                {args.events / j_secs:>12,.0f} events/s  ({j_secs:.2f} s, {j_lines:,} lines out)")
            print(f"ratio chain / jq       {j_secs / c_secs:>12.2f} x   (target >= 2x)")
        else:
            print("jq not found: install Debian's jq for the comparison")
        print(f"chain peak RSS         {c_rss / 1024:>12.1f} MiB at {args.events:,} events, "
              f"{c_rss_small / 1024:.1f} MiB at {args.events // 10:,} (flat memory: about equal)")
        if c_lines != args.events:
            raise SystemExit(f"lost lines: {args.events} in, {c_lines} out")


if __name__ == "__main__":
    main()
