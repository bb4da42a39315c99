"""The learned state: per stage x profile EMA statistics and a log of every execution, in SQLite.

Several stages of one shell pipeline are separate processes writing the same file at once, so the database
runs in WAL mode with a busy timeout, and each update is one `BEGIN IMMEDIATE` transaction: the write lock is
taken before the read, so two processes can never both read the old EMA and lose one update.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .errors import StateError

DEFAULT_STATE = Path(".chain") / "state.db"
BUSY_TIMEOUT_MS = 60_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS profile_stats (
    stage           TEXT NOT NULL,
    profile         TEXT NOT NULL,
    executions      INTEGER NOT NULL,
    successes       INTEGER NOT NULL,
    ema_success     REAL NOT NULL,
    ema_score       REAL NOT NULL,
    ema_duration_ms REAL NOT NULL,
    updated_at      REAL NOT NULL,
    PRIMARY KEY (stage, profile)
);
CREATE TABLE IF NOT EXISTS executions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    task_id     TEXT NOT NULL,
    stage       TEXT NOT NULL,
    profile     TEXT NOT NULL,
    status      TEXT NOT NULL,
    score       REAL NOT NULL,
    duration_ms REAL NOT NULL,
    sandbox     TEXT NOT NULL,
    tests_passed INTEGER NOT NULL,
    tests_total  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_stage ON executions (stage, profile, at);
"""


def default_state_path() -> Path:
    env = os.environ.get("CHAIN_STATE")
    return Path(env) if env else DEFAULT_STATE


@dataclass(frozen=True)
class Outcome:
    """What a stage learned from one real run of one task."""

    task_id: str
    stage: str
    profile: str
    status: str
    score: float
    duration_ms: float
    sandbox: str
    tests_passed: int = 0
    tests_total: int = 0

    @property
    def success(self) -> float:
        return 1.0 if self.status == "passed" else 0.0


def ema(previous: float | None, value: float, alpha: float) -> float:
    """Exponential moving average; the first observation starts the average instead of being damped by 0."""
    return value if previous is None else alpha * value + (1 - alpha) * previous


class ProfileStore:
    """Thread-safe handle on the state database (one connection, serialized by a lock)."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_state_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            with self._transaction():
                for statement in filter(str.strip, SCHEMA.split(";")):
                    self._db.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"state database {self.path}: {exc}") from None
        self._lock = threading.Lock()

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

    def record(self, outcome: Outcome, alpha: float) -> dict[str, Any]:
        """Log one execution and fold it into its stage x profile EMA, atomically. Returns the new stats."""
        now = time.time()
        try:
            with self._lock, self._transaction():
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
                    "INSERT OR REPLACE INTO profile_stats VALUES"
                    " (:stage, :profile, :executions, :successes, :ema_success, :ema_score, :ema_duration_ms,"
                    " :updated_at)",
                    stats,
                )
                self._db.execute(
                    "INSERT INTO executions (at, task_id, stage, profile, status, score, duration_ms, sandbox,"
                    " tests_passed, tests_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (now, outcome.task_id, outcome.stage, outcome.profile, outcome.status, outcome.score,
                     outcome.duration_ms, outcome.sandbox, outcome.tests_passed, outcome.tests_total),
                )
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from None
        return stats

    def stats(self) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute("SELECT * FROM profile_stats ORDER BY stage, profile")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def execution_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM executions").fetchone()[0]

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

    def integrity_check(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self._db.close()
