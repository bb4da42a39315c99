"""The state database's schema, as an ordered list of named migrations, each applied once.

The way simonw/llm's `migrations.py` does it: a `_migrations` table records the name of every migration
applied to a database; opening a database applies, in order, the ones it has not seen, inside the same
`BEGIN IMMEDIATE` transaction (so two stages opening a fresh file at once cannot both apply one). A change to
the schema is a new function appended with `@migration`, never an edit of an old one: a database written by
any earlier chain is brought up to date by running what it lacks.

Databases made before this table existed (chain 0.1 up to the version that introduced it) already carry some
of the schema; the first migrations are therefore written to be no-ops on what is already there
(`IF NOT EXISTS`, columns added only when missing). Migrations after those may assume the state the earlier
ones leave.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    if any(m.__name__ == fn.__name__ for m in MIGRATIONS):
        raise ValueError(f"duplicate migration name {fn.__name__!r}")
    MIGRATIONS.append(fn)
    return fn


def names() -> list[str]:
    return [m.__name__ for m in MIGRATIONS]


def applied(db: sqlite3.Connection) -> list[str]:
    """Names recorded in `_migrations`, oldest first ([] for a database that has no such table)."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").fetchone():
        return []
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY applied_at, rowid")]


def unknown(db: sqlite3.Connection) -> list[str]:
    """Migrations this database has that this chain does not know: it was written by a newer chain."""
    known = set(names())
    return [name for name in applied(db) if name not in known]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply every migration `db` lacks, in order; the caller holds a write transaction. Returns their names."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    done = set(applied(db))
    ran = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        fn(db)
        db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (fn.__name__, time.time()))
        ran.append(fn.__name__)
    return ran


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    """The tables of chain's first release."""
    db.execute("""
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
        )""")
    db.execute("""
        CREATE TABLE IF NOT EXISTS executions (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            at           REAL NOT NULL,
            task_id      TEXT NOT NULL,
            stage        TEXT NOT NULL,
            profile      TEXT NOT NULL,
            status       TEXT NOT NULL,
            score        REAL NOT NULL,
            duration_ms  REAL NOT NULL,
            sandbox      TEXT NOT NULL,
            tests_passed INTEGER NOT NULL,
            tests_total  INTEGER NOT NULL
        )""")


# Columns added to `executions` before migrations existed: a pre-migration database may have any prefix.
_PRE_MIGRATION_COLUMNS = {
    "agent": "TEXT NOT NULL DEFAULT 'builtin'",
    "reward": "REAL NOT NULL DEFAULT 0",
    "kind": "TEXT NOT NULL DEFAULT 'python'",
    "context": "TEXT NOT NULL DEFAULT ''",  # feature bucket the bandit conditions on, e.g. "python/small/fail1"
    "state": "TEXT NOT NULL DEFAULT '{}'",  # JSON: what the stage saw (prompt/state for RL export)
    "action": "TEXT NOT NULL DEFAULT '{}'",  # JSON: what it did (profile choice, edit/diff, ...)
    "learned": "INTEGER NOT NULL DEFAULT 1",  # 0 for cancelled runs: logged, but not folded into the EMA
}


@migration
def m002_trajectory_columns(db: sqlite3.Connection) -> None:
    """Agent, reward, task kind, context bucket, state/action JSON and the learned flag of each execution."""
    have = _columns(db, "executions")
    for column, decl in _PRE_MIGRATION_COLUMNS.items():
        if column not in have:
            db.execute(f"ALTER TABLE executions ADD COLUMN {column} {decl}")


@migration
def m003_execution_indexes(db: sqlite3.Connection) -> None:
    db.execute("CREATE INDEX IF NOT EXISTS executions_by_stage ON executions (stage, profile, at)")
    db.execute("CREATE INDEX IF NOT EXISTS executions_by_context ON executions (stage, context, profile)")
    db.execute("CREATE INDEX IF NOT EXISTS executions_by_task ON executions (task_id, at)")


@migration
def m004_execution_alpha(db: sqlite3.Connection) -> None:
    """The EMA rate each execution was folded in with, so `chain profiles merge` can replay the EMAs exactly
    (NULL for executions recorded before: merge then uses the profile's current rate)."""
    db.execute("ALTER TABLE executions ADD COLUMN alpha REAL")


@migration
def m005_repair_operator_stats(db: sqlite3.Connection) -> None:
    """What each repair mutation operator has been worth per context (chain.repair.learning): tasks it was
    tried in, how many it fixed, and the EMA of 'became the fix' the search orders its candidates by."""
    db.execute("""
        CREATE TABLE IF NOT EXISTS repair_operator_stats (
            stage      TEXT NOT NULL,
            operator   TEXT NOT NULL,
            context    TEXT NOT NULL,
            tasks      INTEGER NOT NULL,
            fixes      INTEGER NOT NULL,
            ema_rate   REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (stage, operator, context)
        )""")
