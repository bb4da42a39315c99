"""A real two-node Ray cluster on this machine, inside a network namespace of its own (tests and benchmarks).

`unshare -n` gives a namespace whose only interface is loopback, so every address Ray binds or dials is
127.0.0.1 (in the host's namespace Ray would pick the machine's external address). A sleeper process holds
the namespace; the head (`ray start --head --block`), a second raylet (`ray start --address=... --block`,
its own node id and CPUs) and every chain process that talks to them are started in it with
`nsenter --net=/proc/PID/ns/net`. `--block` keeps each node's launcher in the foreground: Ray fate-shares
a node's processes with it, so stopping the cluster is killing the processes this helper started, by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path


BIN = Path(sys.executable).parent
PORT = 6379
ADDRESS = f"127.0.0.1:{PORT}"
# A pytest release other than this environment's, for a node whose versions differ (both in chain's tested range).
ODD_PYTEST = "9.1.1" if __import__("pytest").__version__ == "8.4.2" else "8.4.2"
# Fast failure detection, so a killed raylet is declared dead in seconds (Ray's defaults take ~30 s).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "500",
           "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3",
           "RAY_health_check_initial_delay_ms": "1000"}


def _table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, name) of every process on the machine, from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1: stat.rindex(")")]
        out[int(entry)] = (int(stat[stat.rindex(")") + 2:].split()[1]), name)
    return out


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, name) of every live descendant of `pid`."""
    table = _table()
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append((child, table[child][1]))
        todo += children.get(child, [])
    return found


def ancestors(pid: int) -> list[int]:
    """The parent, grandparent, ... of `pid` (nearest first)."""
    table, found = _table(), []
    while pid in table and table[pid][0] not in (0, pid):
        pid = table[pid][0]
        found.append(pid)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _running(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def available() -> tuple[bool, str]:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False, "ray is not installed (pip install 'chain-pipeline[ray]')"
    for tool in ("unshare", "nsenter", "ip"):
        if not shutil.which(tool):
            return False, f"{tool} is not installed (util-linux / iproute2)"
    if os.geteuid() != 0:
        return False, "a network namespace of our own needs root"
    return True, ""


class NetnsCluster:
    def __init__(self, head_cpus: int = 2, worker_cpus: int = 2, object_store_mb: int = 200):
        self.head_cpus, self.worker_cpus, self.object_store_mb = head_cpus, worker_cpus, object_store_mb
        self.dir = Path(tempfile.mkdtemp(prefix="chray-"))
        self.holder: subprocess.Popen | None = None
        self.head: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.env = {**os.environ, **RAY_ENV, "CHAIN_TMPDIR": str(self.dir / "sandboxes"),
                    "RAY_TMPDIR": str(self.dir / "ray")}
        self.env.pop("RAY_ADDRESS", None)
        (self.dir / "sandboxes").mkdir()

    # -- commands inside the namespace ---------------------------------------------------------------------
    def argv(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", *argv]

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("env", self.env)
        return subprocess.Popen(self.argv(*argv), **kwargs)

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("env", self.env)
        return subprocess.run(self.argv(*argv), **kwargs)

    def chain(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "chain", *args]

    # -- life ----------------------------------------------------------------------------------------------
    def start(self) -> "NetnsCluster":
        self.holder = subprocess.Popen(["unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep infinity"])
        self._wait(lambda: b"UP" in self.run(["ip", "-o", "link", "show", "lo"], capture_output=True).stdout,
                   10, "loopback in the namespace")
        common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats", "--block",
                  f"--object-store-memory={self.object_store_mb << 20}"]
        self.head = self.popen([str(BIN / "ray"), "start", "--head", f"--port={PORT}", "--include-dashboard=false",
                                f"--num-cpus={self.head_cpus}", f"--temp-dir={self.dir / 'ray'}", *common],
                               stdout=open(self.dir / "head.log", "wb"), stderr=subprocess.STDOUT)
        self._wait(lambda: self.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{PORT}"],
                                    stderr=subprocess.DEVNULL).returncode == 0, 60, "the head node")
        self.worker = self.start_worker()
        # `ray start --block` says so once its node is registered with the head: cheaper to watch than asking
        # the cluster from a new Python process each time, which a loaded machine can take a minute to start.
        self._wait(lambda: b"Ray runtime started" in (self.dir / "worker.log").read_bytes(), 180,
                   "the second node")
        return self

    def start_worker(self) -> subprocess.Popen:
        return self.popen([str(BIN / "ray"), "start", f"--address={ADDRESS}", f"--num-cpus={self.worker_cpus}",
                           "--node-ip-address=127.0.0.1", "--disable-usage-stats", "--block",
                           f"--object-store-memory={self.object_store_mb << 20}"],
                          stdout=open(self.dir / "worker.log", "ab"), stderr=subprocess.STDOUT)

    def start_odd_node(self, cpus: int = 1) -> subprocess.Popen:
        """A third node whose versions differ from the driver's: `ray start` from a venv of its own, where a
        different pytest (a real release, from the package index) comes before this environment's packages
        (ray and chain are the driver's own, through a .pth). Ray starts the node's workers with that Python,
        so chain's actor there runs that pytest and reports it. Ends with `stop_node`."""
        venv = self.dir / "odd-venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                        f"pytest=={ODD_PYTEST}"], check=True, capture_output=True, timeout=300)
        (site / "zz_driver_env.pth").write_text(
            f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
        log = self.dir / "odd.log"
        node = self.popen([str(venv / "bin" / "python"), "-m", "ray.scripts.scripts", "start", f"--address={ADDRESS}",
                           f"--num-cpus={cpus}", "--node-ip-address=127.0.0.1", "--disable-usage-stats", "--block",
                           f"--object-store-memory={self.object_store_mb << 20}"],
                          stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        self._wait(lambda: b"Ray runtime started" in log.read_bytes() or node.poll() is not None, 180,
                   "the odd node")
        if node.poll() is not None:
            raise RuntimeError(f"the odd node did not start: {log.read_text()[-2000:]}")
        return node

    @staticmethod
    def stop_node(launcher: subprocess.Popen) -> None:
        doomed = [pid for pid, _ in descendants(launcher.pid)]
        launcher.send_signal(signal.SIGTERM)
        try:
            launcher.wait(15)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
        for pid in doomed:
            _kill(pid)

    def alive_nodes(self) -> int:
        probe = ("import ray,logging; ray.init(address=%r, logging_level=logging.ERROR, log_to_driver=False); "
                 "print(sum(n['Alive'] for n in ray.nodes()))" % ADDRESS)
        try:
            out = self.run([sys.executable, "-c", probe], capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine: ask again
            return 0
        try:
            return int(out.stdout.split()[-1])
        except (IndexError, ValueError):
            return 0

    def kill_worker_raylet(self) -> int:
        """SIGKILL the second node's raylet (the node dies: its launcher then ends the node's processes)."""
        for pid, name in descendants(self.worker.pid):
            if name == "raylet":
                _kill(pid)
                return pid
        raise RuntimeError("the second node has no raylet")

    def ray_stop(self, grace_s: float = 16.0) -> None:
        """What `ray stop` does, to this cluster's processes only: SIGTERM the raylets, then every other Ray
        process, then the GCS, each bucket SIGKILLed after grace_s / 3. (`ray stop` itself ends every Ray
        process on the machine, whatever namespace or cluster it belongs to: other sessions' too.)"""
        from ray.autoscaler._private.constants import RAY_PROCESSES

        found = [(pid, name, cmdline(pid)) for pid, name in self.processes()]  # before the launchers end
        for bucket in (RAY_PROCESSES[:1], RAY_PROCESSES[1:-1], RAY_PROCESSES[-1:]):
            doomed = [pid for pid, name, cmd in found
                      if any(word in (name if by_name else cmd) for word, by_name in bucket)]
            for pid in doomed:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace_s / 3
            while time.monotonic() < deadline and any(_running(pid) for pid in doomed):
                time.sleep(0.1)
            for pid in doomed:
                _kill(pid)
        for launcher in (self.head, self.worker):  # `ray start --block`, whose node is gone now
            if launcher is not None and launcher.poll() is None:
                self.stop_node(launcher)

    def processes(self) -> list[tuple[int, str]]:
        """(pid, name) of every process the cluster's nodes started, sandboxes included (descendants)."""
        found = []
        for launcher in (self.head, self.worker):
            if launcher is not None and launcher.poll() is None:
                found += descendants(launcher.pid)
        return found

    def stop(self) -> None:
        for launcher in (self.worker, self.head):
            if launcher is not None:
                self.stop_node(launcher)
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _wait(check, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what} did not come up within {timeout:g}s")


class DriverInNamespace:
    """The real `RaySandbox`, running in a subprocess inside the cluster's namespace (the test process
    cannot join the cluster from the host's namespace), driven through pickles on its stdin/stdout so the
    library-level sandbox cases (test_hostile.py) run against it unchanged. One request at a time."""

    name = "ray"

    def __init__(self, cluster: NetnsCluster):
        self.proc = cluster.popen([sys.executable, __file__, "serve", ADDRESS], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        self._describe = self._call("describe")

    def _call(self, op: str, *args):
        import pickle
        import struct

        blob = pickle.dumps((op, args))
        self.proc.stdin.write(struct.pack("!I", len(blob)) + blob)
        self.proc.stdin.flush()
        size = self.proc.stdout.read(4)
        if len(size) < 4:
            raise RuntimeError(f"the driver in the namespace exited ({self.proc.wait()})")
        ok, value = pickle.loads(self.proc.stdout.read(struct.unpack("!I", size)[0]))
        if not ok:
            raise RuntimeError(value)
        return value

    def run(self, spec, cancel=None):
        return self._call("run", spec)

    def describe(self) -> dict:
        return self._describe

    def report(self) -> list[dict]:
        return self._call("report")

    def kill_all(self) -> None:
        pass

    def close(self) -> None:
        try:
            self._call("close")
        finally:
            self.proc.stdin.close()
            self.proc.wait(30)


def _serve(address: str) -> None:
    import pickle
    import struct

    from chain.sandbox.ray_backend import RaySandbox

    box = RaySandbox(address=address)
    # The node backend's isolation record stands for the cluster's (all nodes run the same backend here).
    first = box.report()[0]["isolation"]
    inbox, outbox = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    while True:
        size = inbox.read(4)
        if len(size) < 4:
            break
        op, args = pickle.loads(inbox.read(struct.unpack("!I", size)[0]))
        try:
            value = {"run": lambda: box.run(*args), "describe": lambda: {**first, **box.describe(), "name": "ray"},
                     "report": box.report, "close": box.close}[op]()
            reply = (True, value)
        except Exception as exc:
            reply = (False, f"{type(exc).__name__}: {exc}")
        blob = pickle.dumps(reply)
        outbox.write(struct.pack("!I", len(blob)) + blob)
        outbox.flush()
        if op == "close":
            break


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    _serve(sys.argv[2])
