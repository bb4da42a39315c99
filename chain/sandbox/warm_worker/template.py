"""The template process: imports and configures pytest once, then forks a worker per Spawn request.
Started by `__main__.py`; stdlib + pytest only."""

import gc
import os
import select
import socket
import sys

from . import run_child
from .namespaces import Namespaces
from .protocol import Hello, Spawn, Spawned, TemplateReady, WorkerReady, close_all, receive, send
from .pytest_patches import WarmPytest
from .supervision import ChildExits, Worker


def become_worker(channel, template_ctrl, template_exits, warm, directory, namespaces):
    """In a child of the template: set up, greet chain (which learns our host pid from the socket's
    credentials and moves us into our cgroup), then serve runs. Never returns."""
    code = 0
    try:
        template_exits.stop()
        template_ctrl.close()
        if namespaces is not None:
            namespaces.enter(directory)
            os.chdir("/tmp")
        else:
            os.chdir(directory)
        exits = ChildExits().start()
        hello, fds, _ = receive(channel)
        close_all(fds)
        if not isinstance(hello, Hello):
            os._exit(0)
        overlay = namespaces is not None and namespaces.overlay_works()
        send(channel, WorkerReady(kill_all=namespaces is not None, overlay=overlay))
        Worker(channel, warm, namespaces, exits).serve()
    except BaseException as exc:
        import traceback

        traceback.print_exc()  # into the template's log, which chain shows when a worker fails
        try:
            send(channel, WorkerReady(error=f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
        code = 1
    os._exit(code)


def serve_spawns(ctrl, warm, namespaces):
    """The template's loop: forks a worker per Spawn request and hands chain the worker's socket."""
    exits = ChildExits().start()
    while True:
        ready, _, _ = select.select([ctrl, exits], [], [])
        if exits in ready:
            exits.reap()
        if ctrl not in ready:
            continue
        request, fds, _ = receive(ctrl)
        close_all(fds)
        if request is None:
            return
        if not isinstance(request, Spawn):
            continue
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            become_worker(theirs, ctrl, exits, warm, request.dir, namespaces)
        theirs.close()
        send(ctrl, Spawned(), [ours.fileno()])
        ours.close()


def main(argv):
    """`CTRL_FD [--namespaces [PATH...] | --confine]`: with --namespaces, PATHs are what a worker's own /tmp
    must not hide; with --confine each run's child confines itself (run_child.confine)."""
    ctrl = socket.socket(fileno=int(argv[0]))
    namespaced = argv[1:2] == ["--namespaces"]
    exposed = argv[2:] if namespaced else []
    if argv[1:2] == ["--confine"]:
        run_child.load_confine()
    try:
        warm = WarmPytest().install()
        warm.learn_imports()
        namespaces = Namespaces(exposed) if namespaced else None  # ctypes and libc found before the first spawn
        error = None
    except Exception as exc:  # pytest missing or its internals changed: chain falls back to cold runs
        warm, namespaces, error = None, None, f"{type(exc).__name__}: {exc}"
    send(ctrl, TemplateReady(error=error, notice=warm.notice if warm is not None else None))
    if warm is None:
        return
    if warm.notice:
        print(f"chain warm template: {warm.notice}", file=sys.stderr, flush=True)  # into the template's log
    gc.collect()
    gc.freeze()  # the warm heap is shared with every worker and child and never collected again
    serve_spawns(ctrl, warm, namespaces)
