"""optimize: make passing code measurably faster, and prove it.

Only for tasks whose tests pass. Times the task's bench command (wall clock) or its tests (the sum of the
tests' own durations, so the sandbox's start-up does not drown the code's time) `profile.run.repeats` times;
tries the semantics-preserving rewrites of `chain.optimize.rewrites` (and an agent's suggestions with
--agent); keeps a candidate only if every test still passes, it does what the original did on every call the
tests made to the functions it changed (chain.equivalence: recorded in the original's run, replayed on the
candidate, in the sandbox; the verdict is the result's data.equivalence), and the bootstrap interval of the
median-time ratio clears the profile's margin at its confidence (an interval left undecided by an outlier is
measured further, `settled_speedup`). Reports the measured speedup and its interval.
"""

from __future__ import annotations

import statistics
import time
from functools import partial
from typing import Any

from chain.context import StageContext
from chain.equivalence.check import ALL, EquivalenceCheck
from chain.findings import Equivalence
from chain.optimize.rewrites import Rewrite, candidates
from chain.optimize.stats import bootstrap_speedup, settled_speedup
from chain.patching import unified_diff
from chain.protocol import Result, Task

HELP = "Time passing tasks; keep rewrites (memoize, set membership, hoisting, join) that are measurably faster."
MAX_TRIES = 12


def _agent_suggestions(task: Task, ctx: StageContext, timing: dict) -> list[Rewrite]:
    if not ctx.options.external_agent:
        return []
    from chain.agents.optimize import agent_rewrites  # imported only when an agent is asked for

    return agent_rewrites(task, ctx, timing)


class Timer:
    def __init__(self, task: Task, ctx: StageContext):
        self.task, self.ctx = task, ctx
        self.command = task.bench or task.test
        self.runs = 0
        self.per_test: dict[int, dict[str, float]] = {}  # id(times) -> each test's minimum over the repeats
        self.pending: dict[int, dict[str, float]] = {}  # id(times) -> the same of a batch not yet kept (`keep`)

    def measure(self, files: dict[str, str]) -> tuple[list[float] | None, str]:
        """`repeats` timings of the files, or None with the reason when a run does not pass."""
        if self.task.bench:
            check = self.ctx.run_tests(files, self.task.test, label=self.task.id)
            self.runs += 1
            if check.status != "passed":
                return None, f"tests: {check.summary}"
        times: list[float] = []
        fastest: dict[str, float] = {}
        for _ in range(self.ctx.profile.run.repeats):
            ev = self.ctx.run_tests(files, self.command, label=self.task.id)
            self.runs += 1
            if ev.status != "passed":
                return None, ev.summary
            times.append(ev.duration_ms if self.task.bench else sum(c.duration_ms for c in ev.cases))
            for case in ev.cases:
                fastest[case.nodeid] = min(fastest.get(case.nodeid, case.duration_ms), case.duration_ms)
        self.per_test[id(times)] = fastest
        return times, ""

    def again(self, files: dict[str, str], times: list[float]) -> list[float] | None:
        """Another `repeats` timings of the files, for the record `times`. Each test's minimum over them is
        merged into that record's only by `keep`, once both sides of the round were measured: a round whose
        other side failed adds to neither, so both figures of min_of_n come from the same number of runs."""
        more, _why = self.measure(files)
        if more is None:
            return None
        self.pending[id(times)] = self.per_test.pop(id(more))
        return more

    def keep(self) -> None:
        """The round `again` measured counts (`settled_speedup` added its timings to both lists)."""
        for record, fastest in self.pending.items():
            kept = self.per_test.setdefault(record, {})
            for nodeid, ms in fastest.items():
                kept[nodeid] = min(kept.get(nodeid, ms), ms)
        self.pending.clear()

    def min_of_n(self, baseline: list[float], optimized: list[float]) -> dict | None:
        """The second, robust figure: each test's fastest of the N runs, summed, before over after (the tests
        both runs have; noise only ever adds time, so the minimum is the least disturbed measurement)."""
        before, after = self.per_test.get(id(baseline), {}), self.per_test.get(id(optimized), {})
        common = sorted(set(before) & set(after))
        if not common:
            return None
        b, a = sum(before[t] for t in common), sum(after[t] for t in common)
        return {
            "tests": len(common),
            "baseline_ms": round(b, 4),
            "optimized_ms": round(a, 4),
            "ratio": round(b / max(a, 1e-6), 3),
        }


def _changes_behaviour(verdict: Equivalence) -> str:
    first = verdict.differences[0]
    return (
        f"changes behaviour on a recorded call: {first.call} {first.why} "
        f"(original: {first.expected}; rewrite: {first.actual})"
    )


def _stats(times: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(times), 4),
        "min_ms": round(min(times), 4),
        "runs": len(times),
        "times_ms": [round(t, 4) for t in times],
    }


def run(task: Task, ctx: StageContext) -> Result:
    started = time.monotonic()
    ev = ctx.run_tests(task.files, task.test, label=task.id)
    data: dict = {}
    if ev.status != "passed":
        return ctx.result(task, ev, ev.summary + "; not optimized (tests do not pass)", {"diff": ""}, started)
    timer = Timer(task, ctx)
    baseline, why = timer.measure(task.files)
    if baseline is None:
        data["bench_error"] = why
        return ctx.result(task, ev, ev.summary + f"; not timed ({why})", data, started)
    accept = ctx.profile.accept
    files, times = dict(task.files), baseline
    applied: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    tried: set[tuple[str, str]] = set()
    suggested = _agent_suggestions(task, ctx, _stats(times))  # asked once; timed like the built-in rewrites
    equivalence = EquivalenceCheck(ctx, task.files, task.test, ALL, task.id)
    accepted: Equivalence | None = None
    for _ in range(MAX_TRIES):
        pending = [c for c in candidates(files) + suggested if (c.file, c.name) not in tried]
        if not pending or ctx.cancel.is_set():
            break
        cand = pending[0]
        tried.add((cand.file, cand.name))
        trial = {**files, cand.file: cand.text}
        trial_times, why = timer.measure(trial)
        if trial_times is None:
            rejected.append({"rewrite": cand.name, "file": cand.file, "reason": why})
            continue
        # Passing the tests is not enough: on every call the tests made, it must do what the original did.
        verdict = equivalence.check(trial)
        if verdict.equivalent is False:
            rejected.append(
                {
                    "rewrite": cand.name,
                    "file": cand.file,
                    "reason": _changes_behaviour(verdict),
                    "equivalence": verdict.model_dump(),
                }
            )
            continue
        timer.pending.clear()  # a round of an earlier candidate one side of which failed: never kept
        speedup = settled_speedup(
            times,
            trial_times,
            partial(timer.again, files, times),
            partial(timer.again, trial, trial_times),
            accept.margin,
            accept.confidence,
            ctx.seed,
            kept=timer.keep,
        )
        if speedup.beats(accept.margin):
            files, times, accepted = trial, trial_times, verdict
            applied.append(
                {"rewrite": cand.name, "file": cand.file, **speedup.as_dict(), "equivalence": verdict.model_dump()}
            )
        else:
            rejected.append(
                {"rewrite": cand.name, "file": cand.file, "reason": "not faster beyond the margin", **speedup.as_dict()}
            )
    total = bootstrap_speedup(baseline, times, accept.confidence, seed=ctx.seed)
    final = ctx.run_tests(files, task.test, label=task.id) if applied else ev
    data.update(
        {
            "timing": {
                "command": timer.command,
                "measure": "wall clock" if task.bench else "sum of test durations",
                "baseline": _stats(baseline),
                "optimized": _stats(times),
            },
            "speedup": total.as_dict() if applied else None,
            "min_of_n": timer.min_of_n(baseline, times) if not task.bench else None,
            "margin": accept.margin,
            "applied": applied,
            "rejected": rejected,
            "diff": unified_diff(task.files, files),
        }
    )
    if accepted is not None:  # checked against the original: it covers every rewrite applied before it
        data["equivalence"] = accepted
    if applied:
        summary = (
            f"{final.summary}; {total.ratio:.1f}x faster ({total.low:.1f}-{total.high:.1f}x at "
            f"{accept.confidence:.0%}) by {', '.join(a['rewrite'] for a in applied)}"
        )
    else:
        summary = (
            f"{final.summary}; median {statistics.median(baseline):.2f} ms over {len(baseline)} runs; "
            f"no rewrite was faster beyond {accept.margin:.0%}"
        )
    return ctx.result(task.model_copy(update={"files": files}), final, summary, data, started)
