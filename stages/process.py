"""process: repair what the tests show is broken, and prove it by running them again in the sandbox.

A unified diff carried in the task (metadata "patch") is applied first. If the tests still fail, the built-in
search-based repair looks for the smallest edit that makes every test pass: mutation operators at the lines
analyze ranked most suspicious (computed here when the task has no analysis), candidates evaluated in the
sandbox in parallel, budgets from the profile. Nothing is called fixed unless the sandboxed tests pass and
it does what the original did on the calls the original's passing tests made to the functions it changes
(chain.equivalence, scope "inputs where the original was right"; the verdict is the result's
data.equivalence). An agent's fix (--agent) is checked the same way.
"""

from __future__ import annotations

import time

from chain.context import StageContext
from chain.equivalence.check import RIGHT, EquivalenceCheck
from chain.patching import PatchError, apply_unified_diff, unified_diff
from chain.protocol import Result, Task
from chain.repair.coverage import localize_with_map
from chain.repair.learning import OperatorPriors, failure_shape, observations
from chain.repair.limits import CandidateLimits, from_original
from chain.repair.search import search

# The first run knows nothing of the code's cost yet: a generous per-test CPU limit, a loop's backstop only.
FIRST_RUN_LIMITS = CandidateLimits(test_cpu_s=2.0, run_cpu_s=120, wall_s=60.0)
ALTERNATIVES_REPORTED = 3

HELP = "Repair failing tasks (patch from the task, then search-based repair at suspicious lines); verify by tests."


def _known_suspicious(task: Task) -> list[dict] | None:
    """analyze's ranking, if it was computed on exactly these files."""
    entry = task.last("analyze")
    if entry is None or entry.data.suspicious is None:
        return None
    later = task.history[task.history.index(entry) + 1 :]
    if any(h.data.diff for h in later):
        return None  # the code changed since: rank again
    return [line.model_dump() for line in entry.data.suspicious]


def _first_run(files: dict[str, str], task: Task, ctx: StageContext):
    """The tests as the task gives them, with a per-test CPU-time limit (the engine's CHAIN_TEST_CPU_S, which
    only pytest runs honour): an original whose bug loops forever fails its looping tests instead of holding
    the run to its timeout."""
    first = FIRST_RUN_LIMITS
    ev = ctx.run_tests(files, task.test, label=task.id, env=first.env())
    stopped = [c.nodeid for c in ev.failing if c.outcome == "timeout"]
    note = f"{len(stopped)} test(s) stopped at the per-test CPU limit of {first.test_cpu_s:g}s" if stopped else None
    return ev, note


def run(task: Task, ctx: StageContext) -> Result:
    started = time.monotonic()
    files = task.files.copy()  # a by-reference task's files keep reading through to its base
    notes: list[str] = []
    data: dict = {}
    patch = task.metadata.get("patch")
    if patch:
        try:
            files = apply_unified_diff(files, patch, binary=task.blobs)
            notes.append("patch applied")
        except PatchError as exc:
            notes.append(f"patch rejected: {exc}")
    ev, limited = _first_run(files, task, ctx)
    if limited:
        notes.append(limited)
    if ev.status in ("failed", "error") and ev.failing and not ctx.cancel.is_set():
        limits = from_original(ev, ctx.run_timeout)
        ranking, coverage, why = localize_with_map(files, task.test, ev, ctx, task.id, limits)
        # Repair's own ranking (per test item) when its coverage run worked; else analyze's.
        suspicious = ranking or (None if patch else _known_suspicious(task))
        if suspicious is None:
            suspicious = []
            if why:
                notes.append(why)
        equivalence = EquivalenceCheck(ctx, files, task.test, RIGHT, task.id, limits.test_cpu_s)
        if ctx.options.external_agent:
            from chain.agents.repair import agent_repair  # only when an agent is asked for

            asked = agent_repair(task, files, ev, suspicious, ctx)
            data["agent"] = {"agent": ctx.options.agent, "rounds": asked.rounds}
            verdict = equivalence.check(asked.files) if asked.files is not None else None
            if asked.files is not None and verdict is not None and verdict.equivalent is not False:
                notes.append(f"repaired by {ctx.options.agent} in {len(asked.rounds)} round(s)")
                data["equivalence"] = verdict
                return _result(task, asked.files, asked.evaluation, ctx, started, notes, data)
            if verdict is not None:  # it passes, but changes what the original got right: not a repair
                data["agent"]["equivalence"] = verdict.model_dump()
                notes.append(f"{ctx.options.agent}'s fix changes behaviour the original got right; built-in search")
            else:
                notes.append(f"{ctx.options.agent} found no passing fix; built-in search")
        shape = failure_shape(ev)
        priors = OperatorPriors.load(ctx.store, ctx.stage)
        found = search(
            files,
            task.test,
            [c.nodeid for c in ev.failing],
            suspicious,
            ctx,
            limits,
            coverage,
            priors,
            shape,
            task.id,
            ctx.options.time_budget_s,
            equivalence.check,
        )
        _learn(ctx, found)
        data["repair"] = _report(found, ctx, limits, shape, files)
        if found.equivalence is not None:
            data["equivalence"] = found.equivalence
        if found.fixed is not None:
            files, ev = found.fixed.files, found.evaluation
            notes.append(f"repaired with {len(found.fixed.edits)} edit(s) after {found.evaluated} candidates")
        else:
            notes.append(
                f"no repair found in {found.evaluated} candidates" + (f" ({found.stopped})" if found.stopped else "")
            )
    elif ev.status == "passed" and not patch:
        notes.append("tests pass: nothing to repair")
    return _result(task, files, ev, ctx, started, notes, data)


def _learn(ctx: StageContext, found) -> None:
    if ctx.store is None or not found.tried:
        return
    fix_ops = {e.operator for e in found.fixed.edits} if found.fixed else set()
    fix_context = found.fixed.context if found.fixed else None
    ctx.store.fold_operators(ctx.stage, observations(found.tried, fix_ops, fix_context), ctx.profile.ema_alpha)


def _report(found, ctx: StageContext, limits, shape: str, files: dict[str, str]) -> dict:
    settings = ctx.profile.search
    report = {
        "candidates_evaluated": found.evaluated,
        "plausible": found.plausible,
        "lines_considered": [f"{s['file']}:{s['line']}" for s in found.lines],
        "max_edits": settings.max_edits,
        "budget": settings.candidate_budget,
        "time_budget_s": ctx.options.time_budget_s or settings.time_budget_s,
        "seconds": round(found.seconds, 3),
        "candidates_per_s": round(found.evaluated / found.seconds, 2) if found.seconds else None,
        "failure_shape": shape,
        "verification": found.verification,
        "limits": {"test_cpu_s": limits.test_cpu_s, "run_cpu_s": limits.run_cpu_s, "wall_s": limits.wall_s},
    }
    if found.rejected:  # they passed every test, and changed what a passing test's calls returned
        report["rejected_by_equivalence"] = [
            {**cand.describe(), "differences": [d.model_dump() for d in verdict.differences]}
            for cand, verdict in found.rejected
        ]
    if found.fixed is not None:
        report["edits"] = [e.describe() for e in found.fixed.edits]
        report["ranking"] = {"changed_tokens": found.fixed.changed_tokens, "covering_tests": found.fixed.covering}
        report["alternatives"] = [
            {**alt.describe(), "diff": unified_diff(files, alt.files)}
            for alt in found.alternatives[:ALTERNATIVES_REPORTED]
        ]
    return report


def _result(
    task: Task, files: dict[str, str], ev, ctx: StageContext, started: float, notes: list[str], data: dict
) -> Result:
    diff = unified_diff(task.files, files)
    data.update(
        {
            "diff": diff,
            "notes": notes,
            "changed_files": sorted(p for p in set(task.files) | set(files) if task.files.get(p) != files.get(p)),
        }
    )
    updated = task.model_copy(update={"files": files})
    summary = ev.summary + (f" ({'; '.join(notes)})" if notes else "")
    return ctx.result(updated, ev, summary, data, started)
