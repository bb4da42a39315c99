"""The equivalence check: record the changed functions' calls while the original's tests run, replay them on
the original (to keep only the calls it repeats: no state, no randomness), then on the candidate; every
compared call must agree. All three runs are real sandbox runs of the task's workspace.

Two scopes:
- "all recorded inputs" (optimize, agent rewrites): a rewrite must do what the original did on every call.
- "inputs where the original was right" (process): a repair changes what a buggy function returns, so only the
  calls made by tests the original passed count, and none whose arguments a failing test also used.

One recording serves every candidate that changes the same functions (a repair's plausible patches, a
sequence of rewrites); the recording run has a per-test CPU limit (the engine's CHAIN_TEST_CPU_S) so an
original that loops in its failing tests does not hold it.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from ..analysis.limits import limits_env
from ..context import StageContext
from ..findings import Equivalence, EquivalenceDifference
from ..pytest_command import split_pytest
from .targets import RECORD_MODULE, Function, changed_functions, instrument

HERE = Path(__file__).parent
RECORDER_SOURCE = (HERE / "recorder.py").read_text(encoding="utf-8")
REPLAYER_SOURCE = (HERE / "replayer.py").read_text(encoding="utf-8")
RECORDER_FILE = f"{RECORD_MODULE}.py"
REPLAYER_FILE = "_chain_equiv_replay.py"
CALLS_FILE = "_chain_equiv_calls.json"
RECORD_MARK = "CHAIN-EQUIV-RECORD "
REPLAY_MARK = "CHAIN-EQUIV-REPLAY "
DIFFERENCES_SHOWN = 5
CALL_CPU_S = 2.0  # per replayed call, when the caller gives no limit from the original's cost
RECORD_CPU_FACTOR = 3.0  # pickling every call's arguments makes a test dearer

Scope = Literal["all recorded inputs", "inputs where the original was right"]
ALL: Scope = "all recorded inputs"
RIGHT: Scope = "inputs where the original was right"


@dataclass
class Recording:
    calls: list[dict[str, Any]] = field(default_factory=list)  # in scope and repeated by the original
    paths: list[str] = field(default_factory=list)
    recorded: int = 0
    out_of_scope: int = 0
    unstable: int = 0
    unpicklable: int = 0
    reason: str | None = None  # why nothing could be recorded
    limited: str | None = None  # what limited the recording


def _interpreter(test: str) -> str:
    base, _ = split_pytest(test) or (["python"], [])
    return base[0] if base[0].startswith("python") else "python"


def _marked(stdout: str, mark: str) -> list[Any]:
    found = []
    for line in stdout.splitlines():
        if line.startswith(mark):
            try:
                found.append(orjson.loads(line[len(mark) :]))
            except orjson.JSONDecodeError:
                continue
    return found


class EquivalenceCheck:
    """Checks candidates of one original; `check(files)` gives the verdict on one."""

    def __init__(
        self,
        ctx: StageContext,
        original: dict[str, str],
        test: str,
        scope: Scope,
        label: str = "",
        test_cpu_s: float | None = None,
    ):
        self.ctx, self.original, self.test, self.scope, self.label = ctx, original, test, scope, label
        self.test_cpu_s = test_cpu_s
        self.call_cpu_s = max(CALL_CPU_S, test_cpu_s or 0.0)
        self._recordings: dict[frozenset[Function], Recording] = {}
        self.runs = 0

    def check(self, candidate: dict[str, str]) -> Equivalence:
        targets, skipped = changed_functions(self.original, candidate)
        names = [f"{f.file}:{f.qualname}" for f in targets]
        verdict = Equivalence(checked=False, scope=self.scope, functions=names, not_compared=skipped)
        if not targets:
            verdict.reason = (
                "no replayable function changed" if skipped else "no function of the code under test changed"
            )
            return verdict
        key = frozenset(targets)
        if key not in self._recordings:
            self._recordings[key] = self._record(targets)
        rec = self._recordings[key]
        verdict.calls_recorded, verdict.calls_out_of_scope = rec.recorded, rec.out_of_scope
        verdict.calls_unstable, verdict.calls_unpicklable = rec.unstable, rec.unpicklable
        if rec.reason:
            verdict.reason = rec.reason
            return verdict
        verdict.checked = True
        verdict.reason = rec.limited
        if not rec.calls:
            verdict.reason = "no recorded call in scope to compare"
            return verdict
        outcomes = self._replay(candidate, rec)
        verdict.calls_compared = len(rec.calls)
        by_key = {f"{f.file}:{f.qualname}": f for f in targets}
        for call, outcome in zip(rec.calls, outcomes):
            if outcome.get("same"):
                continue
            qualname = call["fn"].split(":", 1)[1]
            function = next((n for n, f in by_key.items() if f.qualname == qualname), call["fn"])
            verdict.differences.append(
                EquivalenceDifference(
                    function=function,
                    call=str(outcome.get("call", qualname + "(...)")),
                    expected=str(outcome.get("expected", "")),
                    actual=str(outcome.get("actual", "")),
                    why=str(outcome.get("why") or "did not finish"),
                )
            )
        verdict.equivalent = not verdict.differences
        verdict.differences = verdict.differences[:DIFFERENCES_SHOWN]
        return verdict

    def _record(self, targets: list[Function]) -> Recording:
        parts = split_pytest(self.test)
        if parts is None:
            return Recording(reason="the test command is not plain pytest: calls cannot be recorded")
        base, args = parts
        command = " ".join(shlex.quote(a) for a in [*base, *args, "-p", RECORD_MODULE])
        files = dict(self.original)
        for path in {f.file for f in targets}:
            files[path] = instrument(files[path], [f for f in targets if f.file == path])
        files[RECORDER_FILE] = RECORDER_SOURCE
        env = limits_env(cpu_s=RECORD_CPU_FACTOR * self.test_cpu_s) if self.test_cpu_s else None
        ev = self.ctx.run_tests(files, command, label=f"{self.label} equivalence record", env=env)
        self.runs += 1
        found = _marked(ev.outcome.stdout, RECORD_MARK)
        if not found:
            return Recording(reason=f"the recording run left no record ({ev.summary})")
        line = found[-1]
        records, tests = line.get("records") or [], line.get("tests") or {}
        rec = Recording(paths=list(line.get("paths") or []), recorded=len(records))
        rec.unpicklable = sum(int(n) for n in (line.get("unpicklable") or {}).values())
        if line.get("dropped"):
            rec.limited = f"{line['dropped']} call(s) not recorded: over the recording's size cap"
        in_scope = records
        if self.scope == RIGHT:
            in_scope = [r for r in records if r["tests"] and all(t is not None and tests.get(t) for t in r["tests"])]
            rec.out_of_scope = len(records) - len(in_scope)
        # The original, replayed: only what it repeats in a fresh process can tell a candidate apart.
        stable = self._replay(self.original, Recording(calls=in_scope, paths=rec.paths))
        rec.calls = [c for c, o in zip(in_scope, stable) if o.get("same")]
        rec.unstable = len(in_scope) - len(rec.calls)
        return rec

    def _replay(self, files: dict[str, str], rec: Recording) -> list[dict[str, Any]]:
        """One outcome per call, in order; a call the run did not get to (killed) counts as not finished."""
        if not rec.calls:
            return []
        calls = {"calls": rec.calls, "paths": rec.paths, "call_cpu_s": self.call_cpu_s}
        workspace = {**files, REPLAYER_FILE: REPLAYER_SOURCE, CALLS_FILE: json.dumps(calls)}
        command = " ".join(shlex.quote(a) for a in [_interpreter(self.test), REPLAYER_FILE, CALLS_FILE])
        ev = self.ctx.run_tests(workspace, command, label=f"{self.label} equivalence replay")
        self.runs += 1
        by_index = {int(o["i"]): o for o in _marked(ev.outcome.stdout, REPLAY_MARK) if "i" in o}
        return [
            by_index.get(i, {"same": False, "why": f"the replay did not finish ({ev.summary})"})
            for i in range(len(rec.calls))
        ]
