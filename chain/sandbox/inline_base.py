"""A big self-contained task run the way a by-reference one is: its files written (or linked) once per process
as a base, each run an overlay of it with only what that run changes.

A task of a few thousand files (Pygments: 2,700 files, 45 MB) travels inline, and every run of it wrote all of
them into a fresh workspace and deleted them after: seconds per run on a busy disk (ext4 mounted with
`discard` frees every deleted block at once), more than chain's whole budget beside a 25 s suite. Where the
sandbox shows a base as an overlay (bubblewrap, warm and cold: chain.sandbox.materialize), such a task's files
become a base instead, once per process: each file is a hard link to the file it came from when that still
holds exactly the task's bytes (compared byte for byte), else written. The overlay keeps the base read-only;
each run's differences (analyze's coverage config, a repair candidate's edit) go to its upper directory.
Before each run one lstat per file checks the base is as it was made (size and mtime: a linked file the user
writes in place meanwhile is noticed, and that base is not used again; runs cannot write it at all).
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

from ..tree import BaseTree, Entry

MIN_FILES = 500  # below both, writing the files per run costs less than looking for what changed
MIN_BYTES = 8 << 20
KEPT = 4  # bases per process (a stage sees one task's files, and repair's variants of them)
MAX_CHANGED = 64  # a run differing in more files than this (and a tenth of them) gets a base of its own


def big(files: dict[str, str | bytes]) -> bool:
    return len(files) >= MIN_FILES or sum(len(c) for c in files.values()) >= MIN_BYTES


class InlineBases:
    def __init__(self, parked: Path):
        self.parked = parked
        self.bases: list[tuple[BaseTree, dict[str, str | bytes]]] = []  # newest last
        self.lock = threading.Lock()

    def split(
        self, files: dict[str, str | bytes], source: str | None
    ) -> tuple[BaseTree, dict[str, str | bytes]] | None:
        """(a base holding `files` or nearly, the files that differ from it), or None for a small task."""
        if not big(files):
            return None
        with self.lock:
            for tree, held in reversed(self.bases):
                if not _unchanged(tree):
                    self.bases.remove((tree, held))  # a linked file was written in place since: not our bytes
                    continue
                if held.keys() - files.keys():
                    continue  # the run lacks a file the base has: an overlay cannot say so from here
                changed = {p: c for p, c in files.items() if held.get(p) is not c and held.get(p) != c}
                if len(changed) <= max(MAX_CHANGED, len(files) // 10):
                    return tree, changed
            tree = self._build(files, source)
            self.bases.append((tree, dict(files)))
            if len(self.bases) > KEPT:
                self.bases.pop(0)  # (its directory stays until the process ends: a run may be using it)
            return tree, {}

    def _build(self, files: dict[str, str | bytes], source: str | None) -> BaseTree:
        token = uuid.uuid4().hex
        root = self.parked / f"chain-inline-{os.getpid()}-{token[:12]}"
        root.mkdir(mode=0o755)
        made: set[str] = set()
        entries = {}
        for rel, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            parent = os.path.dirname(rel)
            if parent not in made:
                os.makedirs(root / parent, mode=0o755, exist_ok=True)
                made.add(parent)
            target = os.path.join(root, rel)
            if not (source and _link_if_same(os.path.join(source, rel), target, data)):
                with open(target, "wb") as fh:
                    fh.write(data)
            st = os.lstat(target)
            entries[rel] = Entry(rel, st.st_size, st.st_mtime_ns)
        return BaseTree(root, f"inline:{token}", entries)


def _unchanged(tree: BaseTree) -> bool:
    """Every file of the base as it was made (a linked one shares its inode with the file it came from). Not
    ctime: linking the base into a warm worker's directory changes it."""
    root = str(tree.path)
    try:
        for rel, entry in tree.entries.items():
            st = os.lstat(os.path.join(root, rel))
            if st.st_size != entry.size or st.st_mtime_ns != entry.mtime_ns:
                return False
    except OSError:
        return False
    return True


def _link_if_same(src: str, target: str, data: bytes) -> bool:
    """Link `target` to `src` when `src` is a regular file holding exactly `data`."""
    try:
        if os.path.islink(src) or os.path.getsize(src) != len(data):
            return False
        with open(src, "rb") as fh:
            if fh.read() != data:
                return False
        os.link(src, target)
        return True
    except OSError:
        return False
