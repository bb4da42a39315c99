"""Driver side of "ship a task's files to the cluster once" for `--sandbox ray`.

A task's files are `ray.put` once (the object lives in the driver's object store) and every run names them
by reference; a later run of the same task (a repair or optimize candidate) sends only the files that
differ from that base and the names of the files it removed. The node side (`ray_node.NodeHost`) resolves a
reference once and keeps the file set in its own LRU. Both sides are bounded, so memory stays flat on an
endless stream: a dropped entry is freed by Ray once no run in flight holds its reference.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

BUNDLES_KEPT = 256
BUNDLE_BYTES = 256 << 20

Files = dict[str, str | bytes]


class FileShipper:
    """label -> (object ref, the files it holds, their size), LRU-bounded by count and bytes."""

    def __init__(self, ray: Any, kept: int = BUNDLES_KEPT, max_bytes: int = BUNDLE_BYTES):
        self._ray = ray
        self._kept, self._max_bytes = kept, max_bytes
        self._entries: OrderedDict[str, tuple[Any, Files, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def ship(self, label: str, files: Files) -> tuple[Any, Files, list[str]]:
        """(reference to a base file set, files that differ from it, paths it has that `files` lacks)."""
        key = _key(label, files)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None:
            ref, base, size = entry
            changed = {p: t for p, t in files.items() if base.get(p) is not t and base.get(p) != t}
            removed = [p for p in base if p not in files]
            # A candidate that changed most of its task is cheaper shipped whole, as a new base.
            if sum(len(t) for t in changed.values()) * 2 <= size:
                return ref, changed, removed
        size = sum(len(t) for t in files.values())
        ref = self._ray.put(files)
        with self._lock:
            old = self._entries.pop(key, None)
            self._bytes += size - (old[2] if old else 0)
            self._entries[key] = (ref, files, size)
            while len(self._entries) > 1 and (len(self._entries) > self._kept or self._bytes > self._max_bytes):
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
        return ref, {}, []

    def forget(self, label: str, files: Files) -> None:
        """Drop a base whose object was lost (with the node that held it): the next run ships it again."""
        with self._lock:
            entry = self._entries.pop(_key(label, files), None)
            if entry:
                self._bytes -= entry[2]


def _key(label: str, files: Files) -> str:
    return label or repr(sorted(files))
