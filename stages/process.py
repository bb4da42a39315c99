"""process: repair what the tests show is broken, and prove it by running them again in the sandbox.

A unified diff carried in the task (metadata "patch") is applied first. If the tests still fail, the built-in
search-based repair looks for the smallest edit that makes every test pass: mutation operators at the lines
analyze ranked most suspicious (computed here when the task has no analysis), candidates evaluated in the
sandbox in parallel, budgets from the profile. Nothing is called fixed unless the sandboxed tests pass.
"""

from __future__ import annotations

import time

from chain.analysis.spectrum import localize
from chain.context import StageContext
from chain.patching import PatchError, apply_unified_diff, unified_diff
from chain.protocol import Result, Task, make_result
from chain.repair.search import search

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


def run(task: Task, ctx: StageContext) -> Result:
    started = time.monotonic()
    files = dict(task.files)
    notes: list[str] = []
    data: dict = {}
    patch = task.metadata.get("patch")
    if patch:
        try:
            files = apply_unified_diff(files, patch, binary=task.blobs)
            notes.append("patch applied")
        except PatchError as exc:
            notes.append(f"patch rejected: {exc}")
    ev = ctx.run_tests(files, task.test, label=task.id)
    if ev.status in ("failed", "error") and ev.failing and not ctx.cancel.is_set():
        suspicious = None if patch else _known_suspicious(task)
        if suspicious is None:
            ranking, why = localize(files, task.test, ev, ctx, task.id)
            suspicious = [s.as_dict() for s in ranking]
            if why:
                notes.append(why)
        if ctx.options.external_agent:
            from chain.agents.repair import agent_repair  # only when an agent is asked for

            asked = agent_repair(task, files, ev, suspicious, ctx)
            data["agent"] = {"agent": ctx.options.agent, "rounds": asked.rounds}
            if asked.files is not None:
                notes.append(f"repaired by {ctx.options.agent} in {len(asked.rounds)} round(s)")
                return _result(task, asked.files, asked.evaluation, ctx, started, notes, data)
            notes.append(f"{ctx.options.agent} found no passing fix; built-in search")
        found = search(files, task.test, [c.nodeid for c in ev.failing], suspicious, ctx, ev.duration_ms, task.id)
        data["repair"] = {"candidates_evaluated": found.evaluated, "plausible": found.plausible,
                          "lines_considered": [f"{s['file']}:{s['line']}" for s in found.lines],
                          "max_edits": ctx.profile.search.max_edits, "budget": ctx.profile.search.candidate_budget}
        if found.fixed is not None:
            files, ev = found.fixed.files, found.evaluation
            data["repair"]["edits"] = [e.describe() for e in found.fixed.edits]
            notes.append(f"repaired with {len(found.fixed.edits)} edit(s) after {found.evaluated} candidates")
        else:
            notes.append(f"no repair found in {found.evaluated} candidates"
                         + (f" ({found.stopped})" if found.stopped else ""))
    elif ev.status == "passed" and not patch:
        notes.append("tests pass: nothing to repair")
    return _result(task, files, ev, ctx, started, notes, data)


def _result(task: Task, files: dict[str, str], ev, ctx: StageContext, started: float, notes: list[str],
            data: dict) -> Result:
    diff = unified_diff(task.files, files)
    data.update({"diff": diff, "notes": notes,
                 "changed_files": sorted(p for p in set(task.files) | set(files) if task.files.get(p) != files.get(p))})
    updated = task.model_copy(update={"files": files})
    summary = ev.summary + (f" ({'; '.join(notes)})" if notes else "")
    return make_result(
        task=updated, stage=ctx.stage, profile=ctx.profile.name, status=ev.status, tests=ev.tests,
        duration_ms=(time.monotonic() - started) * 1000, sandbox=ctx.sandbox.name, summary=summary, cases=ev.cases,
        isolation=ev.outcome.isolation, data=data,
    )
