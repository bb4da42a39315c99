"""`chain task PATH...`: emit task events for directories or files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..stream import StreamWriter
from ..tasks import tasks_from_paths


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--test", "test_cmd", default=None, help="Test command run in the workspace [default: python -m pytest -q].")
@click.option("--bench", "bench_cmd", default=None, help="Benchmark command (optimize times it).")
@click.option("--id", "task_id", default=None, help="Task id (default: directory name or first file's stem).")
def task(paths, test_cmd, bench_cmd, task_id):
    """Make one task per directory, or one task from the listed files."""
    tasks = tasks_from_paths(list(paths), test=test_cmd, bench=bench_cmd, task_id=task_id,
                             warn=lambda m: click.echo(f"chain task: {m}", err=True))
    writer = StreamWriter(sys.stdout.buffer)
    for t in tasks:
        writer.write_event(t)
    writer.flush()
