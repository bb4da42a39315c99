"""Making tasks from files on disk (`chain task PATH...`)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError
from .protocol import DEFAULT_TEST_COMMAND, Task

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", "venv",
             "node_modules", ".chain", ".tox", "build", "dist"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".so", ".o", ".db", ".sqlite"}
MAX_FILE_BYTES = 1 << 20


def collect_files(root: Path, warn=lambda msg: None) -> dict[str, str]:
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix in SKIP_SUFFIXES:
                continue
            rel = path.relative_to(root).as_posix()
            read = _read_text(path, warn)
            if read is not None:
                files[rel] = read
    return files


def _read_text(path: Path, warn) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            warn(f"skipping {path}: larger than {MAX_FILE_BYTES} bytes")
            return None
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        warn(f"skipping {path}: not UTF-8 text")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return None


def tasks_from_paths(
    paths: list[Path], *, test: str | None = None, bench: str | None = None, task_id: str | None = None,
    warn=lambda msg: None,
) -> list[Task]:
    """One task per directory; or, when every path is a file, one task made of those files."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"no such file or directory: {missing[0]}")
    dirs = [p for p in paths if p.is_dir()]
    if dirs and len(dirs) != len(paths):
        raise ConfigError("give either directories (one task each) or files (one task), not both")
    if task_id and len(dirs) > 1:
        raise ConfigError("--id names a single task; it cannot be used with several directories")
    common = {"test": test or DEFAULT_TEST_COMMAND, "bench": bench}
    if dirs:
        tasks = []
        for d in dirs:
            files = collect_files(d, warn)
            if not files:
                raise ConfigError(f"{d} holds no readable text files")
            tasks.append(Task(id=task_id or d.resolve().name, files=files,
                              metadata={"source": str(d)}, **common))
        return tasks
    files = {p.name: t for p in paths if (t := _read_text(p, warn)) is not None}
    return [Task(id=task_id or paths[0].stem, files=files, metadata={"source": [str(p) for p in paths]}, **common)]
