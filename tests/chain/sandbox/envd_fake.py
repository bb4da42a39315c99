"""A local stand-in for envd, the agent inside an E2B sandbox, for contract tests of `--sandbox e2b`.

The e2b SDK in debug mode (E2B_DEBUG=true) creates no sandbox through the control API and talks plain HTTP/1.1
to envd at localhost:49983. This server answers exactly the envd calls chain's backend makes:

* `POST /files` (multipart, one part per file, the part's filename is the sandbox path) and `GET /files?path=`;
* `POST /process.Process/Start`: Connect server streaming (`application/connect+json`): 5-byte envelopes
  (flags, big-endian length) carrying a start event with the pid, stdout/stderr data events, an end event with
  the exit code, then the end-of-stream envelope (flag 0x02);
* `POST /process.Process/SendSignal` and `/process.Process/List`: Connect unary JSON;
* `GET /health`.

Commands REALLY run: a subprocess in a temporary directory that stands in for the sandbox's filesystem (every
absolute sandbox path, e.g. /home/user/chain/..., lives under `root`). Like envd, a process keeps running when
its client goes away (the stream times out or is closed): only SendSignal (or `stop()`) ends it, so tests can
see whether the backend killed what it started. `fail_next(k, 503)` answers the next k requests with a plain
gateway error, the way E2B's edge proxy does when envd is not reachable; `crash_next_command()` makes the
sandbox die under the next command: its stream is reset and the health probe that follows hears from the proxy
that the sandbox "was not found".
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import fcntl
import json
import os
import queue
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

ENVD_PORT = 49983  # the port the SDK's debug mode connects to
END_STREAM = 0x02  # Connect envelope flag of the last message (trailers / error)
SANDBOX_HOME = "/home/user"


@contextlib.contextmanager
def envd_port(port: int = ENVD_PORT, within_s: float = 120.0) -> Iterator[None]:
    """Hold the machine-wide claim on envd's port: one fake (or one test that needs the port closed) at a time,
    across pytest workers and sessions. `xdist_group` alone cannot promise it: pytest 9 ignores the node id
    suffix pytest-xdist 3.8 groups by, and other sessions on the machine never see our groups anyway."""
    with open(Path(tempfile.gettempdir()) / f"chain-envd-{port}.lock", "w") as fh:
        deadline = time.monotonic() + within_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"port {port} stayed claimed by another test for {within_s:g}s") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def envelope(payload: dict[str, Any], flags: int = 0) -> bytes:
    data = json.dumps(payload).encode()
    return struct.pack(">BI", flags, len(data)) + data


@dataclass
class FakeProcess:
    pid: int
    cmd: str
    args: list[str]
    cwd: str  # as the client sent it (a sandbox path)
    envs: dict[str, str]
    popen: subprocess.Popen
    events: "queue.Queue[tuple[str, Any]]" = field(default_factory=queue.Queue)

    @property
    def running(self) -> bool:
        return self.popen.poll() is None


class EnvdFake:
    """Threaded HTTP server on 127.0.0.1:`port`; use as a context manager."""

    def __init__(self, root: Path | None = None, port: int = ENVD_PORT):
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="envd-fake-"))
        self.port = port
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, injected failures too
        self.failures_injected = 0
        self.processes: dict[int, FakeProcess] = {}
        self.killed: list[int] = []  # pids a client killed through SendSignal
        self._fail: list[int] = []  # statuses for the next requests
        self._crash_commands = 0
        self._gone = False  # the sandbox "died": the next /health probe gets the proxy's 502
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._claim = contextlib.ExitStack()  # holds the port's claim while serving

    # -- what tests use ------------------------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._fail.extend([status] * count)

    def crash_next_command(self) -> None:
        with self._lock:
            self._crash_commands += 1

    def sandbox_path(self, path: str) -> Path:
        """Where a sandbox path lives on this machine (relative paths are relative to the user's home)."""
        if not path.startswith("/"):
            path = f"{SANDBOX_HOME}/{path}"
        resolved = os.path.normpath(path)
        return self.root / resolved.lstrip("/")

    def running(self) -> list[int]:
        with self._lock:
            return [pid for pid, proc in self.processes.items() if proc.running]

    def wait_until_stopped(self, pids: list[int], within_s: float = 5.0) -> list[int]:
        """The pids still running after `within_s` (a SIGKILLed group takes a moment to be reaped)."""
        deadline = time.monotonic() + within_s
        alive = list(pids)
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [pid for pid in alive if self.processes[pid].running]
        return alive

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> "EnvdFake":
        handler = type("Handler", (_EnvdHandler,), {"fake": self})
        self._claim.enter_context(envd_port(self.port))
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        except OSError:
            self._claim.close()
            raise
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for proc in list(self.processes.values()):
            if proc.running:
                _kill_group(proc.popen)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        self._claim.close()

    def __enter__(self) -> "EnvdFake":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- envd behaviour ------------------------------------------------------------------------------------
    def _take_failure(self, method: str, path: str) -> int | None:
        with self._lock:
            self.requests.append((method, path))
            if self._fail:
                self.failures_injected += 1
                return self._fail.pop(0)
        return None

    def _translate(self, value: str) -> str:
        """Sandbox paths inside an env value or cwd, pointed at the stand-in filesystem."""
        return value.replace(SANDBOX_HOME, str(self.root) + SANDBOX_HOME)

    def spawn(self, config: dict[str, Any]) -> FakeProcess:
        cmd, args = config.get("cmd", ""), list(config.get("args", []))
        envs = dict(config.get("envs", {}))
        cwd = config.get("cwd") or SANDBOX_HOME
        # The SDK runs `/bin/bash -l -c CMD`. A login shell here would read this machine's /etc/profile, which
        # resets PATH; a sandbox template's profile finds its own python. Without -l, PATH below decides.
        argv = [cmd, *[a for a in args if a != "-l"]] if cmd.endswith("bash") else [cmd, *args]
        local_cwd = self.sandbox_path(cwd)
        local_cwd.mkdir(parents=True, exist_ok=True)
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
               "HOME": str(self.sandbox_path(SANDBOX_HOME)), "LANG": "C.UTF-8",
               **{k: self._translate(v) for k, v in envs.items()}}
        popen = subprocess.Popen(argv, cwd=local_cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
        proc = FakeProcess(popen.pid, cmd, args, cwd, envs, popen)
        with self._lock:
            self.processes[proc.pid] = proc
        readers = [threading.Thread(target=_pump, args=(pipe, name, proc.events), daemon=True)
                   for pipe, name in ((popen.stdout, "stdout"), (popen.stderr, "stderr"))]
        for reader in readers:
            reader.start()
        threading.Thread(target=_announce_end, args=(popen, readers, proc.events), daemon=True).start()
        return proc

    def signal(self, pid: int) -> bool:
        with self._lock:
            proc = self.processes.get(pid)
            if proc is None or not proc.running:
                return False
            self.killed.append(pid)
        _kill_group(proc.popen)
        return True


def _pump(pipe: Any, name: str, events: queue.Queue) -> None:
    fd = pipe.fileno()
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        events.put((name, chunk))
    pipe.close()


def _announce_end(popen: subprocess.Popen, readers: list[threading.Thread], events: queue.Queue) -> None:
    code = popen.wait()
    for reader in readers:
        reader.join()
    events.put(("end", code))


def _kill_group(popen: subprocess.Popen) -> None:
    try:
        os.killpg(popen.pid, signal.SIGKILL)  # the command's own session: pytest and whatever it forked
    except ProcessLookupError:
        pass


def _end_event(code: int) -> dict[str, Any]:
    if code < 0:  # killed by a signal: envd (Go) reports exit code -1 and the signal in the status
        name = signal.Signals(-code).name[3:].lower()
        return {"exitCode": -1, "exited": False, "status": f"signal: {name}"}
    return {"exitCode": code, "exited": True, "status": f"exit status {code}"}


class _EnvdHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: EnvdFake  # set on the subclass EnvdFake.start builds

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    # -- plumbing ------------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b""  # connectrpc streams a streaming call's request envelope as a chunked body
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers, then the blank line
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after each chunk

    def _reply(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
        self.close_connection = True  # no keep-alive: a restarted fake never meets a stale pooled connection
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._reply(status, json.dumps(payload).encode())

    def _connect_error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"code": code, "message": message})

    def _injected(self) -> bool:
        path = urlsplit(self.path).path
        status = self.fake._take_failure(self.command, path)
        if status is None:
            return False
        self._body()
        self._reply(status, f"envd fake: injected {status}".encode(), "text/plain")
        return True

    # -- routes --------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self.fake._take_failure("GET", url.path)  # logged, never failed: the SDK only probes with it
            with self.fake._lock:
                gone, self.fake._gone = self.fake._gone, False
            if gone:  # what E2B's proxy answers for a sandbox that no longer exists
                return self._json(502, {"code": 502, "message": "The sandbox debug_sandbox_id was not found"})
            return self._reply(204)
        if self._injected():
            return
        if url.path == "/files":
            target = self.fake.sandbox_path(parse_qs(url.query).get("path", [""])[0])
            if not target.is_file():
                return self._json(404, {"code": 404, "message": f"path not found: {target.name}"})
            return self._reply(200, target.read_bytes(), "application/octet-stream")
        self._json(404, {"code": 404, "message": f"no route {url.path}"})

    def do_POST(self) -> None:
        if self._injected():
            return
        route = urlsplit(self.path).path
        if route == "/files":
            return self._upload()
        if route == "/process.Process/Start":
            return self._start()
        if route == "/process.Process/SendSignal":
            request = json.loads(self._body() or b"{}")
            pid = int(request.get("process", {}).get("pid", 0))
            if not self.fake.signal(pid):
                return self._connect_error(404, "not_found", f"process with pid {pid} not found")
            return self._json(200, {})
        if route == "/process.Process/List":
            self._body()
            with self.fake._lock:
                procs = list(self.fake.processes.values())
            listed = [{"pid": p.pid, "config": {"cmd": p.cmd, "args": p.args, "envs": p.envs, "cwd": p.cwd}}
                      for p in procs if p.running]
            return self._json(200, {"processes": listed})
        self._body()
        self._connect_error(404, "unimplemented", f"{route} is not served by the envd fake")

    def _upload(self) -> None:
        body = self._body()
        query = parse_qs(urlsplit(self.path).query)
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            files = [(part.get_filename(), part.get_payload(decode=True)) for part in message.iter_parts()]
        else:  # application/octet-stream: one file, its path in the query
            files = [(query.get("path", [""])[0], body)]
        written = []
        for path, data in files:
            target = self.fake.sandbox_path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data or b"")
            written.append({"name": target.name, "type": "file", "path": path})
        self._json(200, written)

    def _start(self) -> None:
        raw = self._body()
        if raw[:1] != b"\x00" or len(raw) < 5:
            return self._connect_error(400, "invalid_argument", "expected one uncompressed Connect envelope")
        request = json.loads(raw[5:5 + struct.unpack(">I", raw[1:5])[0]])
        timeout_ms = self.headers.get("Connect-Timeout-Ms")
        deadline = time.monotonic() + int(timeout_ms) / 1000 if timeout_ms else None
        proc = self.fake.spawn(request.get("process", {}))

        self.close_connection = True  # the body ends when the connection closes (no length, no chunking)
        self.send_response(200)
        self.send_header("Content-Type", "application/connect+json")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(envelope({"event": {"start": {"pid": proc.pid}}}))
            if self._crash(proc):
                return
            while True:
                try:
                    kind, value = proc.events.get(timeout=0.05)
                except queue.Empty:
                    if self._client_gone():
                        return
                    if deadline is not None and time.monotonic() > deadline:
                        # a Connect server ends a call past its deadline; envd leaves the process running
                        self.wfile.write(envelope({"error": {"code": "deadline_exceeded",
                                                             "message": "the stream's deadline passed"}},
                                                  END_STREAM))
                        return
                    continue
                if kind == "end":
                    self.wfile.write(envelope({"event": {"end": _end_event(value)}}))
                    self.wfile.write(envelope({}, END_STREAM))
                    return
                data = base64.b64encode(value).decode()
                self.wfile.write(envelope({"event": {"data": {kind: data}}}))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; the command keeps running, as under envd

    def _crash(self, proc: FakeProcess) -> bool:
        """The sandbox dies under the command: the process is gone and the stream reset without an end event."""
        with self.fake._lock:
            if not self.fake._crash_commands:
                return False
            self.fake._crash_commands -= 1
            self.fake._gone = True
        _kill_group(proc.popen)
        time.sleep(0.2)  # let the client read the start event first, or it fails the request, not the stream
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # SO_LINGER 0: a TCP reset, the way a connection to a dead VM ends
        return True

    def _client_gone(self) -> bool:
        """True once the client closed its side (the SDK dropping a timed-out or closed stream)."""
        conn: socket.socket = self.connection
        readable, _, _ = select.select([conn], [], [], 0)
        if not readable:
            return False
        try:
            return conn.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True
