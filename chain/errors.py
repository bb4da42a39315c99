"""The engine's exceptions and the process exit statuses they map to.

`exit_status_of` is the one mapping from an exception to an exit status, whichever thread raised it: the CLI
uses it for what reaches the command, the stage engine for what a task thread raised (that task becomes an
`error` event, the others run on, and the process exits with the status of the first such error). Every exit
code chain can return is a member of `ExitStatus` (the README's table is generated from it).
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILURE = 1  # an internal error chain did not expect (a bug: please report it)
    USAGE = 2  # bad command line (click's own code)
    BAD_INPUT = 3  # at least one input line was malformed; each became an `error` event, the rest ran
    CONFIG = 4  # a profile file, state database or option value is unusable
    SANDBOX = 5  # the requested sandbox backend is not available on this machine
    TASKS_FAILED = 6  # --fail-on matched: some result had a status the caller asked to fail on
    REGRESSION = 7  # `chain compare`: a metric got significantly worse beyond --threshold
    INTERRUPTED = 130  # SIGINT: in-flight tasks were emitted as `cancelled`
    BROKEN_PIPE = 141  # the reader of stdout went away (`| head -1`); stopped quietly
    TERMINATED = 143  # SIGTERM: in-flight tasks were emitted as `cancelled`


EXIT_STATUS_HELP = {
    ExitStatus.OK: "every input line was handled (tests may still have failed: see --fail-on)",
    ExitStatus.FAILURE: (
        "internal error (a bug): each task it hit became an `error` event naming the task; the rest ran"
    ),
    ExitStatus.USAGE: "bad command line",
    ExitStatus.BAD_INPUT: "some input lines were malformed; each one became an `error` event and the stream went on",
    ExitStatus.CONFIG: (
        "unusable profile file, state database or option value (met on a task: it became an `error` event)"
    ),
    ExitStatus.SANDBOX: "the requested sandbox backend is not available here",
    ExitStatus.TASKS_FAILED: "`--fail-on` matched at least one result",
    ExitStatus.REGRESSION: (
        "`chain compare`: at least one metric regressed beyond `--threshold` (significant at `--confidence`)"
    ),
    ExitStatus.INTERRUPTED: "SIGINT: in-flight tasks were emitted as `cancelled`, state saved",
    ExitStatus.BROKEN_PIPE: "stdout was closed by its reader (e.g. `| head -1`); stopped quietly",
    ExitStatus.TERMINATED: "SIGTERM: in-flight tasks were emitted as `cancelled`, state saved",
}


class ChainError(Exception):
    """Base of every error chain reports to a user; carries its exit status."""

    exit_status = ExitStatus.FAILURE


class ConfigError(ChainError):
    exit_status = ExitStatus.CONFIG


class ProfileError(ConfigError):
    """A profile file is missing, unreadable or has a bad key/value."""

    def __init__(self, path: str, message: str, key: str | None = None):
        self.path, self.key = path, key
        where = f"{path}: key '{key}'" if key else path
        super().__init__(f"{where}: {message}")


class StateError(ConfigError):
    """The SQLite state database cannot be opened or written."""


class SandboxUnavailable(ChainError):
    exit_status = ExitStatus.SANDBOX


class RegressionFound(ChainError):
    """`chain compare` found a metric that got significantly worse."""

    exit_status = ExitStatus.REGRESSION


class UnknownStage(ConfigError):
    pass


def exit_status_of(exc: BaseException) -> ExitStatus:
    """The exit status an exception stands for: a `ChainError` its own, ^C and a closed stdout theirs, anything
    else `FAILURE` (a bug)."""
    if isinstance(exc, ChainError):
        return exc.exit_status
    if isinstance(exc, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return ExitStatus.BROKEN_PIPE
    return ExitStatus.FAILURE
