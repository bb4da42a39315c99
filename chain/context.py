"""What a stage gets to do its work: its profile, a sandbox, cancellation, and `run_tests`, which turns one
real sandbox run into a status, test counts and per-test cases."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .profiles import Profile
from .protocol import TestCase, TestCounts
from .sandbox import Limits, RunOutcome, RunSpec, Sandbox

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
    parts = [f"{n} {word}" for n, word in ((counts.passed, "passed"), (counts.failed, "failed"),
                                           (counts.errors, "errors"), (counts.skipped, "skipped")) if n]
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
        why = f"killed by {sig}" if sig else f"exit code {code}"
        return ev("failed", f"{tally}; command {why} in {secs:.2f}s")
    return ev("passed", f"{tally} in {secs:.2f}s")


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
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def run_timeout(self) -> float:
        return self.timeout_s if self.timeout_s is not None else self.profile.run.timeout_s

    def run_tests(self, files: dict[str, str], command: str, label: str = "") -> Evaluation:
        """Run `command` over `files` in the sandbox, retrying only sandbox failures (profile.run.retries)."""
        attempts = 1 + self.profile.run.retries
        for attempt in range(attempts):
            spec = RunSpec(files=files, command=command, timeout_s=self.run_timeout, limits=self.limits, label=label)
            outcome = self.sandbox.run(spec, self.cancel)
            if outcome.error is None or self.cancel.is_set() or attempt == attempts - 1:
                break
            self.log(f"{label}: sandbox error ({outcome.error}); retry {attempt + 1}/{attempts - 1}")
        return judge(outcome, self.run_timeout)
