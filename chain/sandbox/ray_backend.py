"""`--sandbox ray`: runs each sandbox run on a node of an existing Ray cluster, in that node's own chain backend.

The stage process is a Ray driver (`ray.init(address=...)`: `--ray-address`, else RAY_ADDRESS; `auto` joins a
cluster already running on this machine; chain never starts one). Three parts, one module each:
- which node runs a run, and which nodes are used at all (versions, CPUs): `ray_placement`;
- the node side, an actor holding that node's own local backend (`auto` unless CHAIN_RAY_NODE_SANDBOX says
  otherwise), so isolation on a node is exactly a local run's there: `ray_node`;
- a task's files shipped once through the object store, candidates as their changed files: `ray_files`;
and here, one run's life: placed, sent, waited for, cancelled, retried.

Faults: a node (or its actor's worker process) dying mid-run is a Ray actor error here; the node is dropped
and the run starts again on another node, recorded as a `retry` notice in `RunOutcome.events`. The run
returns one outcome, so its result is emitted once. With no node left but the cluster's GCS still there, the
outcome is a sandbox error, which the stage retries behind its circuit breaker like any other backend failure
(nodes may join again). A cluster whose GCS is gone cannot come back for this driver (Ray ends a driver whose
GCS stays away a minute): every run from then on raises SandboxUnavailable at once, so each task still in the
stream becomes an `error` event naming the cluster, and the stage exits 5 (SANDBOX), without waiting.
Cancel (^C, `| head -1`, a lost race) reaches the node as `NodeHost.cancel`, which kills the run's sandbox
there; the actors are owned by this process, so Ray kills them (and their bwrap sandboxes, which die with
their parent) when it ends.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import ConfigError, SandboxUnavailable
from .base import RunOutcome, RunSpec, Sandbox
from .ray_files import FileShipper
from .ray_placement import POLL_S, Node, NoNodes, Placement, gcs_reachable, short_error

CANCEL_REPLY_S = 10.0  # a node answers a cancel with the run's (cancelled) outcome within this
INSTALL_HINT = "pip install 'chain-pipeline[ray]'"


def ray_address(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get("CHAIN_RAY_ADDRESS") or os.environ.get("RAY_ADDRESS") or None


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

        self.versions = versions()
        try:  # what `auto` resolved to: the port asked when a node fails, to tell a gone cluster from a gone node
            self.gcs_address = ray.get_runtime_context().gcs_address
        except Exception:
            self.gcs_address = self.address if self.address != "auto" else None
        self.placement = Placement(ray, ray.remote(NodeHost), self.node_backend, self.versions)
        self.gone: str | None = None  # set once the cluster's GCS is unreachable: no run can go on
        self._files = FileShipper(ray)
        self._kill_generation = 0
        self._live: dict[str, tuple[Node, Any]] = {}  # run id -> (node, object ref)
        self._ids = itertools.count()
        self.placement.refresh(wait=True)
        if not self.placement.nodes:
            why = "; ".join(f"{n[:12]}: {r}" for n, r in self.placement.excluded.items())
            raise ConfigError(f"--sandbox ray: no usable node at {self.address!r} ({why or 'no alive node'})")

    @property
    def nodes(self) -> dict[str, Node]:
        return self.placement.nodes

    @property
    def capacity(self) -> int:
        """Runs the cluster takes at once (its CPUs on the nodes chain uses): the stage's default -j."""
        return self.placement.capacity

    def _check_gone(self) -> None:
        """Raise SandboxUnavailable if the cluster's GCS is gone (asked once a node failed or none is left)."""
        if self.gone is None and not gcs_reachable(self.gcs_address):
            self.gone = (
                f"ray: the cluster at {self.address!r} is gone (its GCS at {self.gcs_address} does not answer); "
                "no run can be placed: restart the cluster, or run without --sandbox ray"
            )
        if self.gone is not None:
            raise SandboxUnavailable(self.gone)

    # -- one run -------------------------------------------------------------------------------------------
    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> RunOutcome:
        from ray.exceptions import ObjectLostError, RayTaskError

        started = time.monotonic()
        generation = self._kill_generation

        def stopped() -> bool:
            return _is_set(cancel) or generation != self._kill_generation

        events: list[dict[str, Any]] = []
        while True:
            if self.gone is not None:
                raise SandboxUnavailable(self.gone)
            self.placement.refresh_soon()
            try:
                node = self.placement.acquire(stopped)
            except NoNodes:
                self._check_gone()
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
                outcome = self._run_on(node, spec, stopped)
            except RayTaskError as exc:
                if isinstance(exc.cause, ObjectLostError):  # the task's files were lost with a node: ship again
                    self._files.forget(spec.label, spec.files)
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
                    error=f"ray: node {node.short}: {short_error(exc)}",
                    events=events,
                    isolation=self.describe(),
                )
            except _NodeLost as lost:
                self.placement.failed(node)
                self._check_gone()
                others = len(self.placement.alive())
                events.append(
                    {
                        "kind": "retry",
                        "message": f"ray: node {node.short} failed mid-run "
                        f"({short_error(lost.cause)}); running it again on "
                        f"{'another node' if others else 'no node: none is left'}",
                        "attempt": len(events) + 1,
                    }
                )
                continue
            finally:
                self.placement.release(node)
            outcome.events = events + list(outcome.events)
            outcome.isolation = {
                **outcome.isolation,
                "ray": {"node": node.node_id, "address": self.address, "node_backend": self.node_backend},
            }
            return outcome

    def _run_on(self, node: Node, spec: RunSpec, stopped: Callable[[], bool]) -> RunOutcome:
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
            base, changed, removed = self._files.ship(spec.label, spec.files)
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
                    if stopped():
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
                    if stopped():
                        return RunOutcome(None, _ms(started), cancelled=True)
                    raise _NodeLost(exc) from exc
        finally:
            self._live.pop(run_id, None)

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
        if self.gone is not None:
            # Nothing is left to tell (the nodes went with the GCS), and every Ray call would wait for it.
            return
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
        alive = self.placement.alive()
        return {
            "backend": self.name,
            "address": self.address,
            "node_backend": self.node_backend,
            "nodes": len(alive),
            "cpus": sum(n.cpus for n in alive),
        }

    def report(self) -> list[dict[str, Any]]:
        """Per node: id, CPUs, isolation, versions and whether chain uses it (for `chain doctor`)."""
        return self.placement.rows()

    @property
    def excluded(self) -> dict[str, str]:
        return self.placement.excluded

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            _import_ray()
        except ConfigError as exc:
            return False, str(exc)
        return True, ""


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
