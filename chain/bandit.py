"""`--profile auto`: choose a strategy profile per task from what the store has learned.

Thompson sampling over the profiles ("arms"), conditioned on the stage and the task's context bucket (kind,
size, failing tests), with a weak prior inside each bucket. The objective is successes per unit of time, the
figure a pipeline owner cares about: each arm's success probability is sampled from its Beta posterior and
divided by its mean duration. Arms with little data get wide posteriors, so the bandit keeps exploring;
`--seed` makes every choice reproducible.

The arms' draws are correlated: each arm is read at a random quantile of its posterior, and the arms share
most of that quantile (COUPLING). Independent draws compare noise where every arm's success is near zero
(hopeless tasks): a 40-second profile that failed 3 times there was picked over a 3-second one that failed
20 times in half the draws, because dividing two near-zero samples is a coin toss. Read at a shared
quantile, the arms compare by the shape of their posteriors, and an arm is explored when its plausible upside
at that quantile beats the others'. The private part of each quantile still breaks ties between arms
nothing is known about.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from dataclasses import dataclass
from typing import Any

from .protocol import Task
from .store import ProfileStore

PRIOR_WEIGHT = 2  # how many observations the stage-wide stats are worth inside a context bucket
COUPLING = 0.8  # share of each arm's posterior quantile that is common to all arms


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-12:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """Inverse of beta_cdf by bisection (60 halvings: far below any difference that matters here)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def task_context(task: Task) -> str:
    """A coarse feature bucket: kind / size / number of failing tests seen by the last analysis."""
    lines = sum(content.count("\n") + 1 for content in task.files.values())
    size = "small" if lines < 150 else "medium" if lines < 600 else "large"
    failing = None
    for entry in reversed(task.history):
        if entry.tests.total:
            failing = entry.tests.failed + entry.tests.errors
            break
    fail = "unknown" if failing is None else f"fail{failing}" if failing < 3 else "fail3+"
    return f"{task.kind}/{size}/{fail}"


@dataclass
class Choice:
    profile: str
    why: dict[str, Any]


class ThompsonChooser:
    def __init__(self, store: ProfileStore | None, stage: str, profiles: list[str], seed: int = 0):
        self.store, self.stage, self.profiles, self.seed = store, stage, sorted(profiles), seed
        self._lock = threading.Lock()
        self._n = 0

    def _rng(self, task: Task) -> random.Random:
        # One stream per (seed, task, decision number): deterministic however the threads interleave.
        with self._lock:
            self._n += 1
            n = self._n
        digest = hashlib.sha256(f"{self.seed}/{task.id}/{n}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def choose(self, task: Task) -> Choice:
        context = task_context(task)
        local = self.store.arm_stats(self.stage, context) if self.store else {}
        overall = self.store.arm_stats(self.stage) if self.store else {}
        known = [s["mean_ms"] for s in overall.values() if s["mean_ms"]]
        prior_ms = sum(known) / len(known) if known else 1000.0
        # What tasks of this context cost, whoever ran them: the duration guess for an arm not yet tried here.
        # (An arm's stage-wide mean is no guide: one profile may spend minutes on hopeless tasks and
        # seconds on easy ones.)
        here = [(s["runs"], s["mean_ms"]) for s in local.values() if s["mean_ms"]]
        context_ms = sum(n * ms for n, ms in here) / sum(n for n, _ in here) if here else None
        # Likewise the prior success rate: how often tasks of this context were fixed by any profile. Where
        # nothing ever succeeds (hopeless tasks), no profile is presumed good there because it is elsewhere;
        # exploring an expensive profile on such tasks costs more than anything it could teach.
        context_runs = sum(int(s["runs"] or 0) for s in local.values())
        context_rate = sum(int(s["successes"] or 0) for s in local.values()) / context_runs if context_runs else None
        rng = self._rng(task)
        shared = rng.random()
        arms = {}
        for profile in self.profiles:
            c, o = local.get(profile, {}), overall.get(profile, {})
            runs, wins = int(c.get("runs") or 0), int(c.get("successes") or 0)
            o_runs, o_wins = int(o.get("runs") or 0), int(o.get("successes") or 0)
            # Hierarchical prior worth PRIOR_WEIGHT observations: the context's success rate over all profiles
            # once the context has data, else this arm's stage-wide record; the arm's own outcomes in the
            # context soon outweigh it (a profile that shines on easy tasks must not be sent to hopeless ones).
            weight = min(o_runs, PRIOR_WEIGHT) if context_rate is None else PRIOR_WEIGHT
            rate = context_rate if context_rate is not None else o_wins / o_runs if o_runs else 0.5
            a = 1 + wins + weight * rate
            b = 1 + (runs - wins) + weight * (1 - rate)
            if runs:
                mean_ms = float(c["mean_ms"])
            elif context_ms is not None:
                mean_ms = context_ms
            else:
                mean_ms = float(o.get("mean_ms") or prior_ms)
            quantile = COUPLING * shared + (1 - COUPLING) * rng.random()
            p = beta_quantile(quantile, a, b)
            arms[profile] = {
                "runs": runs,
                "successes": wins,
                "stage_runs": o_runs,
                "stage_successes": o_wins,
                "mean_ms": round(mean_ms, 1),
                "sampled_success": round(p, 4),
                "value": p / max(mean_ms, 1.0) * 60_000,
            }
        best = max(self.profiles, key=lambda name: (arms[name]["value"], name))
        for arm in arms.values():
            arm["value"] = round(arm["value"], 3)  # sampled successes per minute
        prior = {
            "weight": PRIOR_WEIGHT,
            "from": "context" if context_rate is not None else "stage",
            "success_rate": None if context_rate is None else round(context_rate, 4),
        }
        return Choice(
            best,
            {
                "method": "thompson (correlated draws)",
                "objective": "successes per minute",
                "context": context,
                "prior": prior,
                "seed": self.seed,
                "arms": arms,
            },
        )
