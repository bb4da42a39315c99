"""`chain bench --report DIR`: results.json, one CSV per table, and the self-contained index.html.

The CSV columns come from the model's fields, so a field added to results.py shows up in the CSVs without a
change here. Empty cells mean None; booleans are written as true/false.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from .html import render_html
from .results import Action, BenchResults, Config, EmaPoint, Metrics, TaskOutcome

CONFIG_COLUMNS = ["id", "pattern", "pipeline", "profile", "concurrency", "runs", "wall_s", *Metrics.model_fields]


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _config_row(c: Config) -> list[object]:
    fixed = [c.id, c.pattern, "|".join(c.pipeline), c.profile, c.concurrency, c.runs, c.wall_s]
    return [_cell(v) for v in fixed] + [_cell(getattr(c.metrics, f)) for f in Metrics.model_fields]


def _model_rows(rows: Iterable[BaseModel], columns: list[str]) -> list[list[object]]:
    return [[_cell(getattr(row, column)) for column in columns] for row in rows]


def _write_csv(path: Path, columns: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def write_report(results: BenchResults, directory: Path) -> dict[str, Path]:
    """Write every report file into `directory` (created if needed); returns their paths by file name:
    results.json, configs.csv, tasks.csv, ema.csv, timeline.csv, index.html."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"results.json": directory / "results.json"}
    paths["results.json"].write_text(results.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["configs.csv"] = _write_csv(
        directory / "configs.csv", CONFIG_COLUMNS, [_config_row(c) for c in results.configs]
    )
    for name, model, rows in (
        ("tasks", TaskOutcome, results.tasks),
        ("ema", EmaPoint, results.ema),
        ("timeline", Action, results.timeline),
    ):
        columns = list(model.model_fields)
        paths[f"{name}.csv"] = _write_csv(directory / f"{name}.csv", columns, _model_rows(rows, columns))
    paths["index.html"] = directory / "index.html"
    paths["index.html"].write_text(render_html(results), encoding="utf-8")
    return paths
