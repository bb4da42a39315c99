"""Running one task through one stage: choosing the profile (fixed, `auto`, or a race between several),
calling the stage, and recording every real outcome as a trajectory step that also updates the EMA stats.

The stream loop (`chain.pipeline`) calls `TaskRunner.run` on its worker threads.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any

from .bandit import ThompsonChooser, task_context
from .context import StageContext
from .errors import ChainError
from .protocol import Notice, Result, Task, TestCounts, make_result
from .registry import StageSpec
from .store import Outcome, ProfileStore
from .strategy import Profile
from .tree import WorkspaceFiles, with_base

MAX_DIFF_IN_TRAJECTORY = 20_000


class LinkedEvent(threading.Event):
    """An event that also counts as set when its parent is (a racer stops on its own loss or on Ctrl-C)."""

    def __init__(self, parent: threading.Event):
        super().__init__()
        self.parent = parent

    def is_set(self) -> bool:
        return super().is_set() or self.parent.is_set()


@dataclass
class TaskOutput:
    result: Result
    notices: list[Notice] = field(default_factory=list)


def _workspace_of(task: Task) -> dict[str, Any]:
    """What every sandbox run of the task needs besides the text files a stage passes: its blobs, its
    by-reference base, and where it came from (so an editable install maps to the workspace copy)."""
    source = task.metadata.get("source")
    base = task.files.tree if isinstance(task.files, WorkspaceFiles) else None
    # `chain task DIR` records DIR as given (relative in a pipeline); the stages of a pipe run where it ran.
    where = os.path.abspath(source) if isinstance(source, str) and source != "claude" else None
    return {"blobs": task.blob_bytes(), "source": where, "base": base}


def _state_of(task: Task, context: str) -> dict[str, Any]:
    """What the stage saw, for RL export: a stable prompt-like summary of the input task."""
    digest = hashlib.sha256()
    for path in sorted(task.files):
        digest.update(path.encode() + b"\0" + task.files[path].encode() + b"\0")
    if task.base is not None:
        digest.update(b"\2" + task.base.digest.encode())
    for path in sorted(task.blobs):  # after the text files, so a text-only task's digest is what it always was
        digest.update(b"\1" + path.encode() + b"\0" + hashlib.sha256(task.blobs[path].data()).digest() + b"\0")
    last = task.history[-1] if task.history else None
    return {
        "context": context,
        "files_sha256": digest.hexdigest(),
        "files": sorted(task.files),
        **({"blobs": sorted(task.blobs)} if task.blobs else {}),
        "test": task.test,
        "previous": None
        if last is None
        else {"stage": last.stage, "status": last.status, "summary": last.summary, "failing": last.data.failing or []},
    }


class TaskRunner:
    def __init__(
        self,
        spec: StageSpec,
        ctx: StageContext,
        store: ProfileStore | None,
        *,
        profiles: dict[str, Profile] | None = None,
        auto: bool = False,
        race: list[str] | None = None,
        race_deadline_s: float | None = None,
        log=lambda msg: None,
    ):
        # Stages that learn within a task (repair's operator weights) reach the store through their context.
        self.spec, self.ctx, self.store, self.log = spec, replace(ctx, store=store), store, log
        self.profiles = profiles or {ctx.profile.name: ctx.profile}
        self.race = race or []
        self.race_deadline_s = race_deadline_s
        self.chooser = ThompsonChooser(store, spec.name, list(self.profiles), ctx.seed) if auto else None

    # -- one task -------------------------------------------------------------------------------------------------
    def run(self, task: Task) -> TaskOutput:
        task = with_base(task)  # a by-reference task reads its base's files from disk (refused if it changed)
        if self.race:
            return self._race(task)
        profile, why = self.ctx.profile, None
        if self.chooser:
            choice = self.chooser.choose(task)
            profile, why = self.profiles[choice.profile], {"profile": choice.profile, **choice.why}
        ctx = self.ctx.for_task(task.id, profile=profile, **_workspace_of(task))
        result = self._call(task, ctx)
        if why is not None:
            result = result.model_copy(update={"choice": why})
        self._record(task, ctx, result, action_extra={"chosen_by": "auto" if why else "fixed"})
        return TaskOutput(result, ctx.notices)

    def _call(self, task: Task, ctx: StageContext) -> Result:
        try:
            return self.spec.run(task, ctx)
        except ChainError:
            raise
        except Exception:
            self.log(f"{self.spec.name}: internal error on task {task.id}:\n{traceback.format_exc()}")
            raise

    def cancelled(self, task: Task, why: str) -> Result:
        return make_result(
            task=task,
            stage=self.spec.name,
            profile=self.ctx.profile.name,
            status="cancelled",
            tests=TestCounts(),
            duration_ms=0.0,
            sandbox=self.ctx.sandbox.name,
            summary=why,
        )

    # -- scatter-gather over profiles ---------------------------------------------------------------------------
    def _race(self, task: Task) -> TaskOutput:
        started = time.monotonic()
        finished: queue.SimpleQueue[tuple[str, Result | BaseException]] = queue.SimpleQueue()
        racers: dict[str, tuple[StageContext, LinkedEvent]] = {}
        for name in self.race:
            stop = LinkedEvent(self.ctx.cancel)
            racers[name] = (
                self.ctx.for_task(task.id, profile=self.profiles[name], cancel=stop, **_workspace_of(task)),
                stop,
            )

        def go(name: str) -> None:
            try:
                finished.put((name, self._call(task, racers[name][0])))
            except BaseException as exc:  # reported as that racer's loss
                finished.put((name, exc))

        threads = [threading.Thread(target=go, args=(n,), name=f"chain-race-{n}", daemon=True) for n in self.race]
        for t in threads:
            t.start()
        results: dict[str, Result] = {}
        errors: dict[str, BaseException] = {}
        winner = None
        deadline = None if self.race_deadline_s is None else started + self.race_deadline_s
        while len(results) + len(errors) < len(self.race):
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                name, out = finished.get(timeout=timeout)
            except queue.Empty:  # deadline: stop everyone still running, keep the best finished so far
                for _, stop in racers.values():
                    stop.set()
                deadline = None
                continue
            if isinstance(out, BaseException):
                errors[name] = out
                continue
            results[name] = out
            if winner is None and out.status == "passed":
                winner = name
                for other, (_, stop) in racers.items():
                    if other != name:
                        stop.set()  # their sandboxes see the event and kill their process groups
        for t in threads:
            t.join()
        if not results:
            first = next(iter(errors.values()))  # the first to fail
            if isinstance(first, ChainError):
                raise first  # keeps its own exit status
            detail = {n: repr(e) for n, e in errors.items()}
            raise RuntimeError(f"every racer failed: {detail}")
        if winner is None:
            finished_ok = [n for n in results if results[n].status != "cancelled"] or list(results)
            winner = max(finished_ok, key=lambda n: (results[n].score, -results[n].duration_ms, n))
        outcomes: dict[str, dict[str, Any]] = {
            n: {"status": r.status, "score": r.score, "duration_ms": round(r.duration_ms, 1)}
            for n, r in results.items()
        }
        outcomes.update({n: {"status": "error", "error": repr(e)} for n, e in errors.items()})
        race = {
            "profiles": self.race,
            "winner": winner,
            "outcomes": outcomes,
            "wall_ms": round((time.monotonic() - started) * 1000, 1),
        }
        notices: list[Notice] = []
        for name, result in results.items():
            ctx = racers[name][0]
            notices.extend(ctx.notices)
            # Every racer's real outcome teaches its profile; one stopped because another won teaches nothing.
            self._record(task, ctx, result, action_extra={"chosen_by": "race", "race_winner": winner})
        return TaskOutput(results[winner].model_copy(update={"race": race}), notices)

    # -- learning -------------------------------------------------------------------------------------------------
    def _record(self, task: Task, ctx: StageContext, result: Result, action_extra: dict[str, Any]) -> None:
        if self.store is None:
            return
        context = task_context(task)
        entry = result.task.history[-1] if result.task.history else None
        diff = (entry.data.diff or "") if entry else ""
        agent = ctx.options.agent
        action = {
            "profile": result.profile,
            "agent": agent,
            "summary": result.result,
            "diff": diff[:MAX_DIFF_IN_TRAJECTORY],
            **action_extra,
        }
        self.store.record(
            Outcome(
                result.task_id,
                result.stage,
                result.profile,
                result.status,
                result.score,
                result.duration_ms,
                result.sandbox,
                result.tests.passed,
                result.tests.total,
                agent=agent,
                kind=task.kind,
                context=context,
                state=_state_of(task, context),
                action=action,
            ),
            alpha=ctx.profile.ema_alpha,
            learn=result.status != "cancelled",
        )
