"""`chain profiles`: what each strategy has learned, per stage."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table

from ..store import ProfileStore, default_state_path
from ..strategy import load_all

STATE_OPTION = click.option(
    "--state",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"State database [env CHAIN_STATE; default {default_state_path()}].",
)


@click.group(invoke_without_command=True)
@STATE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.option(
    "--last",
    type=click.IntRange(min=1),
    default=None,
    help="Trend: success rate and time over the last N runs against the N before them.",
)
@click.option(
    "--by",
    "by",
    type=click.Choice(["kind"]),
    default=None,
    help="Break the statistics down by task kind / size / failing-test bucket.",
)
@click.pass_context
def profiles(ctx, state, as_json, last, by):
    """Show learned EMA statistics per stage x profile."""
    ctx.obj = state
    if ctx.invoked_subcommand is not None:
        return
    if last or by:
        _breakdown(state, as_json, last, by)
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
        payload = {"state": str(path), "profiles": {n: p.model_dump() for n, p in defined.items()}, "stats": rows}
        sys.stdout.buffer.write(orjson.dumps(payload) + b"\n")
        return
    table = Table(title=f"chain profiles ({path})")
    for col in ("stage", "profile", "runs", "successes", "EMA success", "EMA score", "EMA time", "updated"):
        table.add_column(col, justify="left" if col in ("stage", "profile", "updated") else "right")
    for r in rows:
        updated = dt.datetime.fromtimestamp(r["updated_at"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            r["stage"],
            r["profile"],
            str(r["executions"]),
            str(r["successes"]),
            f"{r['ema_success']:.1%}",
            f"{r['ema_score']:.3f}",
            f"{r['ema_duration_ms']:.0f} ms",
            updated,
        )
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


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _breakdown(state, as_json: bool, last: int | None, by: str | None) -> None:
    path = Path(state) if state else default_state_path()
    if not path.exists():
        rows = []
    else:
        store = ProfileStore(path)
        try:
            rows = store.trend(last) if last else store.by_context()
        finally:
            store.close()
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(rows) + b"\n")
        return
    if last:
        table = Table(title=f"trend: last {last} runs vs the {last} before ({path})")
        for col in (
            "stage",
            "profile",
            "recent runs",
            "recent success",
            "before success",
            "change",
            "recent time",
            "before time",
        ):
            table.add_column(col)
        for r in rows:
            change = "-"
            if r["recent_success"] is not None and r["before_success"] is not None:
                delta = r["recent_success"] - r["before_success"]
                change = ("↑ " if delta > 0 else "↓ " if delta < 0 else "= ") + f"{delta:+.0%}"
            table.add_row(
                r["stage"],
                r["profile"],
                str(r["recent_runs"]),
                _pct(r["recent_success"]),
                _pct(r["before_success"]),
                change,
                _ms(r["recent_mean_ms"]),
                _ms(r["before_mean_ms"]),
            )
    else:
        table = Table(title=f"by task kind/size/failing tests ({path})")
        for col in ("stage", "context", "profile", "runs", "success", "mean score", "mean time"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["stage"],
                r["context"] or "(unknown)",
                r["profile"],
                str(r["runs"]),
                _pct(r["successes"] / r["runs"]),
                f"{r['mean_score']:.3f}",
                _ms(r["mean_ms"]),
            )
    Console(width=140).print(table)


@profiles.command("export")
@click.pass_obj
def export_cmd(state):
    """Write the learned statistics as JSON (for `chain profiles import` elsewhere)."""
    store = ProfileStore(state)
    try:
        sys.stdout.buffer.write(orjson.dumps(store.export(), option=orjson.OPT_INDENT_2) + b"\n")
    finally:
        store.close()


@profiles.command("import")
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--replace", is_flag=True, help="Overwrite stats already present for the same stage x profile.")
@click.pass_obj
def import_cmd(state, source, replace):
    """Load statistics written by `chain profiles export` (a file or stdin)."""
    try:
        payload = orjson.loads(source.read())
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="SOURCE") from None
    store = ProfileStore(state)
    try:
        n = store.import_stats(payload, replace=replace)
    finally:
        store.close()
    click.echo(f"imported {n} stage x profile rows into {store.path}", err=True)


@profiles.command("merge")
@click.argument("databases", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The merged database (written whole, then moved into place; it may be one of the inputs).",
)
def merge_cmd(databases, output):
    """Combine the state databases of parallel runs (CI jobs) into one.

    Counts add; EMAs are recomputed by replaying every learned execution in time order, as one run over all
    of them would have learned (see docs/ci.md for how each figure merges). Databases of earlier chain
    versions are brought up to date in memory; the inputs are not modified.
    """
    from ..store_merge import merge
    from ..strategy import load_all

    rates = {name: p.ema_alpha for name, p in load_all().items()}
    default = rates.get("balanced", 0.4)
    summary = merge([Path(d) for d in databases], Path(output), lambda profile: rates.get(profile, default))
    click.echo(f"chain profiles merge: {summary.describe()} -> {output}", err=True)
