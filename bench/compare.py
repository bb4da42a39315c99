"""`chain compare A.json B.json`: per-metric change from report A to report B with bootstrap confidence
intervals, and a verdict CI can gate on.

A metric regressed when it got worse by more than the threshold (relative to A) and the change is not noise:
its whole confidence interval lies on the worse side of zero. With fewer than two samples on a side (e.g.
throughput from `--runs 1`) there is no interval; the point change decides, and the row says `n<2`.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass

from chain.optimize.stats import interval

from .results import BenchResults, Config
from .runner import percentile

# metric -> (samples field, statistic, higher is better)
METRICS: dict[str, tuple[str, Callable[[list[float]], float], bool]] = {
    "throughput": ("throughput", statistics.fmean, True),
    "latency_p50_ms": ("latency_ms", lambda v: percentile(v, 50), False),
    "latency_p95_ms": ("latency_ms", lambda v: percentile(v, 95), False),
    "latency_p99_ms": ("latency_ms", lambda v: percentile(v, 99), False),
    "success_rate": ("success", statistics.fmean, True),
    "optimality": ("optimality", statistics.fmean, True),
}


@dataclass
class Delta:
    config: str
    metric: str
    a: float
    b: float
    change: float  # relative to A (absolute when A is 0)
    ci_low: float | None
    ci_high: float | None
    relative: bool
    verdict: str  # "regression", "improvement", "unchanged"
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _change(a: float, b: float) -> tuple[float, bool]:
    return ((b - a) / abs(a), True) if a else (b - a, False)


def bootstrap_change(
    a: list[float],
    b: list[float],
    stat: Callable[[list[float]], float],
    confidence: float,
    iterations: int,
    rng: random.Random,
    relative: bool,
) -> tuple[float, float]:
    changes = []
    for _ in range(iterations):
        sa = stat(rng.choices(a, k=len(a)))
        sb = stat(rng.choices(b, k=len(b)))
        changes.append((sb - sa) / abs(sa) if relative and sa else sb - sa)
    return interval(changes, confidence)


def compare_configs(
    ca: Config, cb: Config, threshold: float, confidence: float, iterations: int, seed: int, metrics: list[str]
) -> list[Delta]:
    out = []
    for metric in metrics:
        field, stat, higher_better = METRICS[metric]
        sa, sb = getattr(ca.samples, field), getattr(cb.samples, field)
        if not sa or not sb:
            continue
        a, b = stat(sa), stat(sb)
        change, relative = _change(a, b)
        worse = -change if higher_better else change  # > 0 means B is worse
        note = ""
        if len(sa) < 2 or len(sb) < 2:
            low = high = None
            significant = worse != 0
            note = "n<2"
        else:
            rng = random.Random(f"{seed}:{ca.id}:{metric}")
            low, high = bootstrap_change(sa, sb, stat, confidence, iterations, rng, relative)
            # significant: the interval does not include zero
            significant = low > 0 or high < 0
        if significant and worse > threshold:
            verdict = "regression"
        elif significant and -worse > threshold:
            verdict = "improvement"
        else:
            verdict = "unchanged"
        out.append(
            Delta(
                ca.id,
                metric,
                round(a, 4),
                round(b, 4),
                round(change, 4),
                None if low is None else round(low, 4),
                None if high is None else round(high, 4),
                relative,
                verdict,
                note,
            )
        )
    return out


def compare(
    a: BenchResults,
    b: BenchResults,
    threshold: float = 0.1,
    confidence: float = 0.95,
    iterations: int = 2000,
    seed: int = 0,
    metrics: list[str] | None = None,
) -> tuple[list[Delta], list[str]]:
    """Deltas for every configuration present in both reports, and warnings (different suites, configs only
    on one side)."""
    chosen = metrics or list(METRICS)
    warnings = []
    if a.suite.sha256 != b.suite.sha256:
        warnings.append(
            f"the reports ran different suites ({a.suite.path} vs {b.suite.path}): deltas compare different work"
        )
    by_id = {c.id: c for c in b.configs}
    deltas = []
    for ca in a.configs:
        cb = by_id.get(ca.id)
        if cb is None:
            warnings.append(f"configuration {ca.id} is only in A")
            continue
        deltas.extend(compare_configs(ca, cb, threshold, confidence, iterations, seed, chosen))
    for cid in by_id.keys() - {c.id for c in a.configs}:
        warnings.append(f"configuration {cid} is only in B")
    return deltas, warnings
