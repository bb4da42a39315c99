"""The report of a pytest run that was ended hard, rebuilt from the journal chain's plugin keeps beside it.

With per-test limits set (chain_test_limits), the plugin appends a line when collection ends (the node ids
to run), when each test starts and when it is done. A test stuck where no signal reaches it is ended by
faulthandler's watchdog, which exits the process before pytest writes its report: the journal then says
which tests finished (kept), which one was running (its `timeout`) and which had not run yet (`not_run`,
which `StageContext.run_tests` runs in a new session).

The same journal keeps a run that the whole-run timeout (the last guard) killed: the tests that finished are
kept, the one running is its `timeout`, the rest are `not_run` (not resumed: the run's time is spent).
"""

from __future__ import annotations

import json
from typing import Any

JOURNAL_SUFFIX = ".journal"


STACK_CHARS = 4000


def _stack_head(stack: str) -> str:
    """faulthandler prints the most recent call first: the stuck test's own frames lead, the runner's
    (pytest, pluggy, a warm worker's) follow. Past the limit, keep the head and say what was cut."""
    if len(stack) <= STACK_CHARS:
        return stack
    return stack[:STACK_CHARS] + f"\n[... {len(stack) - STACK_CHARS} more characters of outer frames]"


def report_from_journal(text: str, run_limit_s: float | None = None) -> dict[str, Any] | None:
    """The report the journal `text` holds: of a session ended by the limits watchdog, or, with `run_limit_s`,
    of a run the whole-run timeout of that many seconds killed. None when it holds neither."""
    collected: list[str] | None = None
    collect_errors: list[dict[str, Any]] = []
    running: dict[str, Any] | None = None
    tests: dict[str, dict[str, Any]] = {}
    stack: list[str] = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            stack.append(line)  # faulthandler's dump of the stuck test's stacks
            continue
        if "collected" in record:
            collected, collect_errors = record["collected"], record.get("collect_errors") or []
            for err in collect_errors:
                tests[err["nodeid"]] = {**err, "outcome": "error", "duration_ms": 0.0, "collection": True}
        elif "start" in record:
            running, stack = record, []
        elif "done" in record:
            for entry in record["done"]:
                tests[entry["nodeid"]] = entry
            running = None
    if run_limit_s is not None:
        if collected is None:
            return None
        return _ended_by_run_limit(collected, tests, collect_errors, running, run_limit_s)
    if collected is None or running is None or not any(line.startswith("Timeout (") for line in stack):
        return None  # not ended by the limits watchdog (faulthandler's dump starts "Timeout (0:00:03)!")
    if running is not None:  # always, past the check above
        limit = running.get("limit_s") or 0
        tests[running["start"]] = {
            "nodeid": running["start"],
            "outcome": "timeout",
            "duration_ms": limit * 1000.0,
            "message": (
                f"test exceeded its wall-clock limit of {limit:g} s and did not respond to the signal "
                "(stuck in C code or signals blocked): its process was ended (its stacks follow); "
                "the tests after it ran in a new session\n" + _stack_head("\n".join(stack))
            ),
        }
    return _partial(collected, tests, collect_errors, hard_stop=running["start"] if running else None)


def _partial(
    collected: list[str], tests: dict[str, dict[str, Any]], collect_errors: list[dict[str, Any]], **how: Any
) -> dict[str, Any]:
    """The report of a session ended early: what finished, and which collected tests did not run."""
    finished = {e.get("subtest_of") or e["nodeid"] for e in tests.values()}
    return {
        "exitstatus": 1,
        "tests": list(tests.values()),
        "collect_errors": collect_errors,
        "not_run": [n for n in collected if n not in finished],
        **how,
    }


def _ended_by_run_limit(
    collected: list[str],
    tests: dict[str, dict[str, Any]],
    collect_errors: list[dict[str, Any]],
    running: dict[str, Any] | None,
    limit_s: float,
) -> dict[str, Any]:
    if running is not None:
        tests[running["start"]] = {
            "nodeid": running["start"],
            "outcome": "timeout",
            "duration_ms": 0.0,
            "message": f"the whole run's wall-clock limit of {limit_s:g} s was reached while this test ran "
            "(its process group was killed)",
            "run_timeout": True,  # not over its own limit: stages tell the two apart
        }
    return _partial(collected, tests, collect_errors, ended_by="run_timeout")
