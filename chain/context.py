"""What a stage gets to do its work: its profile, a sandbox, cancellation, and `run_tests`, which turns one
real sandbox run into a status, test counts and per-test cases."""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .protocol import Notice, TestCase, TestCounts
from .resilience import CircuitBreaker, CircuitOpen, call_with_retries
from .sandbox import Limits, RunOutcome, RunSpec, Sandbox
from .strategy import Profile

PYTEST_NO_TESTS = 5


@dataclass
class Evaluation:
    """The verdict of one test run."""

    status: str
    tests: TestCounts
    cases: list[TestCase]
    outcome: RunOutcome
    summary: str

    @property
    def duration_ms(self) -> float:
        return self.outcome.duration_ms

    @property
    def failing(self) -> list[TestCase]:
        return [c for c in self.cases if c.outcome in ("failed", "error")]


def _signal_name(code: int) -> str | None:
    num = -code if code < 0 else code - 128 if code > 128 else None
    if not num:
        return None
    try:
        return signal.Signals(num).name
    except ValueError:
        return None


def judge(outcome: RunOutcome, timeout_s: float) -> Evaluation:
    """Status, counts and a one-line summary from a sandbox outcome (pytest report when there is one)."""
    report = outcome.report or {}
    cases = [TestCase.model_validate(t) for t in report.get("tests", [])]
    counts = TestCounts(
        passed=sum(c.outcome in ("passed", "xfailed") for c in cases),
        failed=sum(c.outcome in ("failed", "xpassed") for c in cases),
        errors=sum(c.outcome == "error" for c in cases) + len(report.get("collect_errors", [])),
        skipped=sum(c.outcome == "skipped" for c in cases),
    )
    counts.total = counts.passed + counts.failed + counts.errors + counts.skipped
    secs = outcome.duration_ms / 1000

    def ev(status: str, summary: str) -> Evaluation:
        if outcome.notes:  # limits the sandbox saw being hit: the reason a hostile run ended as it did
            summary = "; ".join([summary, *outcome.notes])
        return Evaluation(status, counts, cases, outcome, summary)

    if outcome.error:
        return ev("error", f"sandbox error: {outcome.error}")
    if outcome.cancelled:
        return ev("cancelled", f"cancelled after {secs:.2f}s")
    if outcome.timed_out:
        return ev("timeout", f"timed out after {timeout_s:g}s (whole process group killed)")
    parts = [
        f"{n} {word}"
        for n, word in (
            (counts.passed, "passed"),
            (counts.failed, "failed"),
            (counts.errors, "errors"),
            (counts.skipped, "skipped"),
        )
        if n
    ]
    tally = ", ".join(parts) or "no tests"
    code = outcome.exit_code
    sig = _signal_name(code) if code is not None else None
    if report.get("collect_errors"):
        first = report["collect_errors"][0]
        detail = (first.get("message") or "").strip().splitlines()[-1:] or [""]
        return ev("error", f"collection error in {first.get('nodeid') or 'test files'}: {detail[0]}")
    if sig and not cases:
        return ev("error", f"command killed by {sig} after {secs:.2f}s")
    if report and report.get("exitstatus") == PYTEST_NO_TESTS:
        return ev("error", "pytest collected no tests")
    if counts.failed or counts.errors:
        return ev("failed", f"{tally} in {secs:.2f}s")
    if code != 0:
        why = f"killed by {sig}" if sig else f"exit code {code}" if code is not None else "gave no exit code"
        return ev("failed", f"{tally}; command {why} in {secs:.2f}s")
    return ev("passed", f"{tally} in {secs:.2f}s")


@dataclass(frozen=True)
class StageOptions:
    """What a stage may read of how it was asked to run, beyond its profile: the CLI translates its flags into
    this (`chain.cli.stage_cmd`), the Python API takes it as `options=`. A new option a stage reads is a field
    here, so a typo is an AttributeError (and a type checker's finding) instead of a silent default."""

    agent: str = "builtin"  # --agent: builtin | cmd:'CMD' | openai:URL (who proposes changes)
    model: str | None = None  # --model: the model name for --agent openai:URL
    time_budget_s: float | None = None  # --time-budget: seconds of repair search per task (else the profile's)

    @property
    def external_agent(self) -> bool:
        """True when an external agent (not chain's built-in search) is asked for."""
        return self.agent != "builtin"


@dataclass
class StageContext:
    stage: str
    profile: Profile
    sandbox: Sandbox
    cancel: threading.Event = field(default_factory=threading.Event)
    timeout_s: float | None = None  # --timeout; else the profile's
    limits: Limits = field(default_factory=Limits)
    log: Callable[[str], None] = lambda msg: None
    seed: int = 0
    options: StageOptions = field(default_factory=StageOptions)
    breaker: CircuitBreaker | None = None  # shared by all tasks of a stage: trips on repeated sandbox failures
    task_id: str | None = None
    notices: list[Notice] = field(default_factory=list)  # per task: emitted right before its result
    blobs: dict[str, bytes] = field(default_factory=dict)  # per task: its non-text files, written to every run
    store: Any = None  # the state database (chain.store.ProfileStore) when learning is on; None with --no-learn

    @property
    def run_timeout(self) -> float:
        return self.timeout_s if self.timeout_s is not None else self.profile.run.timeout_s

    def for_task(self, task_id: str, **changes: Any) -> StageContext:
        """A copy for one task (own notices; optionally another profile or cancel event)."""
        return replace(self, task_id=task_id, notices=[], **changes)

    def notify(self, kind: str, message: str, **fields: Any) -> None:
        self.notices.append(Notice(kind=kind, message=message, task_id=self.task_id, stage=self.stage, **fields))
        self.log(f"{self.task_id or ''}: {message}")

    def _run_guarded(self, spec: RunSpec) -> RunOutcome:
        # A backend that raises (instead of reporting outcome.error) must not cost the task its result:
        # the failure is the sandbox's, and it is retried like one.
        try:
            return self.sandbox.run(spec, self.cancel)
        except Exception as exc:
            return RunOutcome(None, 0.0, error=f"{type(exc).__name__}: {exc}", isolation=self.sandbox.describe())

    def run_tests(self, files: dict[str, str], command: str, label: str = "") -> Evaluation:
        """Run `command` over `files` (plus the task's blobs) in the sandbox. Sandbox failures (not test failures)
        are retried with exponential backoff up to profile.run.retries times, behind the stage's circuit breaker."""
        written: dict[str, str | bytes] = dict(files)
        if self.blobs:  # stages edit text only; the task's binary files are written to every run unchanged
            written = {**self.blobs, **files}
        spec = RunSpec(files=written, command=command, timeout_s=self.run_timeout, limits=self.limits, label=label)
        try:
            outcome = call_with_retries(
                lambda: self._run_guarded(spec),
                lambda out: out.error,
                retries=self.profile.run.retries,
                breaker=self.breaker,
                notify=self.notify,
                cancelled=self.cancel.is_set,
                rng=random.Random(f"{self.seed}/{label}"),
            )
        except CircuitOpen as exc:
            outcome = RunOutcome(None, 0.0, error=str(exc), isolation=self.sandbox.describe())
        for event in outcome.events:  # backends may report their own retries
            self.notices.append(
                event
                if isinstance(event, Notice)
                else Notice.model_validate({"task_id": self.task_id, "stage": self.stage, **event})
            )
        return judge(outcome, self.run_timeout)
