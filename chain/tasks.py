"""Making tasks from files on disk (`chain task PATH...`).

Every file travels: UTF-8 text in `files` (what stages read and edit), anything else in `blobs` (base64).
What is left out is listed in `omitted` with its size and reason: directories that are not the project's
(version control, caches, virtualenvs, build output) and files over `max_file_bytes`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .protocol import DEFAULT_TEST_COMMAND, FileBlob, OmittedFile, Task

# Directory name -> why it is not part of the project's sources. Listed in `task.omitted`, never dropped silently.
EXCLUDED_DIRS = {
    ".git": "version control",
    ".hg": "version control",
    ".svn": "version control",
    "__pycache__": "bytecode cache",
    ".pytest_cache": "pytest cache",
    ".mypy_cache": "mypy cache",
    ".ruff_cache": "ruff cache",
    ".tox": "tox environments",
    ".nox": "nox environments",
    ".venv": "virtualenv",
    "venv": "virtualenv",
    "node_modules": "node packages",
    ".chain": "chain's own state",
    "build": "build output",
    "dist": "build output",
}
EXCLUDED_SUFFIXES = {".pyc": "bytecode cache", ".pyo": "bytecode cache"}
# The default cap keeps a task line well under the stream's line limit (CHAIN_MAX_LINE_BYTES, 64 MiB).
MAX_FILE_BYTES = 32 << 20


@dataclass
class Collected:
    files: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, FileBlob] = field(default_factory=dict)
    omitted: list[OmittedFile] = field(default_factory=list)

    def add(self, rel: str, path: Path, max_bytes: int) -> None:
        try:
            size = path.stat().st_size
            if size > max_bytes:
                self.omitted.append(
                    OmittedFile(
                        path=rel, size=size, kind="too_large", reason=f"larger than --max-file-bytes ({max_bytes})"
                    )
                )
                return
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        text = as_text(data)
        if text is None:
            self.blobs[rel] = FileBlob.of(data)
        else:
            self.files[rel] = text


def as_text(data: bytes) -> str | None:
    """The file as text when it is UTF-8 without NUL bytes (git's test for binary), else None."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")  # bytes as they are: no newline translation
    except UnicodeDecodeError:
        return None


def collect_files(root: Path, max_bytes: int = MAX_FILE_BYTES) -> Collected:
    out = Collected()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        kept = []
        for d in sorted(dirnames):
            if d in EXCLUDED_DIRS:
                rel = (here / d).relative_to(root).as_posix() + "/"
                out.omitted.append(OmittedFile(path=rel, kind="excluded", reason=EXCLUDED_DIRS[d]))
            else:
                kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.suffix in EXCLUDED_SUFFIXES:
                out.omitted.append(
                    OmittedFile(path=rel, size=_size(path), kind="excluded", reason=EXCLUDED_SUFFIXES[path.suffix])
                )
                continue
            out.add(rel, path, max_bytes)
    return out


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def tasks_from_paths(
    paths: list[Path],
    *,
    test: str | None = None,
    bench: str | None = None,
    task_id: str | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
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
            got = collect_files(d, max_file_bytes)
            if not got.files and not got.blobs:
                raise ConfigError(
                    f"{d} holds no files chain can carry"
                    + (f" ({len(got.omitted)} left out: see --max-file-bytes)" if got.omitted else "")
                )
            tasks.append(
                Task(
                    id=task_id or d.resolve().name,
                    files=got.files,
                    blobs=got.blobs,
                    omitted=got.omitted,
                    metadata={"source": str(d)},
                    **common,
                )
            )
        return tasks
    got = Collected()
    for p in paths:
        got.add(p.name, p, max_file_bytes)
    return [
        Task(
            id=task_id or paths[0].stem,
            files=got.files,
            blobs=got.blobs,
            omitted=got.omitted,
            metadata={"source": [str(p) for p in paths]},
            **common,
        )
    ]
