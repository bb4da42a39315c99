"""The Ray driver of `--sandbox ray`: a child process of the stage, the only chain process that imports Ray.

Ray fate-shares a driver with its node's raylet: when the cluster goes away (its head stopped, on a laptop the
node the stage runs on), Ray ends the driver at once. Keeping the driver here, not in the stage process, lets
the stage outlive it: the stage (`ray_backend.RaySandbox`) sees this process end, emits every result it has
and reports each remaining task as an error naming the cluster.

The process is started by the stage with two pipes (`ray_channel` frames: requests in, replies out) and in a
session of its own, so a ^C on the terminal reaches the stage only; the stage's cancels arrive as messages.
It ends with the stage: at the end of its request pipe (the stage exited, however it did) it cancels every run
on its node, kills its actors (their bwrap sandboxes die with them) and exits. Not PR_SET_PDEATHSIG: that
fires when the *thread* that started the child ends, and the stage may start it from a pool thread.

One thread (`loop`) owns all state: it reads the requests from the pipe itself (a run goes out to its node with
no hand-over between threads), and runs finishing (Ray completes each run's future on its own thread), node
changes and cancel deadlines reach it through a queue; the replies a pass produced leave in one frame. A run's
outcome goes to the stage straight from Ray's callback (the loop keeps the books after); a fault or a retry is
the loop's. No run is polled: no `ray.get` per run, no timeouts.
"""

from __future__ import annotations

import os
import queue
import selectors
import threading
import time
import traceback
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from .ray_channel import Frames, Sender
from .ray_node import BUNDLES_KEPT as NODE_BUNDLES_KEPT
from .ray_node import NEED_BASE
from .ray_placement import Node, NoNodes, Placement, gcs_reachable, short_error

CANCEL_REPLY_S = 10.0  # a node answers a cancel with the run's (cancelled) outcome within this
HEALTH_S = 1.0  # how often the driver asks whether the cluster's GCS and its own node's raylet still answer
CLOSE_S = 10.0  # the actors' own close (their warm pools) within this, then they are killed


@dataclass(eq=False)
class Run:
    run_id: str
    key: str  # names the task's files on the nodes
    base: Any  # the object ref of the task's pickled files (kept: the stage may drop the base meanwhile)
    blob: bytes  # ... and the pickled files themselves, to put them again if the object is lost
    payload: bytes  # pickled (changed, removed, spec): forwarded to the node as it is
    events: list[dict[str, Any]] = field(default_factory=list)
    node: Node | None = None
    attempt: int = 0  # submissions so far; a completion of an earlier one is ignored
    ref: Any = None
    cancelled: bool = False
    replied: bool = False  # answered (from the loop, or from Ray's thread as its outcome arrived)


class Driver:
    def __init__(self, ray: Any, address: str, node_backend: str, out: Sender):
        from .ray_node import NodeHost, versions

        self.ray, self.address, self.out = ray, address, out
        self.versions = versions()
        try:  # what `auto` resolved to: asked when a node fails, to tell a gone cluster from a gone node
            self.gcs_address = ray.get_runtime_context().gcs_address
        except Exception:
            self.gcs_address = address if address != "auto" else None
        self.raylet_address = None  # this node's raylet: a driver can only run where one is
        try:
            here = ray.get_runtime_context().get_node_id()
            entry = next(n for n in ray.nodes() if n["NodeID"] == here)
            self.raylet_address = f"{entry['NodeManagerAddress']}:{entry['NodeManagerPort']}"
        except Exception:
            pass
        self.placement = Placement(ray, ray.remote(NodeHost), node_backend, self.versions)
        self.inbox: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.answer_lock = threading.Lock()
        self.placement.on_change = lambda: self.post("nodes")
        self.bases: dict[int, tuple[Any, bytes]] = {}  # base id -> (object ref, pickled files)
        self.runs: dict[str, Run] = {}
        self.held: dict[str, OrderedDict[str, None]] = {}  # node id -> keys of the file sets sent there
        self.queued: deque[Run] = deque()
        self.gone: str | None = None
        self.replies: list[tuple] = []
        from ray.exceptions import (
            ActorUnavailableError,
            NodeDiedError,
            ObjectLostError,
            RayActorError,
            RayTaskError,
            WorkerCrashedError,
        )

        self.lost = (RayActorError, ActorUnavailableError, NodeDiedError, WorkerCrashedError, ObjectLostError)
        self.task_error, self.object_lost = RayTaskError, ObjectLostError

    def state(self) -> dict[str, Any]:
        alive = self.placement.alive()
        return {
            "capacity": self.placement.capacity,
            "nodes": len(alive),
            "cpus": sum(n.cpus for n in alive),
            "rows": self.placement.rows(),
            "gcs_address": self.gcs_address,
            "raylet_address": self.raylet_address,
            "versions": self.versions,
        }

    # -- the loop ------------------------------------------------------------------------------------------
    def post(self, *item: Any) -> None:
        """Hands `item` to the loop (from any thread)."""
        self.inbox.put(item)
        try:
            os.write(self.wake_w, b"\0")
        except BlockingIOError:  # the loop has wake-ups enough already
            pass

    def loop(self, requests: Frames) -> None:
        """Requests are read here, not on a thread of their own: a run goes out to its node without a
        hand-over between threads (on a machine whose cores idle, every thread woken costs its wake-up)."""
        selector = selectors.DefaultSelector()
        selector.register(requests.fd, selectors.EVENT_READ, "stage")
        selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        while True:
            items: list[tuple] = []
            for key, _ in selector.select():
                if key.data == "stage":
                    messages = requests.read()
                    items += [("eof",)] if messages is None else [tuple(m) for m in messages]
                else:
                    try:
                        os.read(self.wake_r, 1 << 16)
                    except BlockingIOError:
                        pass
            while True:  # whatever else is there already: its replies go in the same frame
                try:
                    items.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            for item in items:
                try:
                    getattr(self, "on_" + item[0])(*item[1:])
                except Exception as exc:
                    traceback.print_exc()
                    run = next((x for x in item[1:] if isinstance(x, Run)), None)
                    if run is not None and run.run_id in self.runs:
                        self.finish(run, error=f"ray: the driver failed on this run: {short_error(exc)}")
            if self.replies:
                replies, self.replies = self.replies, []
                try:
                    self.out.send(*replies)
                except OSError:  # the stage is gone
                    self.on_eof()

    def reply(self, *message: Any) -> None:
        self.replies.append(message)

    # -- requests from the stage ---------------------------------------------------------------------------
    def on_run(self, run_id: str, base_id: int, new_base: bytes | None, payload: bytes, drops: list[int]) -> None:
        if new_base is not None:
            self.bases[base_id] = (self.ray.put(new_base), new_base)
        ref, blob = self.bases[base_id]
        for dropped in drops:
            self.bases.pop(dropped, None)
        run = Run(run_id, f"{os.getpid()}-{base_id}", ref, blob, payload)
        self.runs[run_id] = run
        self.place(run)

    def on_cancel(self, run_id: str) -> None:
        run = self.runs.get(run_id)
        if run is None or run.cancelled:
            return
        run.cancelled = True
        if run.node is None:  # still queued: it never started
            self.queued.remove(run)
            self.finish(run, cancelled=True)
            return
        try:
            run.node.actor.cancel.remote(run_id)
        except Exception:
            pass
        attempt = run.attempt
        timer = threading.Timer(CANCEL_REPLY_S, lambda: self.post("cancel_late", run, attempt))
        timer.daemon = True
        timer.start()

    def on_cancel_late(self, run: Run, attempt: int) -> None:
        if run.run_id in self.runs and run.attempt == attempt and run.node is not None:
            try:
                self.ray.cancel(run.ref)
            except Exception:
                pass
            self.placement.release(run.node)
            run.node = None
            self.finish(run, cancelled=True, notes=["ray: the node did not answer the cancel in time"])

    def on_kill_all(self) -> None:
        for run_id in list(self.runs):
            self.on_cancel(run_id)

    def on_close(self) -> None:
        self.on_kill_all()
        self.close_actors()
        self.out.send(("closed",))
        os._exit(0)

    def on_eof(self) -> None:
        """The stage is gone: nothing of its runs may keep running on the nodes."""
        self.on_kill_all()
        self.close_actors(wait=False)
        os._exit(0)

    def close_actors(self, wait: bool = True) -> None:
        if self.gone is not None:  # the nodes went with the GCS, and every Ray call would wait for it
            return
        nodes = list(self.placement.nodes.values())
        if wait:
            closing = []
            for node in nodes:
                try:
                    closing.append(node.actor.close.remote())
                except Exception:
                    pass
            try:
                self.ray.wait(closing, num_returns=len(closing), timeout=CLOSE_S)
            except Exception:
                pass
        for node in nodes:
            try:
                self.ray.kill(node.actor)
            except Exception:
                pass

    # -- runs ----------------------------------------------------------------------------------------------
    def place(self, run: Run) -> None:
        if self.gone is not None:
            self.unavailable(run)
            return
        self.placement.refresh_soon()
        try:
            node = self.placement.try_acquire()
        except NoNodes:
            if self.check_gone():
                self.unavailable(run)
            else:
                self.finish(run, error="ray: no alive node left in the cluster")
            return
        if node is None:
            self.queued.append(run)
            return
        run.node, run.attempt = node, run.attempt + 1
        attempt = run.attempt
        held = self.held.setdefault(node.node_id, OrderedDict())  # file sets sent to the node, as its LRU
        sent = run.key in held
        if sent:
            held.move_to_end(run.key)
        else:
            held[run.key] = None
            while len(held) > NODE_BUNDLES_KEPT:
                held.popitem(last=False)
        try:
            run.ref = node.actor.run.remote(run.run_id, run.key, None if sent else [run.base], run.payload)
        except self.lost as exc:
            self.node_lost(run, node, exc)
            return
        run.ref.future().add_done_callback(lambda future: self.completed(run, attempt, node, future))

    def completed(self, run: Run, attempt: int, node: Node, future: Any) -> None:
        """On Ray's thread, as a run's reply arrives: an outcome goes to the stage from here at once (the loop
        keeps the books after); anything else (a fault, a retry) is the loop's."""
        try:
            blob = future.result() if future.exception() is None else None
        except Exception:
            blob = None
        if blob and not run.cancelled and self.claim(run):
            try:
                self.out.send(("done", run.run_id, blob, {"events": run.events, "node": node.node_id}))
            except OSError:
                pass
        self.post("finished", run, attempt, future)

    def place_queued(self) -> None:
        while self.queued:
            run = self.queued.popleft()
            self.place(run)
            if run in self.queued:  # no free core: it went back to the end; keep the order
                self.queued.rotate(1)
                return

    def on_nodes(self) -> None:
        self.place_queued()
        self.reply("state", self.state())

    def on_finished(self, run: Run, attempt: int, future: Any) -> None:
        if run.run_id not in self.runs or run.attempt != attempt or run.node is None:
            return
        node, run.node = run.node, None
        self.placement.release(node)
        if run.replied:  # its outcome went to the stage from Ray's thread
            self.runs.pop(run.run_id, None)
            self.place_queued()
            return
        try:
            blob = future.result()
        except self.task_error as exc:
            if isinstance(exc.cause, self.object_lost) and not run.cancelled:  # the files went with a node
                run.base = self.ray.put(run.blob)
                run.events.append(
                    {
                        "kind": "retry",
                        "message": f"ray: the task's files were lost on node {node.short}; shipping them again",
                    }
                )
                self.place(run)
            elif run.cancelled:
                self.finish(run, cancelled=True)
            else:
                self.finish(run, error=f"ray: node {node.short}: {short_error(exc)}")
        except self.lost as exc:
            if run.cancelled:
                self.finish(run, cancelled=True)
            else:
                self.node_lost(run, node, exc)
        except Exception as exc:  # cancelled by ray.cancel, or what Ray says went wrong
            if run.cancelled:
                self.finish(run, cancelled=True)
            else:
                self.finish(run, error=f"ray: node {node.short}: {short_error(exc)}")
        else:
            if blob == NEED_BASE and not run.cancelled:  # the node no longer holds the files: send them along
                held = self.held.get(node.node_id)
                if held is not None and run.key in held:
                    del held[run.key]
                self.place(run)
                return
            self.finish(run, blob=blob, node=node.node_id, cancelled=run.cancelled)
        self.place_queued()

    def node_lost(self, run: Run, node: Node, cause: BaseException) -> None:
        if run.node is node:
            self.placement.release(node)
            run.node = None
        self.placement.failed(node)
        self.reply("state", self.state())
        if self.check_gone():
            self.unavailable(run)
            for queued in list(self.queued):
                self.queued.remove(queued)
                self.unavailable(queued)
            return
        others = len(self.placement.alive())
        run.events.append(
            {
                "kind": "retry",
                "message": f"ray: node {node.short} failed mid-run ({short_error(cause)}); running it again on "
                f"{'another node' if others else 'no node: none is left'}",
                "attempt": len(run.events) + 1,
            }
        )
        self.place(run)

    def check_gone(self) -> bool:
        """Whether the cluster is gone for this driver: its GCS, or the raylet of the node this process runs
        on, does not answer (asked once a node failed or none is left, and every HEALTH_S)."""
        if self.gone is None:
            for what, address in (("GCS", self.gcs_address), ("raylet on the stage's machine", self.raylet_address)):
                if not gcs_reachable(address):
                    self.gone = (
                        f"ray: the cluster at {self.address!r} is gone (its {what} at {address} does not answer); "
                        "no run can be placed: restart the cluster, or run without --sandbox ray"
                    )
                    break
        return self.gone is not None

    def watch(self) -> None:
        """Runs on nodes of a cluster whose GCS is gone never finish (nothing tells their owner that their
        actors died): ask the cluster's ports every HEALTH_S, and end every run once it is gone."""
        while self.gone is None:
            time.sleep(HEALTH_S)
            if not (gcs_reachable(self.gcs_address) and gcs_reachable(self.raylet_address)):
                self.post("gone")
                return

    def on_gone(self) -> None:
        if self.check_gone():
            self.queued.clear()
            for run in list(self.runs.values()):
                self.unavailable(run)

    def claim(self, run: Run) -> bool:
        """Whether this caller is the one to answer `run` (each run is answered once, from whichever thread)."""
        with self.answer_lock:
            if run.replied:
                return False
            run.replied = True
            return True

    def unavailable(self, run: Run) -> None:
        self.runs.pop(run.run_id, None)
        if self.claim(run):
            self.reply("unavailable", run.run_id, self.gone)

    def finish(self, run: Run, blob: bytes | None = None, **fields: Any) -> None:
        self.runs.pop(run.run_id, None)
        if self.claim(run):
            self.reply("done", run.run_id, blob, {"events": run.events, **fields})
