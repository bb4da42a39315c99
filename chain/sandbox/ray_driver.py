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

One thread (`loop`) owns all state: requests from the pipe, runs finishing (Ray completes each run's future
on its own thread; the callback only queues it), node changes and cancel deadlines all arrive on one queue,
and the replies a pass produced leave in one frame. No run is polled: no `ray.get` per run, no timeouts.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .ray_channel import Sender, receive
from .ray_placement import Node, NoNodes, Placement, gcs_reachable, short_error

CANCEL_REPLY_S = 10.0  # a node answers a cancel with the run's (cancelled) outcome within this
HEALTH_S = 1.0  # how often the driver asks whether the cluster's GCS and its own node's raylet still answer
CLOSE_S = 10.0  # the actors' own close (their warm pools) within this, then they are killed


@dataclass(eq=False)
class Run:
    run_id: str
    base: Any  # the object ref of the task's pickled files (kept: the stage may drop the base meanwhile)
    blob: bytes  # ... and the pickled files themselves, to put them again if the object is lost
    payload: bytes  # pickled (changed, removed, spec): forwarded to the node as it is
    events: list[dict[str, Any]] = field(default_factory=list)
    node: Node | None = None
    attempt: int = 0  # submissions so far; a completion of an earlier one is ignored
    ref: Any = None
    cancelled: bool = False


class Driver:
    def __init__(self, ray: Any, address: str, node_backend: str, out: Sender, inbox: queue.SimpleQueue):
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
        self.inbox = inbox
        self.placement.on_change = lambda: self.inbox.put(("nodes",))
        self.bases: dict[int, tuple[Any, bytes]] = {}  # base id -> (object ref, pickled files)
        self.runs: dict[str, Run] = {}
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
    def loop(self) -> None:
        while True:
            items = [self.inbox.get()]
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
        run = Run(run_id, ref, blob, payload)
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
        timer = threading.Timer(CANCEL_REPLY_S, lambda: self.inbox.put(("cancel_late", run, attempt)))
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
        try:
            run.ref = node.actor.run.remote(run.run_id, [run.base], run.payload)
        except self.lost as exc:
            self.node_lost(run, node, exc)
            return
        run.ref.future().add_done_callback(lambda future: self.inbox.put(("finished", run, attempt, future)))

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
                self.inbox.put(("gone",))
                return

    def on_gone(self) -> None:
        if self.check_gone():
            self.queued.clear()
            for run in list(self.runs.values()):
                self.unavailable(run)

    def unavailable(self, run: Run) -> None:
        self.runs.pop(run.run_id, None)
        self.reply("unavailable", run.run_id, self.gone)

    def finish(self, run: Run, blob: bytes | None = None, **fields: Any) -> None:
        self.runs.pop(run.run_id, None)
        self.reply("done", run.run_id, blob, {"events": run.events, **fields})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="chain's Ray driver process (started by --sandbox ray)")
    ap.add_argument("--address", required=True)
    ap.add_argument("--node-backend", default="auto")
    ap.add_argument("--fds", required=True, help="READ,WRITE: the request and reply pipes")
    args = ap.parse_args(argv)
    fd_in, fd_out = (int(x) for x in args.fds.split(","))
    out = Sender(fd_out)
    inbox: queue.SimpleQueue[tuple] = queue.SimpleQueue()
    ready = threading.Event()
    # The stage's end is watched from the start: joining a cluster can hang (a GCS that is going away).
    threading.Thread(target=_read, args=(os.fdopen(fd_in, "rb"), inbox, ready), daemon=True).start()
    try:
        import ray
    except ImportError:
        _fatal(out, "--sandbox ray needs the ray package: pip install 'chain-pipeline[ray]'")
    try:
        ray.init(
            address=args.address,
            namespace="chain",
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        _fatal(out, f"--sandbox ray: cannot join the Ray cluster at {args.address!r}: {exc}")
    driver = Driver(ray, args.address, args.node_backend, out, inbox)
    driver.placement.refresh(wait=True)
    if not driver.placement.nodes:
        why = "; ".join(f"{n[:12]}: {r}" for n, r in driver.placement.excluded.items())
        _fatal(out, f"--sandbox ray: no usable node at {args.address!r} ({why or 'no alive node'})")
    out.send(("ready", driver.state()))
    ready.set()
    threading.Thread(target=driver.watch, name="chain-ray-health", daemon=True).start()
    driver.loop()


def _fatal(out: Sender, why: str) -> NoReturn:
    """Says why this driver cannot serve, and ends (at once: Ray's exit handlers may wait for a cluster)."""
    out.send(("fatal", why))
    os._exit(0)


def _read(stream: Any, inbox: queue.SimpleQueue, ready: threading.Event) -> None:
    while (messages := receive(stream)) is not None:
        for message in messages:
            inbox.put(tuple(message))
    if not ready.is_set():  # the stage ended before this driver joined: nothing to cancel anywhere
        os._exit(0)
    inbox.put(("eof",))
    time.sleep(CANCEL_REPLY_S)  # the loop ends the process; this only bounds a loop that is stuck
    os._exit(1)


if __name__ == "__main__":
    main()
