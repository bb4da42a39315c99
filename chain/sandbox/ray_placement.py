"""Which node of the Ray cluster runs the next sandbox run (`--sandbox ray`), and which nodes chain uses.

One `ray_node.NodeHost` actor is pinned to every alive node with a CPU resource (NodeAffinitySchedulingStrategy,
soft=False). A node is used only if its versions (chain, Python, pytest) are the driver's: a node that differs
is excluded with the reason, said once on stderr and shown by `chain doctor --sandbox ray`, because its results
would not mean the same thing.

A run goes to the node with the most free cores (its Ray `CPU` resource minus chain's runs in flight there; ties
to the node idle longest); with none free the driver keeps it queued, so in-flight work never exceeds the
cluster's CPUs. Nodes
that joined are looked for at most every REFRESH_S, on a thread of its own: a run never waits on the cluster's
control plane (GCS), which may be gone. Whether it is gone is asked of its port directly (`gcs_reachable`).
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

POLL_S = 0.1  # how often a waiting run looks at its cancel event
START_TIMEOUT_S = 120.0  # a node's actor must be up (its warm pool started) within this at startup
JOIN_TIMEOUT_S = 30.0  # ... and within this for a node that joined later
REFRESH_S = 5.0  # at most this often, look for nodes that joined the cluster
GCS_PROBE_S = 2.0  # a GCS that accepts no TCP connection within this is gone


@dataclass(eq=False)
class Node:
    node_id: str
    cpus: int
    actor: Any
    info: dict[str, Any] = field(default_factory=dict)
    inflight: int = 0
    alive: bool = True
    last_used: int = 0

    @property
    def short(self) -> str:
        return self.node_id[:12]


class NoNodes(Exception):
    """No alive node is left to run on."""


class Placement:
    def __init__(self, ray: Any, host_class: Any, node_backend: str, versions: dict[str, str]):
        self._ray, self._host_class = ray, host_class
        self.node_backend, self.versions = node_backend, versions
        self.nodes: dict[str, Node] = {}
        self.excluded: dict[str, str] = {}  # node id -> why chain does not use it
        self._excluded_nodes: dict[str, Node] = {}  # what an excluded node said about itself, for doctor
        self._reported: set[str] = set()
        self._slots = threading.Lock()
        self._uses = 0
        self._refreshed = 0.0
        self._refreshing = threading.Lock()
        self.on_change: Callable[[], None] | None = None  # called after nodes joined (runs may be placed)

    # -- which nodes ---------------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Runs the cluster takes at once (its CPUs on the nodes chain uses)."""
        with self._slots:
            return max(1, sum(n.cpus for n in self.nodes.values() if n.alive))

    def alive(self) -> list[Node]:
        with self._slots:
            return [n for n in self.nodes.values() if n.alive]

    def refresh(self, wait: bool = False) -> None:
        """Start an actor on every alive node chain does not use yet; check its versions against ours."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._refreshed = time.monotonic()
        fresh, added = [], False
        for entry in self._ray.nodes():
            node_id, cpus = entry["NodeID"], int(entry.get("Resources", {}).get("CPU", 0))
            known = self.nodes.get(node_id)
            if not entry.get("Alive") or (known is not None and known.alive) or node_id in self.excluded:
                continue
            if cpus < 1:
                self.excluded[node_id] = "no CPU resource"
                continue
            actor = self._host_class.options(
                num_cpus=0,
                max_concurrency=cpus + 4,  # + threads for cancel/close, never queued behind runs
                max_restarts=0,
                max_task_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
            ).remote(self.node_backend)
            fresh.append((Node(node_id, cpus, actor), actor.info.remote()))
        for node, info_ref in fresh:
            try:
                node.info = self._ray.get(info_ref, timeout=START_TIMEOUT_S if wait else JOIN_TIMEOUT_S)
            except Exception as exc:  # the node cannot run chain (not installed, broken, gone)
                self._exclude(node, f"chain cannot start there: {short_error(exc)}")
                continue
            differ = {k: v for k, v in node.info["versions"].items() if self.versions.get(k) != v}
            if differ:
                why = ", ".join(f"{k} {v} (here {self.versions.get(k)})" for k, v in differ.items())
                self._exclude(node, f"versions differ: {why}")
                continue
            with self._slots:
                self.nodes[node.node_id] = node
            added = True
        for node_id, why in self.excluded.items():
            if node_id not in self._reported:
                self._reported.add(node_id)
                print(f"chain: warning: ray node {node_id[:12]} not used: {why}", file=sys.stderr)
        if added and self.on_change is not None:
            self.on_change()

    def refresh_soon(self) -> None:
        """Look for nodes that joined, at most every REFRESH_S, without making the caller wait."""
        if time.monotonic() - self._refreshed < REFRESH_S or not self._refreshing.acquire(blocking=False):
            return
        self._refreshed = time.monotonic()

        def look() -> None:
            try:
                self.refresh()
            except Exception:  # the control plane hiccuped (or is gone): keep the nodes we know
                pass
            finally:
                self._refreshing.release()

        threading.Thread(target=look, name="chain-ray-refresh", daemon=True).start()

    def _exclude(self, node: Node, why: str) -> None:
        self.excluded[node.node_id] = why
        self._excluded_nodes[node.node_id] = node
        try:
            self._ray.kill(node.actor)
        except Exception:
            pass

    # -- runs ----------------------------------------------------------------------------------------------
    def try_acquire(self) -> Node | None:
        """The node with the most free cores, its core taken; None if no node has a free core.
        Raises NoNodes when no alive node is left."""
        with self._slots:
            alive = [n for n in self.nodes.values() if n.alive]
            if not alive:
                raise NoNodes()
            free = [n for n in alive if n.inflight < n.cpus]
            if not free:
                return None
            # most free cores first; among equals the one that waited longest, so even one run at a time
            # keeps every node's warm pool in use
            node = max(free, key=lambda n: (n.cpus - n.inflight, -n.last_used))
            node.inflight += 1
            self._uses += 1
            node.last_used = self._uses
            return node

    def release(self, node: Node) -> None:
        with self._slots:
            node.inflight -= 1

    def failed(self, node: Node) -> None:
        """The node (or its actor's worker process) died: no more runs go there."""
        with self._slots:
            node.alive = False
        try:
            self._ray.kill(node.actor)
        except Exception:
            pass

    def rows(self) -> list[dict[str, Any]]:
        """Per node: id, CPUs, isolation, versions and whether chain uses it (for `chain doctor`)."""
        rows = [
            {
                "node": n.node_id,
                "cpus": n.cpus,
                "used": n.alive,
                "host": n.info.get("host"),
                "isolation": n.info.get("isolation"),
                "versions": n.info.get("versions"),
            }
            for n in self.nodes.values()
        ]
        for node_id, why in self.excluded.items():
            node = self._excluded_nodes.get(node_id)
            seen = (
                {"cpus": node.cpus, **{k: node.info.get(k) for k in ("host", "isolation", "versions")}} if node else {}
            )
            rows.append({"node": node_id, **seen, "used": False, "reason": why})
        return rows


def gcs_reachable(address: str | None) -> bool:
    """Whether the cluster's GCS (HOST:PORT) accepts a TCP connection: a dead head refuses at once.
    Asked directly because every Ray API call would wait for the GCS (up to a minute) instead of saying."""
    if not address or ":" not in address:
        return True  # nothing to ask: assume it is there
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=GCS_PROBE_S):
            return True
    except (OSError, ValueError):
        return False


def short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
