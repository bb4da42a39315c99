"""What each mutation operator has been worth, per context: the order in which repair tries candidates.

After every searched task, each operator x context that had candidates evaluated gets one observation: 1 when
a candidate of that operator became the task's fix, else 0, folded into an exponential moving average (the
profiles' EMA machinery, kept in the state database's repair_operator_stats table). The context is what the
failing tests showed (the exception, an assertion, a CPU-time limit) and the kind of statement at the edited
line. An operator's weight is that average, shrunk towards a prior by how few tasks it rests on, with the
operator's all-context average as the fallback for a context it has not been tried in.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..context import Evaluation

if TYPE_CHECKING:
    from ..store import ProfileStore

ANY_CONTEXT = "*"
SHRINK_TASKS = 2.0  # a learned average counts as much as the prior after this many tasks
DEFAULT_PRIOR = 0.2
# Before anything is learned: roughly how often each kind of fix shows up in everyday bugs (comparison and
# off-by-one mistakes first, whole-statement surgery last).
PRIORS = {
    "swap comparison": 0.5,
    "off-by-one range": 0.5,
    "off-by-one constant": 0.45,
    "off-by-one index": 0.45,
    "off-by-one slice": 0.45,
    "swap augmented assignment": 0.45,
    "similar function": 0.4,
    "swap arithmetic": 0.4,
    "off-by-one operand": 0.35,
    "negate condition": 0.35,
    "negate constant": 0.35,
    "replace name": 0.35,
    "ingredient": 0.35,
    "swap boolean": 0.35,
    "add condition": 0.3,
    "drop condition": 0.3,
    "swap arguments": 0.3,
    "swap indices": 0.3,
    "swap operands": 0.3,
    "drop negation": 0.3,
    "drop operation": 0.3,
    "regroup": 0.25,
    "insert guard": 0.25,
    "copy statement": 0.25,
    "wrap call": 0.25,
    "unwrap call": 0.25,
    "accumulate": 0.25,
    "swap elements": 0.25,
    "negate expression": 0.2,
    "replace return value": 0.2,
    "move statement": 0.15,
    "delete statement": 0.15,
    "duplicate statement": 0.1,
}
_ERROR = re.compile(r"^E\s+(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Limit|Interrupt))\b", re.M)


def failure_shape(ev: Evaluation) -> str:
    """What the original's failing tests show: 'loop', an exception name, 'assert' or 'fail'."""
    messages = [c.message or "" for c in ev.failing]
    stopped = any(c.outcome == "timeout" for c in ev.failing)  # at the per-test limit
    if ev.status == "timeout" or stopped or any("CPU time limit" in m or "Timeout" in m for m in messages):
        return "loop"
    for message in messages:
        found = _ERROR.search(message)
        if found and found.group(1) != "AssertionError":
            return found.group(1)
    return "assert" if any("assert" in m for m in messages) else "fail"


@lru_cache(maxsize=256)
def line_shapes(text: str) -> dict[int, str]:
    """line -> kind of the innermost statement starting or running through it ('Return', 'If', ...)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    shapes: dict[int, tuple[int, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            depth = node.col_offset
            header_end = (
                node.body[0].lineno - 1
                if getattr(node, "body", None) and isinstance(node.body, list) and node.body
                else node.end_lineno or node.lineno
            )
            for line in range(node.lineno, (header_end or node.lineno) + 1):
                if line not in shapes or shapes[line][0] <= depth:
                    shapes[line] = (depth, type(node).__name__)
    return {line: kind for line, (_, kind) in shapes.items()}


class OperatorPriors:
    """Weights of operators in contexts, from the store's rows (none: the priors alone)."""

    def __init__(self, rows: list[dict[str, Any]] | None = None):
        self.learned = {(r["operator"], r["context"]): r for r in rows or []}

    @classmethod
    def load(cls, store: ProfileStore | None, stage: str) -> OperatorPriors:
        return cls(store.operator_stats(stage) if store is not None else None)

    def weight(self, operator: str, context: str) -> float:
        prior = PRIORS.get(operator, DEFAULT_PRIOR)
        general = self.learned.get((operator, ANY_CONTEXT))
        if general:
            prior = _shrink(general, prior)
        row = self.learned.get((operator, context))
        return _shrink(row, prior) if row else prior


def _shrink(row: dict[str, Any], prior: float) -> float:
    n = float(row["tasks"])
    return (n * float(row["ema_rate"]) + SHRINK_TASKS * prior) / (n + SHRINK_TASKS)


def observations(
    tried: dict[str, int], fix_operators: set[str], fix_context: str | None
) -> dict[tuple[str, str], float]:
    """One observation per operator x context tried in a task (1.0 for the fix's), and per operator overall."""
    out: dict[tuple[str, str], float] = {}
    for key in tried:
        operator, _, context = key.partition("|")
        won = 1.0 if operator in fix_operators and (fix_context is None or context == fix_context) else 0.0
        out[(operator, context)] = max(out.get((operator, context), 0.0), won)
        out[(operator, ANY_CONTEXT)] = max(out.get((operator, ANY_CONTEXT), 0.0), won)
    return out
