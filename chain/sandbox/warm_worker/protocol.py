"""The warm pool's wire protocol, imported by both sides: chain (`warm_pool.py`) and the processes of
`warm_worker` (template, worker, runner).

Every message is one JSON object in one SOCK_SEQPACKET datagram, `{"op": ..., fields...}`, optionally with
file descriptors passed alongside (SCM_RIGHTS). `send` and `receive` are the only framing; each message is
a dataclass below, and `Op` names them all, so no message type exists as a bare string anywhere else.

Who sends what:
    chain    -> template : Spawn                    template -> chain  : TemplateReady, Spawned (+ worker socket)
    chain    -> worker   : Hello, Run (+ out/err), Kill
    worker   -> chain    : WorkerReady, Started, Done
    worker   -> runner   : Run (+ out/err), Kill    runner   -> worker : RunnerStarted, RunnerDone, Unprepared

stdlib only: this module runs inside the task's interpreter too.
"""

from __future__ import annotations

import array
import enum
import json
import os
import select
import socket
import struct
from dataclasses import asdict, dataclass, field
from typing import ClassVar

MAX_MESSAGE = 1 << 20
MAX_FDS = 8


class Op(str, enum.Enum):  # noqa: UP042  (not StrEnum: the task's interpreter may predate 3.11)
    SPAWN = "spawn"
    SPAWNED = "spawned"
    TEMPLATE_READY = "template-ready"
    HELLO = "hello"
    WORKER_READY = "worker-ready"
    RUN = "run"
    KILL = "kill"
    STARTED = "started"
    DONE = "done"
    RUNNER_STARTED = "runner-started"
    RUNNER_DONE = "runner-done"
    UNPREPARED = "unprepared"


@dataclass
class Spawn:
    """chain asks the template for a new worker living in `dir` (a path as the template sees it)."""

    OP: ClassVar[Op] = Op.SPAWN
    dir: str


@dataclass
class Spawned:
    """The template's answer to Spawn; the new worker's socket travels with it."""

    OP: ClassVar[Op] = Op.SPAWNED


@dataclass
class TemplateReady:
    """The template's first word. `error`: it cannot serve (chain runs cold). `notice`: it serves, but
    without touching pytest's internals (see pytest_patches.version_gate)."""

    OP: ClassVar[Op] = Op.TEMPLATE_READY
    error: str | None = None
    notice: str | None = None


@dataclass
class Hello:
    """chain's first word to a worker, sent with SO_PASSCRED on so the reply carries the worker's host pid."""

    OP: ClassVar[Op] = Op.HELLO


@dataclass
class WorkerReady:
    """`kill_all`: the worker's runners kill everything of a run themselves (they are PID 1 of a namespace)."""

    OP: ClassVar[Op] = Op.WORKER_READY
    error: str | None = None
    kill_all: bool = False
    overlay: bool = False  # the worker mounts a by-reference base as an overlay workspace (Run.overlay)


@dataclass
class RunLimits:
    cpu_s: int
    memory_mb: int
    file_mb: int
    nproc: int


@dataclass
class Run:
    """One run: `python -m pytest ARGS` in `cwd` with `env`; the run's stdout and stderr travel as fds.
    `prepare`: the key of the prepared session it may start from (prepared_key.prepare_key), or None.
    `confine`: what the run's child restricts itself to before the task runs (landlock: confine.py), or None."""

    OP: ClassVar[Op] = Op.RUN
    args: list[str]
    cwd: str
    cwd_on_path: bool
    env: dict
    prepare: str | None
    limits: RunLimits
    confine: dict | None = None
    overlay: dict | None = None  # lower, upper, work, target: the workspace as an overlay of a read-only base

    def __post_init__(self):
        if isinstance(self.limits, dict):
            self.limits = RunLimits(**self.limits)


@dataclass
class Kill:
    """Kill the run in flight (not the worker)."""

    OP: ClassVar[Op] = Op.KILL


@dataclass
class Started:
    """The run's child exists. `keep`: the worker's own pids, to spare when chain clears its cgroup."""

    OP: ClassVar[Op] = Op.STARTED
    keep: list[int]
    prepared: bool


@dataclass
class Done:
    """The run is over: `status` as os.waitpid gives it (None: its runner died), notes for the result."""

    OP: ClassVar[Op] = Op.DONE
    status: int | None
    keep: list[int]
    notes: list[str] = field(default_factory=list)


@dataclass
class RunnerStarted:
    OP: ClassVar[Op] = Op.RUNNER_STARTED


@dataclass
class RunnerDone:
    """`retire`: why the runner stops after this run (a start-up that cannot be shared), if it does."""

    OP: ClassVar[Op] = Op.RUNNER_DONE
    status: int | None
    retire: str | None = None


@dataclass
class Unprepared:
    """pytest ended before collecting in a prepared runner (usage error, --version, ...): run it plain."""

    OP: ClassVar[Op] = Op.UNPREPARED


MESSAGES = {
    cls.OP: cls
    for cls in (
        Spawn,
        Spawned,
        TemplateReady,
        Hello,
        WorkerReady,
        Run,
        Kill,
        Started,
        Done,
        RunnerStarted,
        RunnerDone,
        Unprepared,
    )
}


class ProtocolError(ValueError):
    pass


def encode(message) -> bytes:
    return json.dumps({"op": message.OP.value, **asdict(message)}).encode()


def decode(data: bytes):
    try:
        fields = json.loads(data)
        cls = MESSAGES[Op(fields.pop("op"))]
        return cls(**fields)
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"malformed message {data[:200]!r}: {exc}") from exc


def send(sock: socket.socket, message, fds=()) -> None:
    """One message (and `fds`, duplicated into the receiver) in one datagram."""
    if fds:
        socket.send_fds(sock, [encode(message)], list(fds))
    else:
        sock.send(encode(message))


def receive(sock: socket.socket, timeout: float | None = None):
    """(message or None when the peer is gone, passed fds, sender's pid when SO_PASSCRED is on, else None).
    Blocks, or raises TimeoutError after `timeout` seconds. The caller owns (and must close) the fds."""
    if timeout is not None:
        ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
        if not ready:
            raise TimeoutError
    fds = array.array("i")
    try:
        data, ancdata, _flags, _addr = sock.recvmsg(
            MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * fds.itemsize) + socket.CMSG_SPACE(12)
        )
    except OSError:  # ECONNRESET and the like: the peer is gone
        return None, [], None
    pid = None
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", payload[:12])[0]  # translated by the kernel into our PID namespace
    if not data:
        for fd in fds:
            os.close(fd)
        return None, [], None
    return decode(data), list(fds), pid


def close_all(fds) -> None:
    for fd in fds:
        os.close(fd)
