"""Trajectories for RL: every stage execution recorded in the store, grouped by task for export.

One JSON line per task (GRPO-style: a group of attempts at the same prompt, each with its reward):

    {"task_id": ..., "prompt": {state the first attempt saw}, "steps": [{stage, profile, agent, action,
     reward, status, score, duration_ms, tests_passed, tests_total, at}], "actions": [...], "rewards": [...]}
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from .store import ProfileStore

STEP_KEYS = (
    "stage",
    "profile",
    "agent",
    "status",
    "score",
    "reward",
    "duration_ms",
    "tests_passed",
    "tests_total",
    "sandbox",
    "context",
    "learned",
)


def parse_since(value: str) -> float:
    """ISO date/time (UTC if no zone) or a relative age like 30m, 12h, 7d -> epoch seconds."""
    value = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC).timestamp() - float(value[:-1]) * units[value[-1]]
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def grouped(store: ProfileStore, since: float | None = None, stage: str | None = None) -> Iterator[dict[str, Any]]:
    rows = store.executions(since=since, stage=stage)
    for task_id, group in groupby(rows, key=lambda r: r["task_id"]):
        steps = list(group)
        yield {
            "task_id": task_id,
            "kind": steps[0]["kind"],
            "prompt": steps[0]["state"],
            "steps": [
                {
                    **{k: s[k] for k in STEP_KEYS},
                    "state": s["state"],
                    "action": s["action"],
                    "at": datetime.fromtimestamp(s["at"], UTC).isoformat(timespec="milliseconds"),
                }
                for s in steps
            ],
            "actions": [s["action"] for s in steps],
            "rewards": [s["reward"] for s in steps],
        }
