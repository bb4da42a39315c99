"""`chain profiles`: what each strategy has learned, per stage."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table

from ..profiles import load_all
from ..store import ProfileStore, default_state_path

STATE_OPTION = click.option("--state", type=click.Path(dir_okay=False), default=None,
                            help=f"State database [env CHAIN_STATE; default {default_state_path()}].")


@click.group(invoke_without_command=True)
@STATE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.pass_context
def profiles(ctx, state, as_json):
    """Show learned EMA statistics per stage x profile."""
    ctx.obj = state
    if ctx.invoked_subcommand is not None:
        return
    defined = load_all()
    path = Path(state) if state else default_state_path()
    rows = []
    if path.exists():  # showing must not create a database (or its directory) as a side effect
        store = ProfileStore(path)
        try:
            rows = store.stats()
        finally:
            store.close()
    if as_json:
        payload = {
            "state": str(path),
            "profiles": {n: p.model_dump() for n, p in defined.items()},
            "stats": rows,
        }
        sys.stdout.buffer.write(orjson.dumps(payload) + b"\n")
        return
    table = Table(title=f"chain profiles ({path})")
    for col in ("stage", "profile", "runs", "successes", "EMA success", "EMA score", "EMA time", "updated"):
        table.add_column(col, justify="left" if col in ("stage", "profile", "updated") else "right")
    for r in rows:
        updated = dt.datetime.fromtimestamp(r["updated_at"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(r["stage"], r["profile"], str(r["executions"]), str(r["successes"]),
                      f"{r['ema_success']:.1%}", f"{r['ema_score']:.3f}", f"{r['ema_duration_ms']:.0f} ms", updated)
    if not rows:
        table.caption = f"no executions yet; profiles defined: {', '.join(defined)}"
    Console(width=120).print(table)


@profiles.command()
@click.option("--stage", default=None, help="Only this stage.")
@click.option("--profile", default=None, help="Only this profile.")
@click.pass_obj
def reset(state, stage, profile):
    """Forget learned statistics (all, or one stage/profile)."""
    store = ProfileStore(state)
    try:
        n = store.reset(stage, profile)
    finally:
        store.close()
    click.echo(f"reset {n} stage x profile rows in {store.path}", err=True)
