"""Optimality against ground truth: did the pipeline do the best thing to a task, not just make it pass?

* bug:     0 unless the final tests pass; then 0.5 + 0.5 * (fraction of seeded bug lines the edit touched),
           scaled by edit size: min(1, minimal edit / actual edit), where the minimal edit is the diff between
           the buggy and the correct code. A passing fix far from the bug scores at most 0.5.
* slow:    1 when the final tests pass and optimize measured at least the truth's `min_speedup` (else by class:
           3x for exponential ones, 1.5x for linear->constant and quadratic->linear, 1.2x otherwise; floors
           measured through the sandbox, whose start-up time caps every ratio).
* correct: 1 when the final tests pass and no file was changed (the best edit is none).

The stages never see the truth; this runs on their output.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from chain.protocol import Result, Task

MIN_SPEEDUP_BY_CLASS = {
    "exponential->linear": 3.0,
    "exponential->polynomial": 3.0,
    "linear->constant": 1.5,
    "quadratic->linear": 1.5,
}
DEFAULT_MIN_SPEEDUP = 1.2


@dataclass(frozen=True)
class Scored:
    category: str
    optimality: float | None = None
    location_hit: bool | None = None


def changed_lines(before: str, after: str) -> tuple[set[int], int]:
    """Line numbers of `before` (1-based) an edit touched, and the edit's size in lines.
    An insertion touches the lines on both sides of where it went in."""
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    touched: set[int] = set()
    size = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        size += max(i2 - i1, j2 - j1)
        touched.update(range(i1 + 1, i2 + 1) if i2 > i1 else (i1, i1 + 1))
    return touched, size


def edit_size(before: dict[str, str], after: dict[str, str]) -> int:
    return sum(changed_lines(before.get(p, ""), after.get(p, ""))[1] for p in set(before) | set(after))


def _speedup(result: Result) -> float | None:
    entry = result.task.last("optimize")
    speed = entry.data.get("speedup") if entry else None
    return float(speed["ratio"]) if isinstance(speed, dict) and "ratio" in speed else None


def score_task(task: Task, result: Result | None, truth: dict[str, Any] | None) -> Scored:
    if not truth:
        return Scored("unknown")
    category = truth.get("category", "unknown")
    passed = result is not None and result.status == "passed"
    final = result.task.files if result is not None else task.files
    if category == "bug":
        bugs = truth.get("bugs") or []
        hit = 0
        for bug in bugs:
            touched, _ = changed_lines(task.files.get(bug["file"], ""), final.get(bug["file"], ""))
            hit += int(bug["line"] in touched)
        fraction = hit / len(bugs) if bugs else 0.0
        if not passed:
            return Scored(category, 0.0, fraction == 1.0 and bool(bugs))
        actual = edit_size(task.files, final)
        minimal = edit_size(task.files, truth.get("correct_files") or task.files) or 1
        ratio = min(1.0, minimal / actual) if actual else 1.0
        return Scored(category, round((0.5 + 0.5 * fraction) * ratio, 4), fraction == 1.0 and bool(bugs))
    if category == "slow":
        slow = truth.get("slow") or {}
        need = slow.get("min_speedup") or MIN_SPEEDUP_BY_CLASS.get(slow.get("speedup_class", ""), DEFAULT_MIN_SPEEDUP)
        speedup = _speedup(result) if result is not None else None
        return Scored(category, 1.0 if passed and speedup is not None and speedup >= need else 0.0)
    if category == "correct":
        return Scored(category, 1.0 if passed and final == task.files else 0.0)
    return Scored(category)
