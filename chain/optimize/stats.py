"""Is the candidate faster? Bootstrap confidence interval on the ratio of median times."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Speedup:
    ratio: float  # median(baseline) / median(candidate): 2.0 means twice as fast
    low: float  # confidence interval of the ratio
    high: float
    confidence: float

    def beats(self, margin: float) -> bool:
        """Faster by more than `margin` (0.1 = 10%) with the interval's confidence."""
        return self.low > 1.0 + margin

    def as_dict(self) -> dict:
        return {
            "ratio": round(self.ratio, 3),
            "ci_low": round(self.low, 3),
            "ci_high": round(self.high, 3),
            "confidence": self.confidence,
        }


def bootstrap_speedup(
    baseline: list[float], candidate: list[float], confidence: float = 0.9, iterations: int = 2000, seed: int = 0
) -> Speedup:
    rng = random.Random(seed)
    floor = 1e-6  # a run can measure 0 ms: keep the ratio finite
    point = statistics.median(baseline) / max(statistics.median(candidate), floor)
    ratios = []
    for _ in range(iterations):
        b = statistics.median(rng.choices(baseline, k=len(baseline)))
        c = statistics.median(rng.choices(candidate, k=len(candidate)))
        ratios.append(b / max(c, floor))
    low, high = interval(ratios, confidence)
    return Speedup(point, low, high, confidence)


def interval(resampled: list[float], confidence: float) -> tuple[float, float]:
    """The central `confidence` interval of bootstrap resamples (percentile method)."""
    ordered = sorted(resampled)
    tail = (1 - confidence) / 2
    last = len(ordered) - 1
    return ordered[int(tail * last)], ordered[int((1 - tail) * last)]


def settled_speedup(
    baseline: list[float],
    candidate: list[float],
    more_baseline: Callable[[], list[float] | None],
    more_candidate: Callable[[], list[float] | None],
    margin: float,
    confidence: float = 0.9,
    seed: int = 0,
    rounds: int = 2,
    kept: Callable[[], None] | None = None,
) -> Speedup:
    """The interval of `bootstrap_speedup`, measured further while it is undecided: a point ratio beyond the
    margin whose interval reaches below it gets up to `rounds` more batches of timings on both sides.

    Why: with a profile's 3 repeats one outlier (a loaded machine's stall, on either side) can put the lower
    bound under the margin and reject a rewrite measured 8x faster. Noise only ever adds time, so more samples
    settle the question; a candidate whose point ratio is within the margin costs nothing more. The lists grow
    in place, so the caller's record of the timings holds every sample the verdict used; `kept` is called
    each time a round's two batches were added (and never for a round one side of which failed), for whatever
    else the caller measured with them.
    """
    speedup = bootstrap_speedup(baseline, candidate, confidence, seed=seed)
    for _ in range(rounds):
        if speedup.beats(margin) or speedup.ratio <= 1.0 + margin:
            break
        extra_base = more_baseline()
        extra_cand = more_candidate() if extra_base is not None else None
        if extra_base is None or extra_cand is None:  # a run that no longer passes: judge what was measured
            break
        baseline.extend(extra_base)
        candidate.extend(extra_cand)
        if kept is not None:
            kept()
        speedup = bootstrap_speedup(baseline, candidate, confidence, seed=seed)
    return speedup
