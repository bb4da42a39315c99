"""Validating many repair candidates in one sandbox run (chain.repair.batch_runner does the work inside).

A fresh `python -m pytest` per candidate pays the interpreter's start-up, pytest's import and plugin set-up
every time: hundreds of milliseconds for a candidate whose tests take one. A batch is one run of a plain pytest
command with chain's batch plugin (chain.repair.batch_plugin; warm where the backend is): it collects the
session once on the original files and forks a child per candidate from the collected session with the
candidate's code swapped into the imported modules (mutmut 3's fork mode and trampoline:
chain.repair.batch_collector, batch_swap), so a candidate costs a fork and its tests. A candidate the swap
cannot cover (a change outside function bodies, a test module or conftest.py, a function that ran at import)
is run by a fresh pytest session forked before anything of the workspace was imported; `Verdict.via` says
which. The batch runner (chain.repair.batch_runner, a command of its own) imports every candidate fresh.
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
PLUGIN = "_chain_batch_plugin"  # the batch's pytest plugin (chain.repair.batch_plugin)
BATCH_FILE = "_chain_batch.json"
RUNNER_SOURCE = (Path(__file__).with_name("batch_runner.py")).read_text(encoding="utf-8")
SHIPPED = {  # what the runner imports, next to it in the workspace
    f"_chain_{name}.py": (Path(__file__).with_name(f"{name}.py")).read_text(encoding="utf-8")
    for name in ("batch_plugin", "batch_collector", "batch_swap", "batch_runner")
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


def _lines(ctx: StageContext, workspace: dict[str, str], command: str, label: str, n: int, wall_s: float):
    # The run's own timeout covers every candidate at its worst (screen and full run at the wall limit),
    # within twice the profile's run timeout.
    outer = min(2 * ctx.run_timeout, 5.0 + 2 * wall_s * n)
    outcome = replace(ctx, timeout_s=outer).run_tests(workspace, command, label=label).outcome
    for text in outcome.stdout.splitlines():
        if text.startswith(MARK):
            try:
                yield orjson.loads(text[len(MARK) :])
            except orjson.JSONDecodeError:
                continue


def run_batch(
    ctx: StageContext,
    base_files: dict[str, str],
    candidates: list[tuple[dict[str, str], list[str] | None]],
    test: str,
    limits: CandidateLimits,
    label: str,
    collect: bool = True,
) -> list[Verdict]:
    """Verdicts, in order, for candidates given as (changed files, screening nodeids or None for none), from
    one run of the batch plugin (a plain pytest command: warm where the backend is). `collect=False`: every
    candidate imported fresh by the batch runner (a command of its own: cold)."""
    parts = split_pytest(test)
    assert parts is not None, "batch validation needs a plain pytest command"
    _, args = parts
    flags, paths = [a for a in args if a.startswith("-")], [a for a in args if not a.startswith("-")]
    batch: dict[str, Any] = {
        "args": flags,
        "paths": paths,
        "test_cpu_s": limits.test_cpu_s,
        "run_cpu_s": limits.run_cpu_s,
        "wall_s": limits.wall_s,
        "candidates": [{"files": files, "screen": screen} for files, screen in candidates],
    }
    python = _interpreter(test)
    results: dict[int, dict[str, Any]] = {}
    if collect:
        plugin = ["-p", PLUGIN, "-p", "no:cacheprovider", *flags, "--tb=no", "-x", *paths]
        command = " ".join(shlex.quote(a) for a in [python, "-m", "pytest", *plugin])
        workspace = {**base_files, **SHIPPED, BATCH_FILE: json.dumps(batch)}
        for line in _lines(ctx, workspace, command, f"{label} batch", len(candidates), limits.wall_s):
            results[int(line["index"])] = line
    # Without the plugin (collect=False), or for what it left without a verdict: the batch runner, fresh.
    fresh = [i for i in range(len(candidates)) if i not in results]
    if fresh:
        batch["candidates"] = [batch["candidates"][i] for i in fresh]
        workspace = {**base_files, **SHIPPED, RUNNER_FILE: RUNNER_SOURCE, BATCH_FILE: json.dumps(batch)}
        command = " ".join(shlex.quote(a) for a in [python, RUNNER_FILE, BATCH_FILE])
        for line in _lines(ctx, workspace, command, f"{label} batch", len(fresh), limits.wall_s):
            i = fresh[int(line["index"])]
            for run in (line.get("screen"), line.get("full")):
                if run is not None:
                    run["via"] = "fresh: the batch plugin gave no verdict" if collect else "fresh"
            results[i] = line
    return [_verdict(results.get(i)) for i in range(len(candidates))]
