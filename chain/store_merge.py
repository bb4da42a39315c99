"""`chain profiles merge`: combine the state databases of parallel CI jobs into one, with correct statistics.

Each job learns alone into its own database; merging must give the profile table one job would have learned
from all their executions. How each figure merges:
- `executions`, `successes`: counts; they add (an execution present in several inputs, e.g. the cached base
  every job restored, counts once: executions are the same when their time, task, stage, profile, outcome,
  duration and sandbox are).
- `ema_success`, `ema_score`, `ema_duration_ms`: an EMA depends on the order of its observations, so the EMAs of
  independent streams cannot be averaged. Every execution is kept with its time and the rate it was folded in
  with (`alpha`), so the merged EMAs are recomputed by replaying the union of the learned executions in time
  order: exactly what one run over all those executions in that order would hold. Executions recorded before
  chain kept `alpha` are replayed with the profile's current `ema_alpha`. Equal timestamps across inputs are
  taken in input order.
- Where a stats row is not backed by its executions (rows loaded with `chain profiles import`, or written by
  a chain that kept no log), no order exists to replay: counts still add (identical rows, the same restored
  base, count once), and each EMA becomes the count-weighted mean of the inputs' EMAs, which lies between the
  smallest and largest of them. Such rows are named in the summary as approximate.
- `updated_at`: the latest.

Inputs are read from in-memory copies brought up to date by the migrations, so a database of any earlier
chain merges and no input is modified. A database from a newer chain (migrations unknown here), a file that
is not a chain database, or a table this merge does not know how to combine is refused with a message, rather
than dropping data. A migration that adds a table must add its merge here (`MERGED_TABLES`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import store_migrations as migrations
from .errors import StateError
from .store import ProfileStore, ema

# Tables merge knows how to combine; anything else with rows is refused. `sqlite_sequence` is SQLite's own.
MERGED_TABLES = {"_migrations", "profile_stats", "executions", "sqlite_sequence", "repair_operator_stats"}
# What makes two execution rows the same execution (ids differ between databases; these do not).
IDENTITY = ("at", "task_id", "stage", "profile", "status", "score", "duration_ms", "sandbox", "agent", "context")


@dataclass
class MergeSummary:
    inputs: int = 0
    executions: int = 0
    duplicates: int = 0
    rows: int = 0
    approximate: list[tuple[str, str]] = field(default_factory=list)
    upgraded: list[str] = field(default_factory=list)  # inputs that were written by an earlier chain

    def describe(self) -> str:
        text = (
            f"merged {self.inputs} database(s): {self.executions} executions "
            f"({self.duplicates} present in several inputs counted once), {self.rows} stage x profile rows"
        )
        if self.upgraded:
            text += f"; brought up to date from an earlier chain: {', '.join(self.upgraded)}"
        if self.approximate:
            keys = ", ".join(f"{s}/{p}" for s, p in self.approximate)
            text += f"; not backed by their executions, EMAs averaged by count (approximate): {keys}"
        return text


def _rows(db: sqlite3.Connection, sql: str) -> list[dict[str, Any]]:
    cur = db.execute(sql)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def load(path: Path) -> tuple[sqlite3.Connection, list[str]]:
    """An in-memory copy of a state database migrated to this chain's schema, and the migrations that took;
    refuses what it cannot merge."""
    if not path.is_file():
        raise StateError(f"{path}: no such state database")
    memory = sqlite3.connect(":memory:", isolation_level=None)
    try:
        source = sqlite3.connect(path)
        try:
            source.backup(memory)
        finally:
            source.close()
        tables = {r[0] for r in memory.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StateError(f"{path}: not a chain state database ({exc})") from None
    if not tables & {"profile_stats", "executions", "_migrations"}:
        raise StateError(f"{path}: not a chain state database (no profile_stats or executions table)")
    newer = migrations.unknown(memory)
    if newer:
        raise StateError(
            f"{path} was written by a newer chain (migrations unknown to this one: {', '.join(newer)});"
            " merge it with that chain version or later"
        )
    memory.execute("BEGIN IMMEDIATE")
    applied = migrations.migrate(memory)
    memory.execute("COMMIT")
    for table in sorted(tables - MERGED_TABLES):
        if memory.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone():
            raise StateError(
                f"{path}: table {table!r} has rows that `chain profiles merge` does not know how to "
                "combine; refusing rather than dropping them"
            )
    return memory, applied


def _identity(row: dict[str, Any]) -> tuple:
    return tuple(row[k] for k in IDENTITY)


def _replay(executions: list[dict[str, Any]], alpha_for: Callable[[str], float]) -> dict[str, Any]:
    n = wins = 0
    s = sc = d = None
    for e in executions:
        alpha = e["alpha"] if e["alpha"] is not None else alpha_for(e["profile"])
        success = 1.0 if e["status"] == "passed" else 0.0
        n, wins = n + 1, wins + int(success)
        s, sc, d = ema(s, success, alpha), ema(sc, e["score"], alpha), ema(d, e["duration_ms"], alpha)
    return {
        "executions": n,
        "successes": wins,
        "ema_success": s,
        "ema_score": sc,
        "ema_duration_ms": d,
        "updated_at": max(e["at"] for e in executions),
    }


def _weighted(rows: list[dict[str, Any]]) -> dict[str, Any]:
    unique = list({tuple(r.values()): r for r in rows}.values())  # the same restored row counts once
    total = sum(r["executions"] for r in unique)
    out: dict[str, Any] = {
        "executions": total,
        "successes": sum(r["successes"] for r in unique),
        "updated_at": max(r["updated_at"] for r in unique),
    }
    for key in ("ema_success", "ema_score", "ema_duration_ms"):
        out[key] = sum(r[key] * r["executions"] for r in unique) / total if total else unique[0][key]
    return out


def combine(
    databases: list[sqlite3.Connection], alpha_for: Callable[[str], float], summary: MergeSummary
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(executions in merged order, profile_stats rows) of the merged database."""
    seen: dict[tuple, dict[str, Any]] = {}
    ordered = []
    for index, db in enumerate(databases):
        for row in _rows(db, "SELECT * FROM executions ORDER BY id"):
            key = _identity(row)
            if key in seen:
                summary.duplicates += 1
                continue
            seen[key] = row
            ordered.append((row["at"], index, row["id"], row))
    ordered.sort(key=lambda item: item[:3])
    executions = [row for *_, row in ordered]

    stats_by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    backed: dict[tuple[str, str], bool] = {}
    for db in databases:
        learned = {
            (r["stage"], r["profile"]): r["n"]
            for r in _rows(
                db, "SELECT stage, profile, COUNT(*) AS n FROM executions WHERE learned = 1 GROUP BY stage, profile"
            )
        }
        for row in _rows(db, "SELECT * FROM profile_stats"):
            key = (row["stage"], row["profile"])
            stats_by_key.setdefault(key, []).append(row)
            backed[key] = backed.get(key, True) and learned.get(key, 0) == row["executions"]
    learned_by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in executions:
        if e["learned"]:
            learned_by_key.setdefault((e["stage"], e["profile"]), []).append(e)
    stats = []
    for key in sorted(stats_by_key):
        if backed[key]:
            row = _replay(learned_by_key[key], alpha_for)
        else:
            row = _weighted(stats_by_key[key])
            summary.approximate.append(key)
        stats.append({"stage": key[0], "profile": key[1], **row})
    return executions, stats


def combine_operator_stats(databases: list[sqlite3.Connection]) -> list[dict[str, Any]]:
    """repair_operator_stats rows of the merged database. The search keeps no per-candidate log, so these merge
    like unbacked profile rows: counts add (identical rows count once), the EMA is the task-weighted mean."""
    by_key: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for db in databases:
        for row in _rows(db, "SELECT * FROM repair_operator_stats"):
            by_key.setdefault((row["stage"], row["operator"], row["context"]), []).append(row)
    merged = []
    for (stage, operator, context), rows in sorted(by_key.items()):
        unique = list({tuple(r.values()): r for r in rows}.values())
        tasks = sum(r["tasks"] for r in unique)
        rate = sum(r["ema_rate"] * r["tasks"] for r in unique) / tasks if tasks else unique[0]["ema_rate"]
        merged.append(
            {
                "stage": stage,
                "operator": operator,
                "context": context,
                "tasks": tasks,
                "fixes": sum(r["fixes"] for r in unique),
                "ema_rate": rate,
                "updated_at": max(r["updated_at"] for r in unique),
            }
        )
    return merged


def merge(inputs: Iterable[Path], output: Path, alpha_for: Callable[[str], float]) -> MergeSummary:
    """Merge state databases into `output` (written whole, then moved into place: it may be one of the inputs)."""
    paths = [Path(p) for p in inputs]
    summary = MergeSummary(inputs=len(paths))
    databases = []
    for path in paths:
        db, applied = load(path)
        databases.append(db)
        if applied:
            summary.upgraded.append(str(path))
    executions, stats = combine(databases, alpha_for, summary)
    operators = combine_operator_stats(databases)
    for db in databases:
        db.close()
    summary.executions, summary.rows = len(executions), len(stats)

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.merging-{os.getpid()}")
    partial.unlink(missing_ok=True)
    store = ProfileStore(partial)
    try:
        store.write_merged(executions, stats, operators)
    finally:
        store.close()
    for suffix in ("-wal", "-shm"):  # a stale log of the file being replaced must not be applied to the new one
        Path(f"{output}{suffix}").unlink(missing_ok=True)
    os.replace(partial, output)
    return summary
