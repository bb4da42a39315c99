"""analyze: run the task's tests in the sandbox and find out what is wrong.

Records each test's outcome and duration; reruns failing tests (profile.run.repeats times) to tell flaky
tests from real failures; ranks suspicious lines by Ochiai over per-test coverage (after a first run of
NARROW_COVERAGE_S or more, coverage of the failing tests' files only: data.localization_scope); reports syntax and
import errors with file and line; measures functions, lines and cyclomatic complexity.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from chain.analysis import limits
from chain.analysis.spectrum import localize
from chain.analysis.static import import_errors, summary
from chain.context import StageContext
from chain.protocol import Result, Task, TestCase
from chain.pytest_command import narrowed

HELP = "Run the tests; find flaky tests, rank suspicious lines (Ochiai), report syntax/import errors and metrics."
MAX_RERUN_IDS = 50
NARROW_COVERAGE_S = 10.0  # a first run this long: coverage over the failing tests' files only (coverage_scope)


def runnable(cases: list[TestCase]) -> list[str]:
    """Node ids pytest can be asked to run (a subtest's is its test's), each once, in order."""
    return list(dict.fromkeys((c.model_extra or {}).get("subtest_of") or c.nodeid for c in cases))


def flaky_tests(task: Task, failing: list[TestCase], ctx: StageContext, env: dict[str, str]) -> list[str]:
    """Failing tests that pass in at least one of `repeats` reruns."""
    command = narrowed(task.test, runnable(failing)[:MAX_RERUN_IDS])
    if not failing or command is None:
        return []
    failing_ids = {c.nodeid for c in failing}
    flaky: set[str] = set()
    for i in range(ctx.profile.run.repeats):
        rerun = ctx.run_tests(task.files, command, label=f"{task.id} rerun {i + 1}", env=env)
        flaky |= {c.nodeid for c in rerun.cases if c.outcome == "passed" and c.nodeid in failing_ids}
        if ctx.cancel.is_set() or flaky >= failing_ids:
            break
    return sorted(flaky)


def coverage_scope(test: str, ev, flaky: list[str]) -> tuple[str | None, str]:
    """(what localization's coverage run covers when not the whole suite, its command). A suite that took
    NARROW_COVERAGE_S or more is covered in the files of its failing tests only: under coverage with a context
    per test a whole suite costs two to three times its run (Pygments: 68 s after a 28 s run), while the
    failing tests' neighbours still tell the lines every test runs from the ones only the failing ones do."""
    if ev.outcome.duration_ms < NARROW_COVERAGE_S * 1000:
        return None, test
    files = list(dict.fromkeys(c.nodeid.split("::")[0] for c in ev.failing if c.nodeid not in flaky))
    command = narrowed(test, files)
    suite_files = {c.nodeid.split("::")[0] for c in ev.cases}
    if command is None or not files or len(files) * 2 > len(suite_files):
        return None, test
    return (
        f"the failing tests' files ({', '.join(files[:5])}{', ...' if len(files) > 5 else ''}): the whole suite "
        f"took {ev.outcome.duration_ms / 1000:.0f}s (>= {NARROW_COVERAGE_S:g}s)"
    ), command


def run(task: Task, ctx: StageContext) -> Result:
    # The AST's metrics and syntax errors while the tests run (seconds for a project of hundreds of modules;
    # the stage's thread only waits on the sandbox meanwhile).
    with ThreadPoolExecutor(1, thread_name_prefix="chain-static") as pool:
        static = pool.submit(summary, task.files)
        return _run(task, ctx, static)


def _run(task: Task, ctx: StageContext, static: Future) -> Result:
    ev = ctx.run_tests(task.files, task.test, label=task.id, env=limits.limits_env(limits.first_run_limit(ctx.profile)))
    task_metrics, errors = static.result()
    failing = [c.nodeid for c in ev.failing]
    # Every later run of this task (here and in the stages after) is limited by the suite's own timing.
    test_timeout_s = limits.from_timing(ev.cases, ctx.profile)
    timed_env = limits.limits_env(test_timeout_s)
    slowest = sorted(ev.cases, key=lambda c: c.duration_ms, reverse=True)[:5]
    data: dict = {
        "failing": failing,
        "slowest": [{"nodeid": c.nodeid, "duration_ms": round(c.duration_ms, 3)} for c in slowest],
        "exit_code": ev.outcome.exit_code,
        "test_timeout_s": test_timeout_s,
        "metrics": task_metrics,
    }
    if errors:
        data["syntax_errors"] = errors
    report = ev.outcome.report or {}
    if report.get("collect_errors"):
        data["import_errors"] = import_errors(report["collect_errors"])
    if ev.status != "passed" and all((c.model_extra or {}).get("collection") for c in ev.cases):
        data["output_tail"] = (ev.outcome.stdout + ev.outcome.stderr)[-2000:]
    summary = ev.summary
    # The test the whole run's limit cut short (ev.status "timeout", its summary says so) was not over its own.
    timeouts = [c.nodeid for c in ev.cases if c.outcome == "timeout" and not (c.model_extra or {}).get("run_timeout")]
    if timeouts:  # over the per-test limit; the run went on and everything below works on the rest
        data["timeouts"] = timeouts
        summary += f"; {len(timeouts)} over the per-test limit of {limits.first_run_limit(ctx.profile):g}s"
    if failing and ev.status in ("failed", "error") and not ctx.cancel.is_set():
        flaky = flaky_tests(task, ev.failing, ctx, timed_env)
        data["flaky"] = flaky
        if flaky:
            summary += f"; {len(flaky)} flaky"
        if len(flaky) < len(failing):
            scope, test = coverage_scope(task.test, ev, flaky)
            if scope:
                data["localization_scope"] = scope
            ranking, why = localize(
                task.files, test, ev, ctx, task.id, env=limits.limits_env(test_timeout_s * limits.COVERAGE_FACTOR)
            )
            data["suspicious"] = [s.as_dict() for s in ranking]
            if why:
                data["localization"] = why
            elif ranking:
                top = ranking[0]
                summary += f"; most suspicious: {top.file}:{top.line} ({top.score:.2f})"
    if errors:
        summary += f"; syntax error at {errors[0]['file']}:{errors[0]['line']}"
    return ctx.result(task, ev, summary, data)
