"""The entry point of `--sandbox ray`'s driver process (`python -m chain.sandbox.ray_process`, started by the
stage: `ray_backend.RaySandbox`): joins the cluster, starts the nodes' actors, says `ready` (or `fatal`, why
not), then serves the stage through `ray_driver.Driver`'s loop until the stage's end.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import threading
from typing import NoReturn

from .ray_channel import Frames, Sender
from .ray_driver import Driver


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="chain's Ray driver process (started by --sandbox ray)")
    ap.add_argument("--address", required=True)
    ap.add_argument("--node-backend", default="auto")
    ap.add_argument("--fds", required=True, help="READ,WRITE: the request and reply pipes")
    args = ap.parse_args(argv)
    fd_in, fd_out = (int(x) for x in args.fds.split(","))
    out = Sender(fd_out)
    ready = threading.Event()
    # The stage's end is watched from the start: joining a cluster can hang (a GCS that is going away).
    threading.Thread(target=_watch_hangup, args=(fd_in, ready), daemon=True).start()
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
    driver = Driver(ray, args.address, args.node_backend, out)
    driver.placement.refresh(wait=True)
    if not driver.placement.nodes:
        why = "; ".join(f"{n[:12]}: {r}" for n, r in driver.placement.excluded.items())
        _fatal(out, f"--sandbox ray: no usable node at {args.address!r} ({why or 'no alive node'})")
    out.send(("ready", driver.state()))
    ready.set()
    threading.Thread(target=driver.watch, name="chain-ray-health", daemon=True).start()
    driver.loop(Frames(fd_in))


def _fatal(out: Sender, why: str) -> NoReturn:
    """Says why this driver cannot serve, and ends (at once: Ray's exit handlers may wait for a cluster)."""
    out.send(("fatal", why))
    os._exit(0)


def _watch_hangup(fd: int, ready: threading.Event) -> None:
    """Until the driver serves (its loop reads the requests then): end it if the stage ends first."""
    poller = select.poll()
    poller.register(fd, select.POLLHUP)
    while not ready.is_set():
        if any(event & (select.POLLHUP | select.POLLERR) for _, event in poller.poll(100)):
            os._exit(0)  # nothing to cancel anywhere yet


if __name__ == "__main__":
    main()
