"""What a stage gets to do its work: its profile, a sandbox, cancellation, and `run_tests`, which turns one
real sandbox run into a status, test counts and per-test cases."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import SandboxUnavailable
from .protocol import Notice, Result, Task, TestCase, TestCounts, make_result
from .pytest_command import narrowed
from .resilience import CircuitBreaker, CircuitOpen, call_with_retries
from .sandbox import Limits, RunOutcome, RunSpec, Sandbox
from .strategy import Profile

PYTEST_NO_TESTS = 5
PYTEST_STOPPED = {2: "pytest was interrupted", 3: "pytest hit an internal error", 4: "pytest usage error"}
# pytest's summary categories -> TestCounts fields (pytest-subtests, the plugin, has categories of its own)
COUNT_FIELDS = {
    "passed": "passed",
    "failed": "failed",
    "error": "errors",
    "skipped": "skipped",
    "xfailed": "xfailed",
    "xpassed": "xpassed",
    "subtests passed": "subtests_passed",
    "subtests failed": "failed",
    "subtests skipped": "skipped",
    "subtests xfailed": "xfailed",
}
CASE_CATEGORY = {"timeout": "failed", "error": "error"}
MAX_RESUMES = 20  # new sessions after tests stuck hard (each one ends the session it was in)


def tally_of(report: dict[str, Any]) -> dict[str, int]:
    """pytest's own count per summary category, as the report plugin recorded it (or, for a report rebuilt
    from a journal, counted from its cases)."""
    if isinstance(report.get("counts"), dict):
        return dict(report["counts"])
    tally: dict[str, int] = {}
    for case in report.get("tests", []):
        category = CASE_CATEGORY.get(case["outcome"], case["outcome"])
        if not (case.get("subtest_of") and category == "passed"):
            tally[category] = tally.get(category, 0) + 1
    return tally


def counts_of(report: dict[str, Any]) -> TestCounts:
    counts = TestCounts()
    for category, n in tally_of(report).items():
        field_name = COUNT_FIELDS.get(category)
        if field_name:
            setattr(counts, field_name, getattr(counts, field_name) + n)
    counts.total = (
        counts.passed
        + counts.failed
        + counts.errors
        + counts.skipped
        + counts.xfailed
        + counts.xpassed
        + counts.subtests_passed
    )
    return counts


def pytest_says(outcome: RunOutcome) -> str:
    """pytest's own words on why it stopped: its `ERROR:` lines, else the last line it printed."""
    text = outcome.stderr + "\n" + outcome.stdout
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR:", "error:")) or ": error: " in line]
    return "; ".join(errors)[:1000] if errors else (lines[-1][:1000] if lines else "no output")


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
        return [
            c
            for c in self.cases
            if c.outcome in ("failed", "error", "timeout") and not (c.model_extra or {}).get("collection")
        ]  # a file that did not import: see import_errors


def _signal_name(code: int) -> str | None:
    num = -code if code < 0 else code - 128 if code > 128 else None
    if not num:
        return None
    try:
        return signal.Signals(num).name
    except ValueError:
        return None


def _tally_words(counts: TestCounts) -> str:
    """pytest's summary words, e.g. '3 passed, 1 failed' ('no tests' for none)."""
    parts = [
        f"{n} {word}"
        for n, word in (
            (counts.passed, "passed"),
            (counts.failed, "failed"),
            (counts.errors, "errors"),
            (counts.skipped, "skipped"),
            (counts.xfailed, "xfailed"),
            (counts.xpassed, "xpassed"),
            (counts.subtests_passed, "subtests passed"),
        )
        if n
    ]
    return ", ".join(parts) or "no tests"


def judge(outcome: RunOutcome, timeout_s: float) -> Evaluation:
    """Status, counts and a one-line summary from a sandbox outcome (pytest report when there is one)."""
    report = outcome.report or {}
    cases = [TestCase.model_validate(t) for t in report.get("tests", [])]
    counts = counts_of(report)
    ran = [c for c in cases if not (c.model_extra or {}).get("collection")]
    secs = outcome.duration_ms / 1000

    def ev(status: str, summary: str) -> Evaluation:
        if report.get("not_run"):  # the session ended before the rest could run: name them
            missing = report["not_run"]
            why = (
                "before the whole run's limit"
                if report.get("ended_by") == "run_timeout"
                else ("after a stuck test ended the session")
            )
            summary += f"; {len(missing)} tests not run {why}: {missing[:5]}"
            status = "failed" if status == "passed" else status
        if outcome.notes:  # limits the sandbox saw being hit: the reason a hostile run ended as it did
            summary = "; ".join([summary, *outcome.notes])
        return Evaluation(status, counts, cases, outcome, summary)

    if outcome.error:
        return ev("error", f"sandbox error: {outcome.error}")
    if outcome.cancelled:
        return ev("cancelled", f"cancelled after {secs:.2f}s")
    if outcome.timed_out:
        summary = f"timed out after {timeout_s:g}s (whole process group killed)"
        if ran:  # what finished before the limit, from the journal (the tests' own results are kept)
            summary += "; finished before it: " + _tally_words(counts)
        return ev("timeout", summary)
    tally = _tally_words(counts)
    code = outcome.exit_code
    sig = _signal_name(code) if code is not None else None
    if report.get("collect_errors"):
        first = report["collect_errors"][0]
        detail = (first.get("message") or "").strip().splitlines()[-1:] or [""]
        return ev("error", f"collection error in {first.get('nodeid') or 'test files'}: {detail[0]}")
    if sig and not ran:
        return ev("error", f"command killed by {sig} after {secs:.2f}s")
    if (report and report.get("exitstatus") == PYTEST_NO_TESTS) or (code == PYTEST_NO_TESTS and not ran):
        return ev("error", f"pytest collected no tests (exit {PYTEST_NO_TESTS}): {pytest_says(outcome)}")
    stopped = report.get("exitstatus", code) if report else code
    if stopped in PYTEST_STOPPED and not ran:  # e.g. addopts naming a plugin that is not installed
        return ev("error", f"{PYTEST_STOPPED[stopped]} (exit {stopped}): {pytest_says(outcome)}")
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
    source: str | None = None  # per task: the directory it was read from (task.metadata["source"])
    base: Any = None  # per task: its by-reference tree (chain.tree.BaseTree), under every run's files

    @property
    def run_timeout(self) -> float:
        return self.timeout_s if self.timeout_s is not None else self.profile.run.timeout_s

    def for_task(self, task_id: str, **changes: Any) -> StageContext:
        """A copy for one task (own notices; optionally another profile or cancel event)."""
        return replace(self, task_id=task_id, notices=[], **changes)

    def result(
        self, task: Task, ev: Evaluation, summary: str, data: dict[str, Any], started: float | None = None
    ) -> Result:
        """The stage's result for `task` from the sandbox run that decides it (its status, counts, cases and
        isolation), timed from `started` (time.monotonic()) when given, else the run's own duration."""
        return make_result(
            task=task,
            stage=self.stage,
            profile=self.profile.name,
            status=ev.status,
            tests=ev.tests,
            duration_ms=(time.monotonic() - started) * 1000 if started is not None else ev.duration_ms,
            sandbox=self.sandbox.name,
            summary=summary,
            cases=ev.cases,
            isolation=ev.outcome.isolation,
            data=data,
        )

    def notify(self, kind: str, message: str, **fields: Any) -> None:
        self.notices.append(Notice(kind=kind, message=message, task_id=self.task_id, stage=self.stage, **fields))
        self.log(f"{self.task_id or ''}: {message}")

    def _run_guarded(self, spec: RunSpec) -> RunOutcome:
        # A backend that raises (instead of reporting outcome.error) must not cost the task its result:
        # the failure is the sandbox's, and it is retried like one.
        # Except a backend that is gone for good (a Ray cluster whose head died): retrying it only waits, so
        # the task becomes an `error` event and the stage exits SANDBOX (5).
        try:
            return self.sandbox.run(spec, self.cancel)
        except SandboxUnavailable:
            raise
        except Exception as exc:
            return RunOutcome(None, 0.0, error=f"{type(exc).__name__}: {exc}", isolation=self.sandbox.describe())

    def run_tests(
        self, files: dict[str, str], command: str, label: str = "", env: dict[str, str] | None = None
    ) -> Evaluation:
        """Run `command` over `files` (plus the task's blobs) in the sandbox. Sandbox failures (not test failures)
        are retried with exponential backoff up to profile.run.retries times, behind the stage's circuit breaker.

        `env` adds to the run's environment, e.g. per-test limits: `chain.analysis.limits.limits_env`."""
        written: dict[str, str | bytes] = dict(files)
        if self.blobs:  # stages edit text only; the task's binary files are written to every run unchanged
            written = {**self.blobs, **files}
        spec = RunSpec(
            files=written,
            command=command,
            timeout_s=self.run_timeout,
            limits=self.limits,
            label=label,
            env=dict(env or {}),
            source=self.source,
            base=self.base,
        )
        outcome = self._run_spec(spec)
        resumes = 0
        while (
            (not_run := (outcome.report or {}).get("not_run"))
            and not outcome.error
            and not outcome.timed_out  # the whole run's time is spent: the rest is named, not run
            and resumes < MAX_RESUMES
        ):
            # A test stuck hard ended its session; the ones after it run in a new one (the rest is kept).
            rest = narrowed(command, not_run)
            if rest is None or self.cancel.is_set():
                break
            resumes += 1
            more = self._run_spec(
                replace(spec, command=rest, timeout_s=max(1.0, self.run_timeout - outcome.duration_ms / 1000))
            )
            outcome = _joined(outcome, more)
        return judge(outcome, self.run_timeout)

    def _run_spec(self, spec: RunSpec) -> RunOutcome:
        label = spec.label
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
        return outcome


def _joined(first: RunOutcome, more: RunOutcome) -> RunOutcome:
    """One outcome of a run resumed after a hard stop: the first part's tests and the rest's."""
    a, b = first.report or {}, more.report or {}
    tally = tally_of(a)
    for category, n in tally_of(b).items():
        tally[category] = tally.get(category, 0) + n
    stops = [*a.get("hard_stops", [a.get("hard_stop")]), b.get("hard_stop")]
    report = {
        **b,
        "tests": [*a.get("tests", []), *b.get("tests", [])],
        "counts": tally,
        "collect_errors": [*a.get("collect_errors", []), *b.get("collect_errors", [])],
        "hard_stops": [n for n in stops if n],
        "exitstatus": max(a.get("exitstatus", 1), b.get("exitstatus", 0)),
    }
    if not b:  # the rest did not run at all (timed out, cancelled, sandbox error): say what is missing
        report["not_run"] = a.get("not_run", [])
    notes = [
        *first.notes,
        *more.notes,
        f"a test stuck past its limit ended its pytest session; the rest ran in a new one: {a.get('hard_stop')}",
    ]
    code = None if more.exit_code is None else max(first.exit_code or 0, more.exit_code)
    return replace(
        more,
        duration_ms=first.duration_ms + more.duration_ms,
        stdout=first.stdout + more.stdout,
        stderr=first.stderr + more.stderr,
        stdout_bytes=first.stdout_bytes + more.stdout_bytes,
        stderr_bytes=first.stderr_bytes + more.stderr_bytes,
        exit_code=code,
        report=report,
        notes=notes,
        events=[*first.events, *more.events],
    )
