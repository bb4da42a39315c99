"""chain's own commands, registered through the same `register_commands` hook a plugin uses (the benchmark
commands come from the bench plugin, `chain.bench`). Each is imported only when asked for, so a `chain analyze`
in a shell pipe loads none of them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# name -> (module under chain.cli, attribute): the click command
COMMANDS = {
    "doctor": ("doctor_cmd", "doctor"),
    "profiles": ("profiles_cmd", "profiles"),
    "report": ("report_cmd", "report"),
    "run": ("stage_cmd", "run_command"),
    "schema": ("schema_cmd", "schema"),
    "stats": ("stats_cmd", "stats"),
    "task": ("task_cmd", "task"),
    "trajectories": ("trajectories_cmd", "trajectories"),
}


def lazy(module: str, attr: str) -> Callable[[], Any]:
    """A loader for `register`: imports `module` and returns its `attr` when the command is first asked for."""
    return lambda: getattr(importlib.import_module(module), attr)


def register_commands(register: Callable[..., None]) -> None:
    for name, (module, attr) in COMMANDS.items():
        register(name, lazy(f"chain.cli.{module}", attr))
