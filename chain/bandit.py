"""`--profile auto`: choose a strategy profile per task from what the store has learned.

Thompson sampling over the profiles ("arms"), conditioned on the stage and the task's context bucket (kind,
size, failing tests). The objective is successes per unit of time, the figure a pipeline owner cares about:
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

MIN_CONTEXT_RUNS = 3  # below this many runs in the task's own bucket, fall back to the stage-wide stats


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
        stats = self.store.arm_stats(self.stage, context) if self.store else {}
        scope = "context"
        if sum(s["runs"] for s in stats.values()) < MIN_CONTEXT_RUNS * len(self.profiles) and self.store:
            stats, scope = self.store.arm_stats(self.stage), "stage"
        known = [s["mean_ms"] for s in stats.values() if s["mean_ms"]]
        prior_ms = sum(known) / len(known) if known else 1000.0
        rng = self._rng(task)
        arms = {}
        for profile in self.profiles:
            s = stats.get(profile, {})
            runs, wins = int(s.get("runs") or 0), int(s.get("successes") or 0)
            mean_ms = float(s.get("mean_ms") or prior_ms)
            p = rng.betavariate(1 + wins, 1 + runs - wins)
            arms[profile] = {"runs": runs, "successes": wins, "mean_ms": round(mean_ms, 1),
                             "sampled_success": round(p, 4), "value": p / max(mean_ms, 1.0) * 60_000}
        best = max(self.profiles, key=lambda name: (arms[name]["value"], name))
        for a in arms.values():
            a["value"] = round(a["value"], 3)  # sampled successes per minute
        return Choice(best, {"method": "thompson", "objective": "successes per minute", "context": context,
                             "scope": scope, "seed": self.seed, "arms": arms})
