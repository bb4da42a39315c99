"""`chain trajectories export`: the recorded stage executions, grouped by task, as JSON lines."""

from __future__ import annotations

import sys

import click

from ..store import ProfileStore
from ..stream import StreamWriter
from ..trajectories import grouped, parse_since
from .profiles_cmd import STATE_OPTION


@click.group()
def trajectories():
    """Recorded executions (state, action, reward) for offline learning."""


@trajectories.command()
@STATE_OPTION
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--since", default=None, help="Only executions after this time: ISO date/time or an age like 12h, 7d.")
@click.option("--stage", default=None, help="Only this stage's executions.")
def export(state, fmt, since, stage):
    """Write one JSON line per task: prompt, steps, actions, rewards (GRPO-ready groups)."""
    try:
        since_ts = parse_since(since) if since else None
    except ValueError:
        raise click.BadParameter(
            f"{since!r} is neither an ISO time nor an age like 12h", param_hint="--since"
        ) from None
    store = ProfileStore(state)
    try:
        writer = StreamWriter(sys.stdout.buffer)
        for group in grouped(store, since=since_ts, stage=stage):
            writer.write_event(group)
        writer.flush()
    finally:
        store.close()
