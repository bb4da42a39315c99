"""`--sandbox ray`: runs each sandbox run on a node of an existing Ray cluster, in that node's own chain backend.

The stage process is a Ray driver (`ray.init(address=...)`: `--ray-address`, else RAY_ADDRESS; `auto` joins a
cluster already running on this machine; chain never starts one). It pins one `ray_node.NodeHost` actor to
every alive node (NodeAffinitySchedulingStrategy, soft=False); each actor builds that node's local backend
(`auto` unless CHAIN_RAY_NODE_SANDBOX says otherwise), so isolation on a node is exactly a local run's there.

Placement: a run goes to the node with the most free cores (its Ray `CPU` resource minus chain's runs in
flight there); with none free it waits, so in-flight work never exceeds the cluster's CPUs (and the stage's
`-j` caps the callers). Files: a task's files are `ray.put` once and named by reference; later runs of the
same task (repair/optimize candidates) send only the files that differ (see ray_node).

Faults: a node (or its actor's worker process) dying mid-run is a Ray actor error here; the node is dropped
and the run starts again on another node, recorded as a `retry` notice in `RunOutcome.events`. The run
returns one outcome, so its result is emitted once. With no node left the outcome is a sandbox error, which
the stage retries behind its circuit breaker like any other backend failure. Cancel (^C, `| head -1`, a
lost race) reaches the node as `NodeHost.cancel`, which kills the run's sandbox there; the actors are owned
by this process, so Ray kills them (and their bwrap sandboxes, which die with their parent) when it ends.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError
from .base import RunOutcome, RunSpec, Sandbox

POLL_S = 0.1  # how often a waiting run looks at its cancel event
CANCEL_REPLY_S = 10.0  # a node answers a cancel with the run's (cancelled) outcome within this
START_TIMEOUT_S = 120.0  # a node's actor must be up (its warm pool started) within this
REFRESH_S = 5.0  # at most this often, look for nodes that joined the cluster
BUNDLES_KEPT = 256
BUNDLE_BYTES = 256 << 20
INSTALL_HINT = "pip install 'chain-pipeline[ray]'"


def ray_address(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get("CHAIN_RAY_ADDRESS") or os.environ.get("RAY_ADDRESS") or None


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


class _Bundles:
    """Driver side of "ship a task's files once": label -> (object ref, the files it holds), LRU-bounded."""

    def __init__(self, ray: Any):
        self._ray = ray
        self._entries: OrderedDict[str, tuple[Any, dict[str, str | bytes], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def ship(self, label: str, files: dict[str, str | bytes]) -> tuple[Any, dict[str, str | bytes], list[str]]:
        """(reference to a base file set, files that differ from it, paths it has that `files` lacks)."""
        key = label or repr(sorted(files))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None:
            ref, base, size = entry
            changed = {p: t for p, t in files.items() if base.get(p) is not t and base.get(p) != t}
            removed = [p for p in base if p not in files]
            if sum(len(t) for t in changed.values()) * 2 <= size:
                return ref, changed, removed
        size = sum(len(t) for t in files.values())
        ref = self._ray.put(files)
        with self._lock:
            old = self._entries.pop(key, None)
            self._bytes += size - (old[2] if old else 0)
            self._entries[key] = (ref, files, size)
            while len(self._entries) > 1 and (len(self._entries) > BUNDLES_KEPT or self._bytes > BUNDLE_BYTES):
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped  # Ray frees the object once no run in flight holds the reference
        return ref, {}, []

    def forget(self, label: str, files: dict[str, str | bytes]) -> None:
        with self._lock:
            entry = self._entries.pop(label or repr(sorted(files)), None)
            if entry:
                self._bytes -= entry[2]


class RaySandbox(Sandbox):
    name = "ray"

    def __init__(
        self,
        *,
        verbose: Callable[[str], None] | None = None,
        address: str | None = None,
        node_backend: str | None = None,
    ):
        super().__init__(verbose=verbose)
        ray = _import_ray()
        self._ray = ray
        self.address = ray_address(address)
        if not self.address:
            raise ConfigError(
                "--sandbox ray needs a cluster to join: --ray-address HOST:PORT or RAY_ADDRESS "
                "('auto' joins one already running on this machine; chain never starts one)"
            )
        self.node_backend = node_backend or os.environ.get("CHAIN_RAY_NODE_SANDBOX") or "auto"
        _errors_to_stderr()
        if not ray.is_initialized():
            import logging

            try:
                ray.init(
                    address=self.address,
                    namespace="chain",
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    configure_logging=True,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(f"--sandbox ray: cannot join the Ray cluster at {self.address!r}: {exc}") from exc
        from .ray_node import NodeHost, versions

        self._host_class = ray.remote(NodeHost)
        self.versions = versions()
        self.nodes: dict[str, Node] = {}
        self.excluded: dict[str, str] = {}  # node id -> why chain does not use it
        self._slots = threading.Condition()
        self._bundles = _Bundles(ray)
        self._kill_generation = 0
        self._live: dict[str, tuple[Node, Any]] = {}  # run id -> (node, object ref)
        self._ids = itertools.count()
        self._uses = itertools.count(1)
        self._refreshed = 0.0
        self._refreshing = threading.Lock()
        self._refresh(wait=True)
        if not self.nodes:
            why = "; ".join(f"{n[:12]}: {r}" for n, r in self.excluded.items()) or "the cluster has no alive node"
            raise ConfigError(f"--sandbox ray: no usable node at {self.address!r} ({why})")

    # -- the cluster ---------------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Runs the cluster takes at once (its CPUs on the nodes chain uses): the stage's default -j."""
        with self._slots:
            return max(1, sum(n.cpus for n in self.nodes.values() if n.alive))

    def _refresh(self, wait: bool = False) -> None:
        """Start an actor on every alive node chain does not use yet; check its versions against ours."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._refreshed = time.monotonic()
        fresh = []
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
                max_concurrency=cpus + 4,
                max_restarts=0,
                max_task_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
            ).remote(self.node_backend)
            fresh.append((Node(node_id, cpus, actor), actor.info.remote()))
        for node, info_ref in fresh:
            try:
                node.info = self._ray.get(info_ref, timeout=START_TIMEOUT_S if wait else 30.0)
            except Exception as exc:  # the node cannot run chain (not installed, broken, gone)
                self.excluded[node.node_id] = f"chain cannot start there: {_short_error(exc)}"
                self._ray.kill(node.actor)
                continue
            differ = {
                k: f"{v} (here {self.versions[k]})"
                for k, v in node.info["versions"].items()
                if self.versions.get(k) != v
            }
            if differ:
                self.excluded[node.node_id] = "versions differ: " + ", ".join(f"{k} {v}" for k, v in differ.items())
                self._ray.kill(node.actor)
                continue
            with self._slots:
                self.nodes[node.node_id] = node
                self._slots.notify_all()
        for node_id, why in self.excluded.items():
            if node_id not in getattr(self, "_reported", set()):
                self._reported = getattr(self, "_reported", set()) | {node_id}
                import sys

                print(f"chain: warning: ray node {node_id[:12]} not used: {why}", file=sys.stderr)

    def _acquire(self, cancel: threading.Event | None, generation: int) -> Node | None:
        """The node with the most free cores, once one has a free core; None if cancelled meanwhile."""
        with self._slots:
            while True:
                if _is_set(cancel) or generation != self._kill_generation:
                    return None
                alive = [n for n in self.nodes.values() if n.alive]
                free = [n for n in alive if n.inflight < n.cpus]
                if free:
                    # most free cores first; among equals the one that waited longest, so even one run at
                    # a time keeps every node's warm pool in use
                    node = max(free, key=lambda n: (n.cpus - n.inflight, -n.last_used))
                    node.inflight += 1
                    node.last_used = next(self._uses)
                    return node
                if not alive:
                    raise _NoNodes()
                self._slots.wait(POLL_S)

    def _release(self, node: Node) -> None:
        with self._slots:
            node.inflight -= 1
            self._slots.notify()

    def _node_failed(self, node: Node, exc: BaseException) -> None:
        with self._slots:
            node.alive = False
            self._slots.notify_all()
        try:
            self._ray.kill(node.actor)
        except Exception:
            pass

    # -- one run -------------------------------------------------------------------------------------------
    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> RunOutcome:
        from ray.exceptions import ObjectLostError, RayTaskError

        started = time.monotonic()
        generation = self._kill_generation
        events: list[dict[str, Any]] = []
        while True:
            if time.monotonic() - self._refreshed > REFRESH_S and not events:
                self._maybe_refresh()
            try:
                node = self._acquire(cancel, generation)
            except _NoNodes:
                return RunOutcome(
                    None,
                    _ms(started),
                    error="ray: no alive node left in the cluster",
                    events=events,
                    isolation=self.describe(),
                )
            if node is None:
                return RunOutcome(None, _ms(started), cancelled=True, events=events, isolation=self.describe())
            try:
                outcome = self._run_on(node, spec, cancel, generation)
            except RayTaskError as exc:
                if isinstance(exc.cause, ObjectLostError):  # the task's files were lost with a node: ship again
                    self._bundles.forget(spec.label, spec.files)
                    events.append(
                        {
                            "kind": "retry",
                            "message": f"ray: the task's files were lost on node {node.short}; shipping them again",
                        }
                    )
                    continue
                return RunOutcome(
                    None,
                    _ms(started),
                    error=f"ray: node {node.short}: {_short_error(exc)}",
                    events=events,
                    isolation=self.describe(),
                )
            except _NodeLost as lost:
                self._node_failed(node, lost.cause)
                others = sum(n.alive for n in self.nodes.values())
                events.append(
                    {
                        "kind": "retry",
                        "message": f"ray: node {node.short} failed mid-run "
                        f"({_short_error(lost.cause)}); running it again on "
                        f"{'another node' if others else 'no node: none is left'}",
                        "attempt": len(events) + 1,
                    }
                )
                continue
            finally:
                self._release(node)
            outcome.events = events + list(outcome.events)
            outcome.isolation = {
                **outcome.isolation,
                "ray": {"node": node.node_id, "address": self.address, "node_backend": self.node_backend},
            }
            return outcome

    def _run_on(self, node: Node, spec: RunSpec, cancel: threading.Event | None, generation: int) -> RunOutcome:
        from ray.exceptions import (
            ActorUnavailableError,
            GetTimeoutError,
            NodeDiedError,
            ObjectLostError,
            RayActorError,
            WorkerCrashedError,
        )

        lost = (RayActorError, ActorUnavailableError, NodeDiedError, WorkerCrashedError, ObjectLostError)
        run_id = f"{os.getpid()}-{next(self._ids)}-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        try:
            base, changed, removed = self._bundles.ship(spec.label, spec.files)
            ref = node.actor.run.remote(run_id, [base], changed, removed, replace(spec, files={}))
        except lost as exc:
            raise _NodeLost(exc) from exc
        self._live[run_id] = (node, ref)
        try:
            while True:
                try:
                    ready, _ = self._ray.wait([ref], timeout=POLL_S)
                    if ready:
                        return self._ray.get(ref)
                    if _is_set(cancel) or generation != self._kill_generation:
                        node.actor.cancel.remote(run_id)
                        try:
                            outcome = self._ray.get(ref, timeout=CANCEL_REPLY_S)
                        except GetTimeoutError:
                            self._ray.cancel(ref)
                            outcome = RunOutcome(
                                None, _ms(started), notes=["ray: the node did not answer the cancel in time"]
                            )
                        outcome.cancelled, outcome.timed_out = True, False
                        return outcome
                except lost as exc:
                    if _is_set(cancel) or generation != self._kill_generation:
                        return RunOutcome(None, _ms(started), cancelled=True)
                    raise _NodeLost(exc) from exc
        finally:
            self._live.pop(run_id, None)

    def _maybe_refresh(self) -> None:
        if not self._refreshing.acquire(blocking=False):
            return  # another run is looking already
        try:
            self._refresh()
        except Exception:  # the cluster's control plane hiccuped: keep the nodes we know
            self._refreshed = time.monotonic()
        finally:
            self._refreshing.release()

    # -- the rest of the interface -------------------------------------------------------------------------
    def kill_all(self) -> None:
        # Called from a signal handler: only bump a counter. Every waiting run sees it within POLL_S and
        # cancels itself on its node from its own thread.
        self._kill_generation += 1

    def close(self) -> None:
        self.kill_all()
        deadline = time.monotonic() + CANCEL_REPLY_S
        while self._live and time.monotonic() < deadline:
            time.sleep(POLL_S)
        nodes = list(self.nodes.values())
        closing = []
        for node in nodes:
            try:
                closing.append(node.actor.close.remote())
            except Exception:
                pass
        try:
            self._ray.wait(closing, num_returns=len(closing), timeout=CANCEL_REPLY_S)
        except Exception:
            pass
        for node in nodes:
            try:
                self._ray.kill(node.actor)
            except Exception:
                pass

    def describe(self) -> dict[str, Any]:
        alive = [n for n in self.nodes.values() if n.alive]
        return {
            "backend": self.name,
            "address": self.address,
            "node_backend": self.node_backend,
            "nodes": len(alive),
            "cpus": sum(n.cpus for n in alive),
        }

    def report(self) -> list[dict[str, Any]]:
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
        rows += [{"node": node_id, "used": False, "reason": why} for node_id, why in self.excluded.items()]
        return rows

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            _import_ray()
        except ConfigError as exc:
            return False, str(exc)
        return True, ""


class _NoNodes(Exception):
    pass


class _NodeLost(Exception):
    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


def _errors_to_stderr() -> None:
    """Ray's driver prints the cluster's error messages ("A worker died ...") with `print_to_stdstream` on
    sys.stdout, which carries chain's data only: send them to stderr (they are for humans)."""
    from ray._private import worker

    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "chain_stderr", False):
        return

    def to_stderr(data, *args, **kwargs):
        return original({**data, "is_err": True}, *args, **kwargs)

    setattr(to_stderr, "chain_stderr", True)  # noqa: B010  (a marker mypy cannot see on a function)
    worker.print_to_stdstream = to_stderr


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--sandbox ray needs the ray package: {INSTALL_HINT}") from None
    return ray


def _is_set(event: threading.Event | None) -> bool:
    return event is not None and event.is_set()


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
