"""The learned state, in SQLite: per stage x profile EMA statistics, and every execution as a trajectory step.

Several stages of one shell pipeline are separate processes writing the same file at once, so the database
runs in WAL mode with a busy timeout, and each update is one `BEGIN IMMEDIATE` transaction: the write lock is
taken before the read, so two processes can never both read the old EMA and lose one update.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from . import store_migrations as migrations
from .errors import StateError

DEFAULT_STATE = Path(".chain") / "state.db"
BUSY_TIMEOUT_MS = 60_000
# The version of `chain profiles export`'s JSON (the database's own schema is its list of migrations).
EXPORT_VERSION = 1


def default_state_path() -> Path:
    env = os.environ.get("CHAIN_STATE")
    return Path(env) if env else DEFAULT_STATE


@dataclass(frozen=True)
class Outcome:
    """What a stage learned from one real run of one task (one trajectory step)."""

    task_id: str
    stage: str
    profile: str
    status: str
    score: float
    duration_ms: float
    sandbox: str
    tests_passed: int = 0
    tests_total: int = 0
    agent: str = "builtin"
    kind: str = "python"
    context: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    action: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> float:
        return 1.0 if self.status == "passed" else 0.0

    @property
    def reward(self) -> float:
        # The score (fraction of tests passing) with a bonus for a full pass: partial progress counts,
        # a green suite counts most.
        return round(0.5 * self.score + 0.5 * self.success, 6)


def ema(previous: float | None, value: float, alpha: float) -> float:
    """Exponential moving average; the first observation starts the average instead of being damped by 0."""
    return value if previous is None else alpha * value + (1 - alpha) * previous


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


class ProfileStore:
    """Thread-safe handle on the state database (one connection, serialized by a lock)."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_state_path()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            if set(migrations.names()) - set(migrations.applied(self._db)):  # usually: read one small table, done
                with self._transaction():
                    migrations.migrate(self._db)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"state database {self.path}: {exc}") from None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # sqlite3's own context manager does not BEGIN IMMEDIATE; taking the write lock up front does.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple | list = ()) -> list[dict[str, Any]]:
        try:
            with self._lock:
                return _rows(self._db.execute(sql, args))
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from None

    def record(self, outcome: Outcome, alpha: float, learn: bool = True) -> dict[str, Any] | None:
        """Log one execution and (unless `learn` is false) fold it into its stage x profile EMA, atomically.
        Returns the new stats row."""
        stats = None
        try:
            with self._lock, self._transaction():
                # Stamped under the write lock, so `at` orders executions as they were folded into the EMA
                # (what `chain profiles merge` replays them by).
                now = time.time()
                if learn:
                    stats = self._fold(outcome, alpha, now)
                self._db.execute(
                    "INSERT INTO executions (at, task_id, stage, profile, agent, status, score, reward, duration_ms,"
                    " sandbox, tests_passed, tests_total, kind, context, state, action, learned, alpha)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        now,
                        outcome.task_id,
                        outcome.stage,
                        outcome.profile,
                        outcome.agent,
                        outcome.status,
                        outcome.score,
                        outcome.reward,
                        outcome.duration_ms,
                        outcome.sandbox,
                        outcome.tests_passed,
                        outcome.tests_total,
                        outcome.kind,
                        outcome.context,
                        orjson.dumps(outcome.state).decode(),
                        orjson.dumps(outcome.action).decode(),
                        int(learn),
                        alpha,
                    ),
                )
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from None
        return stats

    def _fold(self, outcome: Outcome, alpha: float, now: float) -> dict[str, Any]:
        row = self._db.execute(
            "SELECT executions, successes, ema_success, ema_score, ema_duration_ms"
            " FROM profile_stats WHERE stage = ? AND profile = ?",
            (outcome.stage, outcome.profile),
        ).fetchone()
        n, wins, s, sc, d = row if row else (0, 0, None, None, None)
        stats = {
            "stage": outcome.stage,
            "profile": outcome.profile,
            "executions": n + 1,
            "successes": wins + int(outcome.success),
            "ema_success": ema(s, outcome.success, alpha),
            "ema_score": ema(sc, outcome.score, alpha),
            "ema_duration_ms": ema(d, outcome.duration_ms, alpha),
            "updated_at": now,
        }
        self._db.execute(
            "INSERT OR REPLACE INTO profile_stats VALUES (:stage, :profile, :executions, :successes,"
            " :ema_success, :ema_score, :ema_duration_ms, :updated_at)",
            stats,
        )
        return stats

    def fold_operators(self, stage: str, observations: dict[tuple[str, str], float], alpha: float) -> None:
        """One task's repair observations (operator x context -> 1.0 if it made the fix, else 0.0), folded into
        repair_operator_stats in one transaction (chain.repair.learning)."""
        try:
            with self._lock, self._transaction():
                now = time.time()
                for (operator, context), value in sorted(observations.items()):
                    row = self._db.execute(
                        "SELECT tasks, fixes, ema_rate FROM repair_operator_stats"
                        " WHERE stage = ? AND operator = ? AND context = ?",
                        (stage, operator, context),
                    ).fetchone()
                    tasks, fixes, rate = row if row else (0, 0, None)
                    self._db.execute(
                        "INSERT OR REPLACE INTO repair_operator_stats VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (stage, operator, context, tasks + 1, fixes + int(value > 0), ema(rate, value, alpha), now),
                    )
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from None

    # -- reading -----------------------------------------------------------------------------------------------
    def operator_stats(self, stage: str) -> list[dict[str, Any]]:
        return self._query("SELECT * FROM repair_operator_stats WHERE stage = ? ORDER BY operator, context", [stage])

    def stats(self) -> list[dict[str, Any]]:
        return self._query("SELECT * FROM profile_stats ORDER BY stage, profile")

    def profile_stat(self, stage: str, profile: str) -> dict[str, Any] | None:
        """The learned row of one stage x profile (EMA success, executions, ...), or None before its first run."""
        rows = self._query("SELECT * FROM profile_stats WHERE stage = ? AND profile = ?", (stage, profile))
        return rows[0] if rows else None

    def execution_count(self) -> int:
        return self._query("SELECT COUNT(*) AS n FROM executions")[0]["n"]

    def arm_stats(self, stage: str, context: str | None = None) -> dict[str, dict[str, float]]:
        """Per profile: learned runs, successes and mean duration for `stage` (optionally one context bucket).
        What the bandit decides from."""
        sql = (
            "SELECT profile, COUNT(*) AS runs, SUM(status = 'passed') AS successes, AVG(duration_ms) AS mean_ms"
            " FROM executions WHERE learned = 1 AND stage = ?"
        )
        args: list[Any] = [stage]
        if context is not None:
            sql += " AND context = ?"
            args.append(context)
        return {r["profile"]: r for r in self._query(sql + " GROUP BY profile", args)}

    def trend(self, last: int) -> list[dict[str, Any]]:
        """Per stage x profile: success rate and mean time over the last `last` runs and the `last` before."""
        rows = self._query(
            "SELECT stage, profile, status, duration_ms, ROW_NUMBER() OVER"
            " (PARTITION BY stage, profile ORDER BY id DESC) AS age FROM executions WHERE learned = 1"
        )
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rows:
            if r["age"] > 2 * last:
                continue
            key = (r["stage"], r["profile"])
            bucket = "recent" if r["age"] <= last else "before"
            agg = out.setdefault(key, {"stage": key[0], "profile": key[1], "recent": [], "before": []})
            agg[bucket].append((r["status"] == "passed", r["duration_ms"]))
        result = []
        for agg in out.values():
            row = {"stage": agg["stage"], "profile": agg["profile"]}
            for bucket in ("recent", "before"):
                runs = agg[bucket]
                row[f"{bucket}_runs"] = len(runs)
                row[f"{bucket}_success"] = sum(ok for ok, _ in runs) / len(runs) if runs else None
                row[f"{bucket}_mean_ms"] = sum(ms for _, ms in runs) / len(runs) if runs else None
            result.append(row)
        return sorted(result, key=lambda r: (r["stage"], r["profile"]))

    def by_context(self) -> list[dict[str, Any]]:
        return self._query(
            "SELECT stage, context, profile, COUNT(*) AS runs, SUM(status = 'passed') AS successes,"
            " AVG(score) AS mean_score, AVG(duration_ms) AS mean_ms FROM executions WHERE learned = 1"
            " GROUP BY stage, context, profile ORDER BY stage, context, profile"
        )

    def executions(self, since: float | None = None, stage: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM executions WHERE 1 = 1"
        args: list[Any] = []
        if since is not None:
            sql += " AND at >= ?"
            args.append(since)
        if stage:
            sql += " AND stage = ?"
            args.append(stage)
        rows = self._query(sql + " ORDER BY task_id, id", args)
        for r in rows:
            r["state"], r["action"] = orjson.loads(r["state"]), orjson.loads(r["action"])
        return rows

    # -- export / import / reset ---------------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        return {"format": "chain-profiles", "version": EXPORT_VERSION, "stats": self.stats()}

    def import_stats(self, payload: dict[str, Any], replace: bool = False) -> int:
        """Load `export()` output; rows for the same stage x profile are replaced (or kept, unless `replace`)."""
        if payload.get("format") != "chain-profiles":
            raise StateError('not a chain profiles export (missing "format": "chain-profiles")')
        keys = (
            "stage",
            "profile",
            "executions",
            "successes",
            "ema_success",
            "ema_score",
            "ema_duration_ms",
            "updated_at",
        )
        try:
            rows = [tuple(row[k] for k in keys) for row in payload.get("stats", [])]
        except (KeyError, TypeError) as exc:
            raise StateError(f"profiles export row is missing {exc}") from None
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._lock, self._transaction():
            for row in rows:
                self._db.execute(f"{verb} INTO profile_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        return len(rows)

    def reset(self, stage: str | None = None, profile: str | None = None) -> int:
        """Forget learned stats (and their execution log), optionally for one stage and/or profile."""
        where, args = [], []
        if stage:
            where.append("stage = ?")
            args.append(stage)
        if profile:
            where.append("profile = ?")
            args.append(profile)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self._lock, self._transaction():
            removed = self._db.execute(f"DELETE FROM profile_stats{clause}", args).rowcount
            self._db.execute(f"DELETE FROM executions{clause}", args)
        return removed

    def write_merged(
        self,
        executions: list[dict[str, Any]],
        stats: list[dict[str, Any]],
        operators: list[dict[str, Any]] | None = None,
    ) -> None:
        """Fill a new database with what `chain.store_merge` combined (executions in merged order)."""
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(executions)") if row[1] != "id"]
        insert = f"INSERT INTO executions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        with self._lock, self._transaction():
            self._db.executemany(insert, [tuple(e[c] for c in columns) for e in executions])
            self._db.executemany(
                "INSERT INTO profile_stats VALUES (:stage, :profile, :executions, :successes, :ema_success,"
                " :ema_score, :ema_duration_ms, :updated_at)",
                stats,
            )
            self._db.executemany(
                "INSERT INTO repair_operator_stats VALUES (:stage, :operator, :context, :tasks, :fixes,"
                " :ema_rate, :updated_at)",
                operators or [],
            )

    def integrity_check(self) -> str:
        return self._query("PRAGMA integrity_check")[0]["integrity_check"]

    def close(self) -> None:
        self._db.close()


__all__ = ["Outcome", "ProfileStore", "default_state_path", "ema"]
