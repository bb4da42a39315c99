"""The `chain` command line: argument parsing and the one place where errors become messages and exit codes.

Each command lives in its own module and calls into the library. Every command comes from the registry: chain's
own (`chain.cli.commands`), the bench plugin's and third-party plugins' through `register_commands`, and one
per registered stage, so a plugin's command or stage shows up here without edits.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

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
    """The console script: run the command, then end the process without tearing the interpreter down."""
    exit_without_teardown(run(argv))


def run(argv: list[str] | None = None) -> int:
    """The command's exit status (click ends a standalone command with SystemExit)."""
    try:
        cli.main(args=argv, prog_name="chain")
    except BrokenPipeError as exc:  # e.g. `chain schema | head -1`
        from ..driver import _silence_stdout

        _silence_stdout()
        return int(exit_status_of(exc))
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)  # what the interpreter does with a message as the exit code
        return 1
    return 0


def exit_without_teardown(code: int) -> NoReturn:
    """Everything a normal exit does that anyone sees, then os._exit.

    Freeing every module and object at interpreter shutdown costs a stage half a second after its last line
    (analyze on a task of 8,000 test cases: 0.5 s of 9 s; a pipeline pays it once per stage) and changes
    nothing outside the process. What does matter is done first, in the interpreter's own order: non-daemon
    threads joined (threading's exit hooks, which stop thread pools), atexit handlers (sandbox clean-up, the
    base pool), then stdout and stderr flushed (a reader that went away gets the BrokenPipe exit status).
    """
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError as exc:
        code = code or int(exit_status_of(exc))
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)
