"""Is the candidate faster? Bootstrap confidence interval on the ratio of median times."""

from __future__ import annotations

import random
import statistics
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
