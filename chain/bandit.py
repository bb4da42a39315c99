"""`--profile auto`: choose a strategy profile per task from what the store has learned.

Thompson sampling over the profiles ("arms"), conditioned on the stage and the task's context bucket (kind,
size, failing tests), with the stage-wide stats as a weak prior inside each bucket. The objective is successes per unit of time, the figure a pipeline owner cares about:
each arm's success probability is sampled from its Beta posterior and divided by its mean duration. Arms with
little data get wide posteriors, so the bandit keeps exploring; `--seed` makes every choice reproducible.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass
from typing import Any

from .protocol import Task
from .store import ProfileStore

PRIOR_WEIGHT = 2  # how many observations the stage-wide stats are worth inside a context bucket


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
        rng = self._rng(task)
        arms = {}
        for profile in self.profiles:
            c, o = local.get(profile, {}), overall.get(profile, {})
            runs, wins = int(c.get("runs") or 0), int(c.get("successes") or 0)
            o_runs, o_wins = int(o.get("runs") or 0), int(o.get("successes") or 0)
            # Hierarchical prior: the stage-wide record of this arm counts as at most PRIOR_WEIGHT observations,
            # so a context with little data borrows from the rest, and its own outcomes soon outweigh them
            # (a profile that shines on easy tasks must not be sent to hopeless ones for long).
            weight = min(o_runs, PRIOR_WEIGHT)
            rate = o_wins / o_runs if o_runs else 0.5
            a = 1 + wins + weight * rate
            b = 1 + (runs - wins) + weight * (1 - rate)
            if runs:
                mean_ms = float(c["mean_ms"])
            elif context_ms is not None:
                mean_ms = context_ms
            else:
                mean_ms = float(o.get("mean_ms") or prior_ms)
            p = rng.betavariate(a, b)
            arms[profile] = {"runs": runs, "successes": wins, "stage_runs": o_runs, "stage_successes": o_wins,
                             "mean_ms": round(mean_ms, 1), "sampled_success": round(p, 4),
                             "value": p / max(mean_ms, 1.0) * 60_000}
        best = max(self.profiles, key=lambda name: (arms[name]["value"], name))
        for arm in arms.values():
            arm["value"] = round(arm["value"], 3)  # sampled successes per minute
        return Choice(best, {"method": "thompson", "objective": "successes per minute", "context": context,
                             "prior": f"stage-wide stats as up to {PRIOR_WEIGHT} observations", "seed": self.seed,
                             "arms": arms})
