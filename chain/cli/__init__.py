"""The `chain` command line: argument parsing and the one place where errors become messages and exit codes.

Each command lives in its own module and calls into the library; stage commands are generated from the
stage registry, so a plugin's stage shows up here without edits.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__, registry
from ..errors import ChainError, exit_status_of
from . import profiles_cmd, schema_cmd, stage_cmd, stats_cmd, task_cmd, trajectories_cmd

# Commands whose modules are heavy to import (the benchmark system, the sandbox doctor): loaded when asked
# for, so that every `chain analyze` in a shell pipe does not pay for them at start-up.
LAZY_COMMANDS = {
    "bench": ("bench_cmd", "bench"),
    "compare": ("compare_cmd", "compare_command"),
    "doctor": ("doctor_cmd", "doctor"),
    "generate": ("generate_cmd", "generate"),
    "report": ("report_cmd", "report"),
}


class ChainGroup(click.Group):
    """Static commands plus one command per registered stage."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS) | set(registry.get().stages))

    def invoke(self, ctx: click.Context):
        # Engine errors that reach a command become a message and their exit status (`exit_status_of`, the
        # mapping task threads use too): never a traceback for bad input or a broken environment.
        try:
            return super().invoke(ctx)
        except ChainError as exc:
            click.echo(f"chain: error: {exc}", err=True)
            ctx.exit(int(exit_status_of(exc)))
        except KeyboardInterrupt as exc:
            ctx.exit(int(exit_status_of(exc)))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name]
            command = getattr(importlib.import_module(f".{module}", __name__), attr)
        if command is None and name in registry.get().stages:
            command = stage_cmd.make_stage_command(registry.get().stages[name])
        return command


@click.group(cls=ChainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chain")
def cli() -> None:
    """Composable stream-json stages that run code and its tests in a sandbox.

    \b
    chain task examples/* | chain analyze | chain process | chain optimize > out.ndjson

    Every stage reads NDJSON on stdin and writes NDJSON on stdout; logs go to stderr.
    Run `chain schema` for the event format and see the README for exit codes.
    """


cli.add_command(task_cmd.task)
cli.add_command(schema_cmd.schema)
cli.add_command(profiles_cmd.profiles)
cli.add_command(stage_cmd.run_command)
cli.add_command(trajectories_cmd.trajectories)
cli.add_command(stats_cmd.stats)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="chain")
    except BrokenPipeError as exc:  # e.g. `chain schema | head -1`
        from ..driver import _silence_stdout

        _silence_stdout()
        sys.exit(int(exit_status_of(exc)))
