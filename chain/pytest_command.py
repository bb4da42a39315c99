"""Reading and narrowing a task's pytest command (shared by analyze's reruns, fault localization and repair)."""

from __future__ import annotations

import shlex

PYTEST_PREFIXES = (["python", "-m", "pytest"], ["python3", "-m", "pytest"], ["pytest"])


def split_pytest(test: str) -> tuple[list[str], list[str]] | None:
    """(the pytest invocation, its arguments) when `test` is a plain pytest command, else None."""
    try:
        argv = shlex.split(test)
    except ValueError:
        return None
    for prefix in PYTEST_PREFIXES:
        if argv[: len(prefix)] == prefix:
            return argv[: len(prefix)], argv[len(prefix) :]
    return None


def narrowed(test: str, nodeids: list[str]) -> str | None:
    """The task's pytest command, with its flags, limited to `nodeids` (None when it is not plain pytest)."""
    parts = split_pytest(test)
    if parts is None:
        return None
    base, args = parts
    return " ".join(shlex.quote(a) for a in [*base, *(a for a in args if a.startswith("-")), *nodeids])
