"""A project's file tree as chain sees it: which files belong to the task (the exclusion rules `chain task`
applies), and a by-reference base (`Task.base`) that stages and sandboxes read from disk instead of the stream.

A base is the user's own directory, read-only to chain. Its digest is over every carried file's path, size and
mtime (one walk and stat: ~20 ms for 5,000 files), so a stage notices, before any run, a tree that changed since
`chain task` looked at it, and says so rather than testing other code than the task describes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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


class BaseChanged(RuntimeError):
    pass


@dataclass(frozen=True)
class Entry:
    rel: str
    size: int
    mtime_ns: int


def walk(root: Path) -> tuple[list[Entry], list[tuple[str, int | None, str]]]:
    """(carried files, excluded (path, size, reason)), both sorted; symlinked files are followed, symlinked
    directories are not descended (as os.walk does)."""
    files: list[Entry] = []
    excluded: list[tuple[str, int | None, str]] = []
    root_s = str(root)
    for dirpath, dirnames, filenames in os.walk(root_s):
        rel_dir = os.path.relpath(dirpath, root_s)
        prefix = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        kept = []
        for d in sorted(dirnames):
            if d in EXCLUDED_DIRS:
                excluded.append((prefix + d + "/", None, EXCLUDED_DIRS[d]))
            else:
                kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                st = None
            suffix = os.path.splitext(name)[1]
            if suffix in EXCLUDED_SUFFIXES:
                excluded.append((prefix + name, st.st_size if st else None, EXCLUDED_SUFFIXES[suffix]))
                continue
            if st is None:
                raise OSError(f"cannot read {full}")
            files.append(Entry(prefix + name, st.st_size, st.st_mtime_ns))
    files.sort(key=lambda e: e.rel)
    return files, excluded


def digest_of(entries: list[Entry]) -> str:
    h = hashlib.sha256()
    for e in entries:
        h.update(f"{e.rel}\0{e.size}\0{e.mtime_ns}\n".encode())
    return "stat-sha256:" + h.hexdigest()


def as_text(data: bytes) -> str | None:
    """The file as text when it is UTF-8 without NUL bytes (git's test for binary), else None."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")  # bytes as they are: no newline translation
    except UnicodeDecodeError:
        return None


@dataclass
class BaseTree:
    """One by-reference base in this process: its manifest, and its text files read on demand (once)."""

    path: Path
    digest: str
    entries: dict[str, Entry]
    _text: dict[str, str | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def text(self, rel: str) -> str | None:
        """The file's text; None when the base has no such file or it is not UTF-8 text."""
        if rel not in self.entries:
            return None
        with self._lock:
            if rel in self._text:
                return self._text[rel]
        try:
            text = as_text((self.path / rel).read_bytes())
        except OSError:
            text = None
        with self._lock:
            return self._text.setdefault(rel, text)

    def paths(self) -> Iterator[str]:
        return iter(self.entries)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries.values())


_trees: dict[tuple[str, str], BaseTree] = {}
_trees_lock = threading.Lock()


def open_base(path: str, digest: str) -> BaseTree:
    """The base at `path`, checked against the digest `chain task` recorded (once per process and base)."""
    key = (path, digest)
    with _trees_lock:
        tree = _trees.get(key)
    if tree is not None:
        return tree
    root = Path(path)
    if not root.is_dir():
        raise BaseChanged(
            f"the task's base directory {path} does not exist here (a by-reference task is read from "
            "the machine that made it; `chain task --by-reference never` makes a self-contained stream)"
        )
    entries, _ = walk(root)
    found = digest_of(entries)
    if found != digest:
        raise BaseChanged(
            f"the task's base directory {path} changed since `chain task` read it "
            f"(digest {found[:24]}... != {digest[:24]}...): make the task again"
        )
    tree = BaseTree(root, digest, {e.rel: e for e in entries})
    with _trees_lock:
        return _trees.setdefault(key, tree)


class WorkspaceFiles(dict):
    """A by-reference task's text files. The dict itself holds what differs from the base (what travels on the
    wire and what a sandbox run writes over the base); reads of any other path fall through to the base's
    files on disk. Iteration and len() cover the carried files only, so nothing walks 5,000 modules by
    accident; `copy()` keeps the fall-through."""

    def __init__(self, carried: dict[str, str], tree: BaseTree):
        super().__init__(carried)
        self.tree = tree

    def __missing__(self, key: str) -> str:
        text = self.tree.text(key)
        if text is None:
            raise KeyError(key)
        return text

    def get(self, key: str, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, str) and self.tree.text(key) is not None)

    def copy(self) -> WorkspaceFiles:
        return WorkspaceFiles(dict(self), self.tree)

    def carried(self) -> dict[str, str]:
        return dict(self)


def with_base(task):
    """The task with `files` reading through to its base (`Task.base`), opened and checked once per process;
    the task itself when it is self-contained."""
    if task.base is None or isinstance(task.files, WorkspaceFiles):
        return task
    tree = open_base(task.base.path, task.base.digest)
    return task.model_copy(update={"files": WorkspaceFiles(task.files, tree)})
