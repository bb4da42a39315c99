"""`--sandbox ray`: runs each sandbox run on a node of an existing Ray cluster, in that node's own chain backend.

The stage process never imports Ray. It starts a child process, the Ray driver (`ray_driver`: joins the
cluster with `ray.init(address=...)`, `--ray-address`, else RAY_ADDRESS; `auto` joins a cluster already
running on this machine; chain never starts one), lazily (`ensure_running`: when the stage asks the
cluster's capacity, or at the first run) and talks to it over two pipes (`ray_channel`). The parts:
- which node runs a run, and which nodes are used at all (versions, CPUs): `ray_placement` (in the driver);
- the node side, an actor holding that node's own local backend (`auto` unless CHAIN_RAY_NODE_SANDBOX says
  otherwise), so isolation on a node is exactly a local run's there: `ray_node`;
- a task's files shipped once, candidates as their changed files: `ray_files` (here) and the object store;
and here, one run's life as the stage sees it: sent, waited for, cancelled.

Faults: a node (or its actor's worker process) dying mid-run is handled in the driver (the run starts again on
another node, a `retry` notice in `RunOutcome.events`; the run returns one outcome, so its result is emitted
once). A cluster whose GCS is gone makes every run from then on raise SandboxUnavailable, so each task still
in the stream becomes an `error` event naming the cluster, and the stage exits 5 (SANDBOX). Ray ends its
driver when the cluster goes away (it fate-shares a driver with its node's raylet): this process outlives it,
keeps every result the driver sent, and decides once whether the cluster is gone (its GCS does not answer,
or a new driver cannot join it) or the driver died alone (then a new one takes the next runs).
Cancel (^C, `| head -1`, a lost race) is a message to the driver, which cancels the run on its node
(`NodeHost.cancel` kills the run's sandbox there); the driver ends when this process does, however it ends.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import pickle
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError, SandboxUnavailable
from .base import RunOutcome, RunSpec, Sandbox
from .ray_channel import Sender, receive
from .ray_files import FileShipper
from .ray_placement import POLL_S, START_TIMEOUT_S, gcs_reachable

INSTALL_HINT = "pip install 'chain-pipeline[ray]'"
START_LIMIT_S = START_TIMEOUT_S + 120  # the driver joins the cluster and starts its actors within this


def ray_address(explicit: str | None = None) -> str | None:
    """--ray-address, else Ray's own RAY_ADDRESS."""
    return explicit or os.environ.get("RAY_ADDRESS") or None


@dataclass(eq=False)
class _Slot:
    """Where the driver's answer to one run lands."""

    done: threading.Event = field(default_factory=threading.Event)
    answer: tuple = ()

    def set(self, *answer: Any) -> None:
        self.answer = answer
        self.done.set()


class _Driver:
    """One driver process, its pipes and the runs waiting on it."""

    def __init__(self, proc: subprocess.Popen, sender: Sender, replies: Any):
        self.proc, self.sender, self.replies = proc, sender, replies
        self.slots: dict[str, _Slot] = {}
        self.alive = True
        self.lock = threading.Lock()
        self.closed = threading.Event()


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
        _check_ray()
        self.address = ray_address(address)
        if not self.address:
            raise ConfigError(
                "--sandbox ray needs a cluster to join: --ray-address HOST:PORT or RAY_ADDRESS "
                "('auto' joins one already running on this machine; chain never starts one)"
            )
        self.node_backend = node_backend or os.environ.get("CHAIN_RAY_NODE_SANDBOX") or "auto"
        self.gone: str | None = None  # set once the cluster is gone: no run can go on
        self.state: dict[str, Any] = {}  # what the driver last said about the cluster (nodes, CPUs, rows)
        self._driver: _Driver | None = None
        self._starts = 0
        self._start_lock = threading.Lock()
        self._ship_lock = threading.Lock()  # a base's id reaches the driver before the news it was dropped
        self._files = FileShipper()
        self._kill_generation = 0
        self._ids = itertools.count()

    # -- the driver process --------------------------------------------------------------------------------
    def ensure_running(self) -> _Driver:
        """The driver process, started if there is none (ConfigError if it cannot join the cluster)."""
        driver = self._driver
        if driver is not None and driver.alive:
            return driver
        with self._start_lock:
            if self._driver is not None and self._driver.alive:
                return self._driver
            if self.gone is None and self._starts:  # a driver ended before: is there a cluster to join again?
                self.gone = self._unreachable("the driver process ended")
            if self.gone is not None:
                raise SandboxUnavailable(self.gone)
            self._driver = self._start()
            return self._driver

    def _unreachable(self, what: str) -> str | None:
        """Why the cluster is gone for this machine (its GCS, or the raylet a driver here joins through, does not
        answer), else None. Ray ends a driver whose node's raylet died (`ray stop`, the node went down) and one
        whose GCS stays away: a new one could only join a cluster that has both."""
        gcs, raylet = self.state.get("gcs_address"), self.state.get("raylet_address")
        for part, address in (("GCS", gcs), ("raylet on this machine", raylet)):
            if not gcs_reachable(address):
                return (
                    f"ray: the cluster at {self.address!r} is gone ({what}, and its {part} at {address} does not "
                    "answer); restart the cluster, or run without --sandbox ray"
                )
        return None

    def _start(self) -> _Driver:
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        argv = [sys.executable, "-m", "chain.sandbox.ray_process", "--address", str(self.address)]
        argv += ["--node-backend", self.node_backend, "--fds", f"{requests_r},{replies_w}"]
        try:
            # stdout: Ray prints the cluster's messages there, and this process's stdout carries data only.
            # A session of its own: a ^C on the terminal reaches the stage, which cancels through it.
            proc = subprocess.Popen(
                argv, pass_fds=(requests_r, replies_w), stdin=subprocess.DEVNULL, stdout=2, start_new_session=True
            )
        finally:
            os.close(requests_r)
            os.close(replies_w)
        replies = os.fdopen(replies_r, "rb")
        deadline = time.monotonic() + START_LIMIT_S
        while not select.select([replies], [], [], POLL_S * 10)[0]:  # until the driver says something
            why = self._unreachable("a new driver process cannot join it") if self._starts else None
            if why is None and time.monotonic() > deadline:
                why = f"--sandbox ray: no Ray driver joined the cluster at {self.address!r} in {START_LIMIT_S:g}s"
            if why is not None:
                proc.kill()
                os.close(requests_w)
                replies.close()
                proc.wait()
                raise ConfigError(why)
        first = receive(replies)
        if not first or first[0][0] != "ready":
            why = first[0][1] if first else f"the Ray driver process exited ({_reap(proc)}) before it joined"
            os.close(requests_w)
            replies.close()
            _reap(proc)
            raise ConfigError(why)
        self._starts += 1
        self.state = first[0][1]
        with self._ship_lock:
            self._files.clear()
        driver = _Driver(proc, Sender(requests_w), replies)
        threading.Thread(target=self._read, args=(driver,), name="chain-ray-replies", daemon=True).start()
        return driver

    def _read(self, driver: _Driver) -> None:
        while (messages := receive(driver.replies)) is not None:
            for kind, *rest in messages:
                if kind == "done" or kind == "unavailable":
                    with driver.lock:
                        slot = driver.slots.pop(rest[0], None)
                    if kind == "unavailable":
                        self.gone = rest[1]
                    if slot is not None:
                        slot.set(kind, *rest[1:])
                elif kind == "state":
                    self.state = rest[0]
                elif kind == "closed":
                    driver.closed.set()
        with driver.lock:
            driver.alive = False
            slots, driver.slots = list(driver.slots.values()), {}
        code = driver.proc.wait()
        for slot in slots:
            slot.set("died", code)

    def _driver_died(self, driver: _Driver, code: int) -> None:
        """Once per driver that ended unasked: is the cluster gone, or did the driver die alone?"""
        with self._start_lock:
            if self._driver is not driver or self.gone is not None:
                return
            self.gone = self._unreachable(f"its driver process ended, exit {code}")
            if self.gone is not None:
                return
            try:
                self._driver = self._start()
            except ConfigError as exc:
                self.gone = (
                    f"ray: the cluster at {self.address!r} is gone (its driver process ended, exit {code}, and a "
                    f"new one cannot join: {exc})"
                )

    @property
    def capacity(self) -> int:
        """Runs the cluster takes at once (its CPUs on the nodes chain uses): the stage's default -j."""
        self.ensure_running()
        return int(self.state.get("capacity") or 1)

    @property
    def versions(self) -> dict[str, str]:
        self.ensure_running()
        return dict(self.state.get("versions") or {})

    # -- one run -------------------------------------------------------------------------------------------
    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> RunOutcome:
        started = time.monotonic()
        generation = self._kill_generation

        def stopped() -> bool:
            return (cancel is not None and cancel.is_set()) or generation != self._kill_generation

        if self.gone is not None:
            raise SandboxUnavailable(self.gone)
        try:
            driver = self.ensure_running()
        except ConfigError as exc:
            raise SandboxUnavailable(str(exc)) from exc
        run_id = f"{os.getpid()}-{next(self._ids)}-{uuid.uuid4().hex[:6]}"
        slot = _Slot()
        with self._ship_lock:
            base_id, new_files, changed, removed = self._files.ship(spec.label, spec.files)
            payload = pickle.dumps((changed, removed, replace(spec, files={})), protocol=pickle.HIGHEST_PROTOCOL)
            new_base = pickle.dumps(new_files, protocol=pickle.HIGHEST_PROTOCOL) if new_files is not None else None
            with driver.lock:
                if driver.alive:
                    driver.slots[run_id] = slot
                else:
                    slot.set("died", driver.proc.poll())
            if not slot.done.is_set():
                try:
                    driver.sender.send(("run", run_id, base_id, new_base, payload, self._files.dropped()))
                except OSError:  # the driver is gone; its reader says so to the slot
                    pass
        cancel_sent = False
        while not slot.done.wait(POLL_S):
            if not cancel_sent and stopped():
                cancel_sent = True
                try:
                    driver.sender.send(("cancel", run_id))
                except OSError:
                    pass
        kind, *answer = slot.answer
        if kind == "unavailable":
            raise SandboxUnavailable(answer[0])
        if kind == "died":
            if stopped():
                return RunOutcome(None, _ms(started), cancelled=True, isolation=self.describe())
            self._driver_died(driver, answer[0])
            if self.gone is not None:
                raise SandboxUnavailable(self.gone)
            return RunOutcome(
                None,
                _ms(started),
                error=f"ray: the Ray driver process ended mid-run (exit {answer[0]}); a new one runs the next runs",
                isolation=self.describe(),
            )
        blob, fields = answer
        if blob is None:
            outcome = RunOutcome(None, _ms(started), error=fields.get("error"), isolation=self.describe())
            outcome.notes = list(fields.get("notes", []))
        else:
            outcome: RunOutcome = pickle.loads(blob)  # type: ignore[no-redef]
            outcome.isolation = {
                **outcome.isolation,
                "ray": {"node": fields["node"], "address": self.address, "node_backend": self.node_backend},
            }
        if fields.get("cancelled"):
            outcome.cancelled, outcome.timed_out = True, False
        outcome.events = list(fields.get("events", [])) + list(outcome.events)
        return outcome

    # -- the rest of the interface -------------------------------------------------------------------------
    def kill_all(self) -> None:
        # Called from a signal handler: only bump a counter. Every waiting run sees it within POLL_S and
        # cancels itself through the driver from its own thread.
        self._kill_generation += 1

    def close(self) -> None:
        self.kill_all()
        driver = self._driver
        if driver is None:
            return
        deadline = time.monotonic() + 2 * POLL_S + 10.0
        while driver.slots and driver.alive and time.monotonic() < deadline:
            time.sleep(POLL_S)
        if driver.alive:
            try:
                driver.sender.send(("close",))
                driver.closed.wait(20.0)
            except OSError:
                pass
        driver.sender.close()  # the driver ends at the end of its requests, if it did not already
        try:
            driver.proc.wait(30)
        except subprocess.TimeoutExpired:
            driver.proc.kill()
            driver.proc.wait()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "address": self.address,
            "node_backend": self.node_backend,
            "nodes": self.state.get("nodes", 0),
            "cpus": self.state.get("cpus", 0),
        }

    def report(self) -> list[dict[str, Any]]:
        """Per node: id, CPUs, isolation, versions and whether chain uses it (for `chain doctor`)."""
        self.ensure_running()
        return list(self.state.get("rows", []))

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            _check_ray()
        except ConfigError as exc:
            return False, str(exc)
        return True, ""


def _check_ray() -> None:
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # sys.modules['ray'] = None (the tests' way to hide it)
        found = False
    if not found:
        raise ConfigError(f"--sandbox ray needs the ray package: {INSTALL_HINT}")


def _reap(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
