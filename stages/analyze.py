"""analyze: run the task's tests in the sandbox and record each test's outcome and duration."""

from __future__ import annotations

from chain.context import StageContext
from chain.protocol import Result, Task, make_result

HELP = "Run each task's tests in the sandbox; record per-test outcome and duration."


def run(task: Task, ctx: StageContext) -> Result:
    ev = ctx.run_tests(task.files, task.test, label=task.id)
    slowest = sorted(ev.cases, key=lambda c: c.duration_ms, reverse=True)[:5]
    data = {
        "failing": [c.nodeid for c in ev.failing],
        "slowest": [{"nodeid": c.nodeid, "duration_ms": round(c.duration_ms, 3)} for c in slowest],
        "exit_code": ev.outcome.exit_code,
    }
    if ev.status != "passed" and not ev.cases:
        data["output_tail"] = (ev.outcome.stdout + ev.outcome.stderr)[-2000:]
    return make_result(
        task=task, stage=ctx.stage, profile=ctx.profile.name, status=ev.status, tests=ev.tests,
        duration_ms=ev.duration_ms, sandbox=ctx.sandbox.name, summary=ev.summary, cases=ev.cases,
        isolation=ev.outcome.isolation, data=data,
    )
