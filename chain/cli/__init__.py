"""The `chain` command line: argument parsing and the one place where errors become messages and exit codes.

Each command lives in its own module and calls into the library. Every command comes from the registry: chain's
own (`chain.cli.commands`), the bench plugin's and third-party plugins' through `register_commands`, and one
per registered stage, so a plugin's command or stage shows up here without edits.
"""

from __future__ import annotations

import sys

import click

from .. import __version__, registry
from ..errors import ChainError, exit_status_of
from . import stage_cmd


class ChainGroup(click.Group):
    """The registry's commands plus one command per registered stage."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        reg = _registry()
        return sorted(set(super().list_commands(ctx)) | set(reg.commands) | set(reg.stages))

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
        reg = _registry()
        if command is None and name in reg.commands:
            command = reg.commands[name].load()
        if command is None and name in reg.stages:
            command = stage_cmd.make_stage_command(reg.stages[name])
        return command


_warned = False


def _registry() -> registry.Registry:
    """The registry; what it refused (a plugin that failed to load, a name already taken) is said once on
    stderr, since the user installed that plugin to use it."""
    global _warned
    reg = registry.get()
    if not _warned:
        _warned = True
        for error in reg.errors:
            click.echo(f"chain: warning: {error}", err=True)
    return reg


@click.group(cls=ChainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chain")
def cli() -> None:
    """Composable stream-json stages that run code and its tests in a sandbox.

    \b
    chain task examples/* | chain analyze | chain process | chain optimize > out.ndjson

    Every stage reads NDJSON on stdin and writes NDJSON on stdout; logs go to stderr.
    Run `chain schema` for the event format and see the README for exit codes.
    """


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="chain")
    except BrokenPipeError as exc:  # e.g. `chain schema | head -1`
        from ..driver import _silence_stdout

        _silence_stdout()
        sys.exit(int(exit_status_of(exc)))
