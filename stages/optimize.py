"""optimize: measure how fast the task's code runs, from repeated real runs in the sandbox.

Times the task's bench command (or its tests) `profile.run.repeats` times after one verifying test run and
reports median, min and spread. Only tasks whose tests pass are timed: speed of broken code means nothing.
"""

from __future__ import annotations

import statistics

from chain.context import StageContext
from chain.protocol import Result, Task, make_result

HELP = "Verify the tests pass, then time the bench command (or the tests) over repeated runs."


def run(task: Task, ctx: StageContext) -> Result:
    ev = ctx.run_tests(task.files, task.test, label=task.id)
    data: dict = {}
    summary = ev.summary
    if ev.status == "passed":
        command = task.bench or task.test
        times = []
        for _ in range(ctx.profile.run.repeats):
            timed = ctx.run_tests(task.files, command, label=task.id)
            if timed.status not in ("passed",):
                data["bench_error"] = timed.summary
                break
            times.append(timed.duration_ms)
        if times:
            data["timing"] = {
                "command": command,
                "repeats": len(times),
                "median_ms": round(statistics.median(times), 3),
                "min_ms": round(min(times), 3),
                "stdev_ms": round(statistics.stdev(times), 3) if len(times) > 1 else 0.0,
            }
            summary += f"; {command!r} median {data['timing']['median_ms']:.1f} ms over {len(times)} runs"
    else:
        summary += "; not timed (tests do not pass)"
    duration = ev.duration_ms + sum(times) if ev.status == "passed" else ev.duration_ms
    return make_result(
        task=task, stage=ctx.stage, profile=ctx.profile.name, status=ev.status, tests=ev.tests,
        duration_ms=duration, sandbox=ctx.sandbox.name, summary=summary, cases=ev.cases,
        isolation=ev.outcome.isolation, data=data,
    )
