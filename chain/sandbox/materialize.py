"""Materializing a by-reference base (`Task.base`) once per worker, and resetting it between runs.

A run of a by-reference task needs the whole tree in its workspace, but copying 80 MB for every repair
candidate is what made big repositories unusable. So each concurrent slot copies the base once, and between
runs the copy is *reset*: one walk with lstat (tens of ms for 5,000 files) finds every file the last run (its
changed files, or hostile code) touched — any change of inode, size, mtime, ctime or mode; ctime cannot be set
back by a process — every extra entry and every symlink, and restores or deletes just those. A run then writes
only the task's changed files over the pristine copy.

A warm worker with namespaces needs no copy at all: `linked_base` puts hard links to the base's files in the
worker's directory (a few thousand link() calls, no data written), the worker mounts that read-only and
shows the run an overlay workspace: the base below, the run's changed files above, every write the run makes
copied up, never into the base (chain.sandbox.warm_worker.namespaces.mount_overlay).

Copies live next to the run directories (CHAIN_TMPDIR or the temp dir) and move into a run's root by rename,
and back afterwards; a chain process removes its own at exit, and those of dead processes on start.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..tree import BaseTree
from .inline_base import InlineBases

_Sig = tuple[int, int, int, int, int]  # inode, size, mtime_ns, ctime_ns, mode


def _sig(st: os.stat_result) -> _Sig:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


@dataclass
class Materialized:
    """One pristine copy of a base: where it is now, and the signature of every file and directory in it."""

    tree: BaseTree
    path: Path
    files: dict[str, _Sig] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    restored: int = 0  # files the last reset had to restore or delete (for the benchmark's figures)

    def copy_in(self) -> None:
        self.path.mkdir(mode=0o755)
        for rel in self.tree.paths():
            self._restore(rel)

    def _restore(self, rel: str, make_parent: bool = False) -> None:
        target = self.path / rel
        parent = os.path.dirname(rel)
        if make_parent and parent:  # the run may have deleted the whole directory
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        elif parent and parent not in self.dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            while parent and parent not in self.dirs:
                self.dirs.add(parent)
                parent = os.path.dirname(parent)
        shutil.copyfile(self.tree.path / rel, target)  # reads through a symlinked file; writes a regular file
        self.files[rel] = _sig(os.lstat(target))

    def reset(self) -> None:
        """Back to pristine: restore what changed, delete what was added (symlinks included)."""
        self.restored = 0
        root = str(self.path)
        os.chmod(root, 0o755)
        seen: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root)
            prefix = "" if rel_dir == "." else rel_dir + "/"
            for d in list(dirnames):
                full = os.path.join(dirpath, d)
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode) or prefix + d not in self.dirs:
                    _remove(full, st)
                    dirnames.remove(d)
                    self.restored += 1
                elif stat.S_IMODE(st.st_mode) != 0o755:
                    os.chmod(full, 0o755)
            for name in filenames:
                rel = prefix + name
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                if self.files.get(rel) == _sig(st):
                    seen.add(rel)
                    continue
                _remove(full, st)
                self.restored += 1
        for rel in self.files.keys() - seen:
            self._restore(rel, make_parent=True)
            self.restored += 1


def linked_base(tree: BaseTree, where: Path) -> str:
    """The name of a directory in `where` holding `tree`'s files as hard links (a file that cannot be linked,
    e.g. on another filesystem, is copied), made once per worker and base. Only ever shown read-only."""
    name = ".base-" + tree.digest.split(":")[-1][:20]
    if (where / name).is_dir():
        return name
    building = where / f"{name}.partial"
    if building.exists():
        remove_linked(building)
    made: set[str] = set()
    src_root = str(tree.path)
    for rel in tree.paths():
        parent = os.path.dirname(rel)
        if parent not in made:
            os.makedirs(building / parent, mode=0o755, exist_ok=True)
            made.add(parent)
        src, dst = os.path.join(src_root, rel), os.path.join(building, rel)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    os.rename(building, where / name)
    return name


def is_linked_base(name: str) -> bool:
    return name.startswith(".base-") and not name.endswith(".partial")


def remove_linked(path: str | Path) -> None:
    """Delete a `linked_base` tree: never chmod anything in it (its files are the user's own, linked)."""
    shutil.rmtree(path, ignore_errors=True)


def _remove(path: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        _force_rmtree(path)
    else:
        os.unlink(path)


def _force_rmtree(path: str) -> None:
    def fix(func, failed, _exc):
        try:
            os.chmod(os.path.dirname(failed), stat.S_IRWXU)
            if not os.path.islink(failed):
                os.chmod(failed, stat.S_IRWXU)
            func(failed)
        except OSError:
            pass

    try:
        os.chmod(path, stat.S_IRWXU)
    except OSError:
        pass
    shutil.rmtree(path, onerror=fix)


class BasePool:
    """Idle pristine copies per base, shared by every run of this process (cold runs and warm workers)."""

    def __init__(self):
        self._idle: dict[tuple[str, str], list[Materialized]] = {}
        self._all: list[Materialized] = []
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._parked = Path(os.environ.get("CHAIN_TMPDIR") or tempfile.gettempdir())
        self._linked: dict[tuple[str, str], Path] = {}
        self.inline = InlineBases(self._parked)
        _remove_stale(self._parked)

    def linked(self, tree: BaseTree) -> Path:
        """`tree`'s files as hard links in one directory beside the run directories, made once per process
        (cold runs bind it read-only under an overlay workspace: chain.sandbox.bwrap)."""
        key = (str(tree.path), tree.digest)
        with self._lock:
            if key not in self._linked:
                where = self._parked / f"chain-linked-{os.getpid()}-{next(self._ids)}"
                where.mkdir(mode=0o755)
                self._linked[key] = where / linked_base(tree, where)
            return self._linked[key]

    def checkout(self, tree: BaseTree, at: Path) -> Materialized:
        """A pristine copy of `tree`, moved to `at` (a run's workspace path)."""
        key = (str(tree.path), tree.digest)
        with self._lock:
            idle = self._idle.get(key) or []
            copy = idle.pop() if idle else None
        if copy is None:
            copy = Materialized(tree, self._parked / f"chain-base-{os.getpid()}-{next(self._ids)}")
            with self._lock:
                self._all.append(copy)
            copy.copy_in()
        else:
            copy.reset()
        os.rename(copy.path, at)
        copy.path = at
        return copy

    def checkin(self, copy: Materialized) -> None:
        """Take the copy back from a finished run (it is reset when next checked out)."""
        parked = self._parked / f"chain-base-{os.getpid()}-{next(self._ids)}"
        try:
            os.chmod(copy.path, 0o755)
            os.rename(copy.path, parked)
        except OSError:
            with self._lock:
                self._all.remove(copy)
            return
        copy.path = parked
        with self._lock:
            self._idle.setdefault((str(copy.tree.path), copy.tree.digest), []).append(copy)

    def close(self) -> None:
        with self._lock:
            copies, self._all, self._idle = self._all, [], {}
            linked, self._linked = list(self._linked.values()), {}
        for path in linked:
            remove_linked(path.parent)
        for path in self._parked.glob(f"chain-inline-{os.getpid()}-*"):
            remove_linked(path)
        for copy in copies:
            if copy.path.exists() and copy.path.name.startswith("chain-base-"):
                _force_rmtree(str(copy.path))


def _remove_stale(where: Path) -> None:
    stale = (
        ("chain-base-*-*", _force_rmtree),
        ("chain-linked-*-*", remove_linked),
        ("chain-inline-*-*", remove_linked),
    )
    for pattern, remove in stale:
        for path in where.glob(pattern):
            pid = path.name.split("-")[2]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                remove(str(path))


_pool: BasePool | None = None
_pool_lock = threading.Lock()


def pool() -> BasePool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = BasePool()
            atexit.register(_pool.close)
        return _pool
