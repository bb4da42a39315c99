"""The stage's side of "ship a task's files to the cluster once" for `--sandbox ray`.

A task's files travel once to the Ray driver process (`ray_driver`), which `ray.put`s them once (the object
lives in its node's object store), and every run names them by a base id; a later run of the same task (a
repair or optimize candidate) sends only the files that differ from that base and the names of the files
it removed. The node side (`ray_node.NodeHost`) resolves a base once and keeps the file set in its own LRU.
Both sides are bounded, so memory stays flat on an endless stream: a base dropped here is dropped by the
driver with the next message it gets (Ray frees the object once no run in flight holds its reference).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict

BUNDLES_KEPT = 256
BUNDLE_BYTES = 256 << 20

Files = dict[str, str | bytes]


class FileShipper:
    """label -> (base id, the files it holds, their size), LRU-bounded by count and bytes.

    Callers serialize `ship` with sending its result (one lock), so a dropped base id always reaches the
    driver after every run that names it."""

    def __init__(self, kept: int = BUNDLES_KEPT, max_bytes: int = BUNDLE_BYTES):
        self._kept, self._max_bytes = kept, max_bytes
        self._entries: OrderedDict[str, tuple[int, Files, int]] = OrderedDict()
        self._bytes = 0
        self._ids = itertools.count(1)
        self._dropped: list[int] = []
        self._lock = threading.Lock()

    def ship(self, label: str, files: Files) -> tuple[int, Files | None, Files, list[str]]:
        """(base id, the base's files if the driver does not have them yet, files that differ from the
        base, paths the base has that `files` lacks)."""
        key = label or repr(sorted(files))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                base_id, base, size = entry
                changed = {p: t for p, t in files.items() if base.get(p) is not t and base.get(p) != t}
                removed = [p for p in base if p not in files]
                # A candidate that changed most of its task is cheaper shipped whole, as a new base.
                if sum(len(t) for t in changed.values()) * 2 <= size:
                    return base_id, None, changed, removed
            size = sum(len(t) for t in files.values())
            base_id = next(self._ids)
            old = self._entries.pop(key, None)
            if old is not None:
                self._dropped.append(old[0])
            self._bytes += size - (old[2] if old else 0)
            self._entries[key] = (base_id, files, size)
            while len(self._entries) > 1 and (len(self._entries) > self._kept or self._bytes > self._max_bytes):
                _, (dropped, _, dropped_size) = self._entries.popitem(last=False)
                self._bytes -= dropped_size
                self._dropped.append(dropped)
            return base_id, files, {}, []

    def dropped(self) -> list[int]:
        """Base ids dropped since the last call (the driver forgets them)."""
        with self._lock:
            out, self._dropped = self._dropped, []
            return out

    def clear(self) -> None:
        """A new driver process knows no base: every task's files travel again."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._dropped = []
