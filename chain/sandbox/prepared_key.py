"""Which runs may start from the same prepared pytest session (see warm_worker.prepared_session): the key is
everything that decides the state pytest is in when it starts collecting, or None for a run that must start a
session of its own."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Mapping

from .workspace import PLUGIN_MODULE

# What decides the state pytest is in when it starts collecting, besides the arguments and environment: the
# workspace's layout and these files. Runs that agree on all of it can share one prepared session.
CONFIG_FILES = {"pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"}
# Options whose effect at start-up is more than state in memory (files opened, code imported, output made).
UNPREPARED_OPTIONS = (
    "-c",
    "--config-file",
    "--debug",
    "--log-file",
    "--junitxml",
    "--junit-xml",
    "--pastebin",
    "--help",
    "-h",
    "--version",
    "-V",
    "--trace-config",
)


def prepare_key(
    args: list[str], cwd_on_path: bool, env: dict[str, str], files: Mapping[str, str | bytes]
) -> str | None:
    """The key of the prepared pytest session a run can start from (see warm_worker.prepared_session), or
    None when the run must start a session of its own: a conftest.py (code that runs at start-up), a plugin
    chosen by -p or PYTEST_PLUGINS beyond chain's own, or an option in UNPREPARED_OPTIONS."""
    if any(os.path.basename(path) == "conftest.py" for path in files):
        return None
    try:
        words = [*shlex.split(env.get("PYTEST_ADDOPTS", "")), *args]
    except ValueError:
        return None
    for i, word in enumerate(words):
        option = word.split("=", 1)[0]
        if option in UNPREPARED_OPTIONS or (
            option.startswith("-p") and not (word[2:] or (words[i + 1] if i + 1 < len(words) else "")).startswith("no:")
        ):
            return None
    if env.get("PYTEST_PLUGINS", PLUGIN_MODULE) != PLUGIN_MODULE:
        return None
    config = {
        path: text if isinstance(text, str) else hashlib.sha256(text).hexdigest()
        for path, text in files.items()
        if os.path.basename(path) in CONFIG_FILES
    }
    blob = json.dumps([args, cwd_on_path, env, sorted(files), config], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()
