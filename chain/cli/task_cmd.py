"""`chain task PATH...`: emit task events for directories or files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..stream import StreamWriter
from ..tasks import BIG_BYTES, BIG_FILES, BY_REFERENCE, MAX_FILE_BYTES, tasks_from_paths


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--test", "test_cmd", default=None, help="Test command run in the workspace [default: python -m pytest -q]."
)
@click.option("--bench", "bench_cmd", default=None, help="Benchmark command (optimize times it).")
@click.option("--id", "task_id", default=None, help="Task id (default: directory name or first file's stem).")
@click.option(
    "--max-file-bytes",
    type=click.IntRange(min=0),
    default=MAX_FILE_BYTES,
    show_default=True,
    help="Files larger than this are not carried; each is listed in the task's `omitted` (and so in "
    "every result) with its size.",
)
@click.option(
    "--by-reference",
    type=click.Choice(BY_REFERENCE),
    default="auto",
    show_default=True,
    help=f"Carry a directory by reference (`base`: path and digest; only changed files travel): auto "
    f"for trees of >= {BIG_FILES} files or >= {BIG_BYTES >> 20} MB. Such a stream works on this "
    "machine only; `never` keeps it self-contained (for remote sandboxes or another machine).",
)
def task(paths, test_cmd, bench_cmd, task_id, max_file_bytes, by_reference):
    """Make one task per directory, or one task from the listed files.

    UTF-8 text files travel in `files`, every other file (binary, not UTF-8) base64-encoded in `blobs`.
    Version control, caches, virtualenvs and build output, and files over --max-file-bytes, are listed in
    `omitted` instead."""
    tasks = tasks_from_paths(
        list(paths),
        test=test_cmd,
        bench=bench_cmd,
        task_id=task_id,
        max_file_bytes=max_file_bytes,
        by_reference=by_reference,
    )
    writer = StreamWriter(sys.stdout.buffer)
    for t in tasks:
        too_large = [o for o in t.omitted if o.kind == "too_large"]
        for o in too_large:
            click.echo(
                f"chain task: {t.id}: not carried: {o.path} ({o.size} bytes, {o.reason}); "
                "listed in the task's `omitted`",
                err=True,
            )
        if t.base is not None:
            click.echo(
                f"chain task: {t.id}: by reference ({t.base.files} files, {t.base.bytes} bytes in {t.base.path})",
                err=True,
            )
        writer.write_event(t)
    writer.flush()
