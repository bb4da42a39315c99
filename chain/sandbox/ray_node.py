"""The node side of `--sandbox ray`: one Ray actor per node, holding that node's own local chain backend.

The actor is an ordinary chain sandbox host: it builds the node's backend the way a local `chain` would
(`auto` = bwrap-warm where bubblewrap works there, else local-warm, with the same warning and the same
`isolation` record), so a run on a node is contained exactly as a local run on that machine is. Ray only
carries the run there and its outcome back. The actor is threaded (`max_concurrency`): each run occupies one
of its threads while the node's warm worker runs it.

Task files arrive once per node: a run names its task's files by an object-store reference (the driver
`ray.put`s them once, pickled) plus the files its candidate changed; the actor keeps the resolved file sets
it has seen in a small LRU, so a repair search's hundredth candidate costs only its changed files on the
wire. A run's spec and its outcome travel as pickled bytes (`payload`), made by the stage process and read
back there: the driver process between them only forwards them.

This module is imported on every node (chain must be installed there); it imports Ray lazily so chain loads
without it.
"""

from __future__ import annotations

import pickle
import platform
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from .base import RunOutcome, RunSpec

BUNDLES_KEPT = 64  # resolved task file sets per node (a task's candidates all reuse its one entry)
NEED_BASE = b""  # what a run returns when it came without the reference to files this node does not hold


def versions() -> dict[str, str]:
    """What must agree between the stage process and a node for a node's result to mean the same thing."""
    import pytest

    from .. import __version__

    return {"chain": __version__, "python": platform.python_version(), "pytest": pytest.__version__}


class NodeHost:
    """Instantiated by Ray on one node (pinned there by node affinity); see the module docstring."""

    def __init__(self, backend: str = "auto"):
        import ray

        from .. import registry

        self._ray = ray
        self.node_id = ray.get_runtime_context().get_node_id()
        self.box = registry.sandbox(backend)
        self._bundles: OrderedDict[str, dict[str, str | bytes]] = OrderedDict()
        self._bundle_lock = threading.Lock()
        self._cancels: dict[str, threading.Event] = {}
        self._cancelled_early: set[str] = set()  # cancels that arrived before their run started
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        import os
        import socket

        return {
            "node_id": self.node_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "cpus_os": os.cpu_count(),
            "versions": versions(),
            "isolation": self.box.describe(),
        }

    def _files(
        self, key: str, base: list | None, changed: dict[str, str | bytes], removed: list[str]
    ) -> dict[str, str | bytes] | None:
        with self._bundle_lock:
            files = self._bundles.get(key)
            if files is not None:
                self._bundles.move_to_end(key)
        if files is None:
            if base is None:
                return None
            files = pickle.loads(self._ray.get(base[0]))  # a list: Ray hands over the reference, not the value
            with self._bundle_lock:
                self._bundles[key] = files
                while len(self._bundles) > BUNDLES_KEPT:
                    self._bundles.popitem(last=False)
        if not changed and not removed:
            return dict(files)
        merged = {path: text for path, text in files.items() if path not in removed}
        merged.update(changed)
        return merged

    def run(self, run_id: str, key: str, base: list | None, payload: bytes) -> bytes:
        """`key` names the task's files, `base` (a list holding their object ref) comes with the first run of
        them the driver sends here: a later one goes without (a reference in an argument costs Ray a borrower's
        bookkeeping on every call). `payload`: pickled (changed files, removed paths, the RunSpec without
        files). Returns the pickled RunOutcome, or NEED_BASE when the files named by `key` are not (or no
        longer) here and came without their reference: the driver sends the run again with it."""
        changed, removed, spec = pickle.loads(payload)
        o = self._run(run_id, key, base, changed, removed, spec)
        if o is None:
            return NEED_BASE
        return pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL)

    def _run(
        self,
        run_id: str,
        key: str,
        base: list | None,
        changed: dict[str, str | bytes],
        removed: list[str],
        spec: RunSpec,
    ) -> RunOutcome | None:
        cancel = threading.Event()
        with self._lock:
            self._cancels[run_id] = cancel
            if run_id in self._cancelled_early:
                self._cancelled_early.discard(run_id)
                cancel.set()
        try:
            files = self._files(key, base, changed, removed)
            if files is None:
                return None
            return self.box.run(replace(spec, files=files), cancel)
        finally:
            with self._lock:
                self._cancels.pop(run_id, None)

    def cancel(self, run_id: str) -> bool:
        """Ends one run (its sandbox processes are killed by the node's backend, as for a local cancel)."""
        with self._lock:
            event = self._cancels.get(run_id)
            if event is None:
                self._cancelled_early.add(run_id)
        if event is not None:
            event.set()
        return event is not None

    def kill_all(self) -> None:
        with self._lock:
            events = list(self._cancels.values())
        for event in events:
            event.set()
        self.box.kill_all()

    def close(self) -> None:
        self.kill_all()
        self.box.close()
