"""Validating many repair candidates in one sandbox run (chain.repair.batch_runner does the work inside).

A fresh `python -m pytest` per candidate pays the interpreter's start-up, pytest's import and plugin set-up
every time: hundreds of milliseconds for a candidate whose tests take one. The batch runner pays them once per
batch, collects the session once on the original files, and forks a child per candidate from the collected
session with the candidate's code swapped into the imported modules (mutmut 3's fork mode and trampoline:
chain.repair.batch_collector, batch_swap), so a candidate costs a fork and its tests. A candidate the swap
cannot cover (a change outside function bodies, a test module or conftest.py, a function that ran at import)
is imported fresh in a child of its own, as before; `Verdict.via` says which.
The children of one batch share the sandbox run (a candidate that writes files is seen by the next in the same
batch); that can only cost a good candidate its place, never let a bad one through: the patch chain reports is
verified again by the task's own command in a fresh sandbox run.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from ..context import StageContext
from ..pytest_command import split_pytest
from .limits import CandidateLimits

RUNNER_FILE = "_chain_batch_runner.py"
BATCH_FILE = "_chain_batch.json"
RUNNER_SOURCE = (Path(__file__).with_name("batch_runner.py")).read_text(encoding="utf-8")
SHIPPED = {  # what the runner imports, next to it in the workspace
    f"_chain_{name}.py": (Path(__file__).with_name(f"{name}.py")).read_text(encoding="utf-8")
    for name in ("batch_collector", "batch_swap")
}
MARK = "CHAIN-BATCH "


@dataclass
class Verdict:
    """What one candidate's runs showed."""

    screened: bool  # its screening tests all passed (or it had none to screen)
    passed: bool  # ... and then the whole suite passed
    fixed: int  # tests that passed before the first failure in screening (failing tests run first)
    ended: str  # why the run that decided it ended: exit / cpu / wall / ... / missing
    ms: float
    first_failure: str | None = None
    cpu_limited: int = 0  # tests stopped by the per-test CPU-time limit
    via: str = ""  # "swap" (forked from the collected session), else "fresh" and why the swap was refused


def supported(test: str) -> bool:
    return split_pytest(test) is not None


def _interpreter(test: str) -> str:
    base, _ = split_pytest(test) or (["python"], [])
    return base[0] if base[0].startswith("python") else "python"


def _verdict(line: dict[str, Any] | None) -> Verdict:
    if line is None:
        return Verdict(False, False, 0, "missing", 0.0)
    screen, full = line.get("screen"), line.get("full")
    ok = lambda r: r is not None and r.get("exit") == 0 and not r.get("n_failed")  # noqa: E731
    decided = full if full is not None else screen
    screened = screen is None or ok(screen)
    return Verdict(
        screened,
        screened and ok(full),
        int((screen or full or {}).get("passed", 0)),
        str(decided.get("ended", "?")) if decided else "?",
        float((screen or {}).get("ms", 0.0)) + float((full or {}).get("ms", 0.0)),
        next(iter((decided or {}).get("failed") or []), None),
        int((screen or {}).get("cpu_limited", 0)) + int((full or {}).get("cpu_limited", 0)),
        str((decided or {}).get("via", "")),
    )


def run_batch(
    ctx: StageContext,
    base_files: dict[str, str],
    candidates: list[tuple[dict[str, str], list[str] | None]],
    test: str,
    limits: CandidateLimits,
    label: str,
    collect: bool = True,
) -> list[Verdict]:
    """Verdicts, in order, for candidates given as (changed files, screening nodeids or None for none).
    `collect=False`: every candidate imported fresh (no collected session to swap code into)."""
    parts = split_pytest(test)
    assert parts is not None, "batch validation needs a plain pytest command"
    _, args = parts
    batch = {
        "args": [a for a in args if a.startswith("-")],
        "paths": [a for a in args if not a.startswith("-")],
        "test_cpu_s": limits.test_cpu_s,
        "run_cpu_s": limits.run_cpu_s,
        "wall_s": limits.wall_s,
        "collect": collect,
        "candidates": [{"files": files, "screen": screen} for files, screen in candidates],
    }
    workspace = {**base_files, **SHIPPED, RUNNER_FILE: RUNNER_SOURCE, BATCH_FILE: json.dumps(batch)}
    command = " ".join(shlex.quote(a) for a in [_interpreter(test), RUNNER_FILE, BATCH_FILE])
    # The run's own timeout covers every candidate at its worst (screen and full run at the wall limit),
    # within twice the profile's run timeout.
    outer = min(2 * ctx.run_timeout, 5.0 + 2 * limits.wall_s * len(candidates))
    run_ctx = replace(ctx, timeout_s=outer)
    outcome = run_ctx.run_tests(workspace, command, label=f"{label} batch").outcome
    lines: dict[int, dict[str, Any]] = {}
    for text in outcome.stdout.splitlines():
        if text.startswith(MARK):
            try:
                line = orjson.loads(text[len(MARK) :])
            except orjson.JSONDecodeError:
                continue
            lines[int(line["index"])] = line
    return [_verdict(lines.get(i)) for i in range(len(candidates))]
