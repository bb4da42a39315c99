"""Making tasks from files on disk (`chain task PATH...`).

Every file travels: UTF-8 text in `files` (what stages read and edit), anything else in `blobs` (base64).
What is left out is listed in `omitted` with its size and reason: directories that are not the project's
(version control, caches, virtualenvs, build output; chain.tree.EXCLUDED_DIRS) and files over `max_file_bytes`.

A big tree (>= BIG_FILES files or >= BIG_BYTES bytes, or `by_reference="always"`) travels by reference
instead: `base` names the directory and its digest, and `files` stays empty until a stage changes something.
Such a stream is only good where that directory is (the machine that made it); `by_reference="never"` keeps
every stream self-contained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .protocol import DEFAULT_TEST_COMMAND, FileBlob, OmittedFile, Task, TaskBase
from .tree import as_text, digest_of, walk

# The default cap keeps a task line well under the stream's line limit (CHAIN_MAX_LINE_BYTES, 64 MiB).
MAX_FILE_BYTES = 32 << 20
BIG_FILES = 5_000
BIG_BYTES = 50 << 20
BY_REFERENCE = ("auto", "always", "never")


@dataclass
class Collected:
    files: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, FileBlob] = field(default_factory=dict)
    omitted: list[OmittedFile] = field(default_factory=list)
    base: TaskBase | None = None

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


def collect_files(root: Path, max_bytes: int = MAX_FILE_BYTES, by_reference: str = "auto") -> Collected:
    try:
        entries, excluded = walk(root)
    except OSError as exc:
        raise ConfigError(str(exc)) from None
    out = Collected(omitted=[OmittedFile(path=p, size=s, kind="excluded", reason=r) for p, s, r in excluded])
    total = sum(e.size for e in entries)
    if by_reference == "always" or (by_reference == "auto" and (len(entries) >= BIG_FILES or total >= BIG_BYTES)):
        out.base = TaskBase(path=str(root.resolve()), digest=digest_of(entries), files=len(entries), bytes=total)
        return out
    for e in entries:
        out.add(e.rel, root / e.rel, max_bytes)
    return out


def tasks_from_paths(
    paths: list[Path],
    *,
    test: str | None = None,
    bench: str | None = None,
    task_id: str | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    by_reference: str = "auto",
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
            got = collect_files(d, max_file_bytes, by_reference)
            if not got.files and not got.blobs and not (got.base and got.base.files):
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
                    base=got.base,
                    metadata={"source": str(d)},  # as given: reports name files relative to where chain runs
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
