"""`chain <stage>`: the options every stage shares, turned into a `StageRun` for `chain.driver`."""

from __future__ import annotations

import os
import sys

import click

from ..api import make_context
from ..driver import OUTPUT_FORMATS, StageRun, drive
from ..protocol import Result
from ..registry import StageSpec, get
from ..store import ProfileStore, default_state_path
from .log import Reporter

STATUSES = ("passed", "failed", "error", "timeout", "cancelled")


def _fail_on(_ctx, _param, value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    chosen = {v.strip() for v in value.split(",") if v.strip()}
    bad = chosen - set(STATUSES)
    if bad:
        raise click.BadParameter(f"unknown status {sorted(bad)[0]!r}; choose from {', '.join(STATUSES)}")
    return frozenset(chosen)


def make_stage_command(spec: StageSpec) -> click.Command:
    @click.command(name=spec.name, help=f"{spec.help}\n\nReads NDJSON on stdin, writes NDJSON on stdout.")
    @click.option("--profile", "-p", default="balanced", show_default=True, help="Strategy profile (`chain profiles`).")
    @click.option("--concurrency", "-j", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True,
                  help="Tasks run at once.")
    @click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
                  help="Wall-clock seconds per sandbox run (default: the profile's).")
    @click.option("--sandbox", default="local", show_default=True, help="Sandbox backend.")
    @click.option("--state", type=click.Path(dir_okay=False), default=None,
                  help=f"State database [env CHAIN_STATE; default {default_state_path()}].")
    @click.option("--no-learn", is_flag=True, help="Do not update the profile statistics.")
    @click.option("--unordered", is_flag=True, help="Emit results as they finish instead of in input order.")
    @click.option("--output-format", type=click.Choice(OUTPUT_FORMATS), default="stream-json", show_default=True,
                  help="claude-input: one user message per result, for `claude -p --input-format stream-json`.")
    @click.option("--fail-on", callback=_fail_on, default=None,
                  help="Exit 6 at the end if any result has one of these statuses, e.g. failed,error,timeout.")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed for any randomized choice.")
    @click.option("--verbose", "-v", count=True,
                  help="-v: log each result on stderr; -vv: also mirror the sandboxed commands' output.")
    def command(profile, concurrency, timeout, sandbox, state, no_learn, unordered, output_format, fail_on, seed,
                verbose):
        reporter = Reporter(spec.name, verbose=verbose)
        ctx = make_context(spec.name, profile, sandbox, timeout, log=reporter.log,
                           verbose=reporter.mirror if verbose >= 2 else None, seed=seed)
        store = None if no_learn else ProfileStore(state)
        run = StageRun(spec=spec, ctx=ctx, store=store, concurrency=concurrency, ordered=not unordered,
                       output_format=output_format, fail_on=fail_on, log=reporter.log, on_result=reporter.result)
        try:
            status = drive(run, sys.stdin.buffer, sys.stdout.buffer)
        finally:
            ctx.sandbox.close()
            if store:
                store.close()
            reporter.close(run.counters)
        click.get_current_context().exit(int(status))

    return command


__all__ = ["make_stage_command", "Result", "get"]
