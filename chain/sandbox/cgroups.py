"""One cgroup per sandbox run: caps its process count and memory, and kills everything it started.

rlimits cannot contain a fork bomb when chain runs as root (the kernel ignores RLIMIT_NPROC for root), and a
process that calls setsid() leaves the process group chain kills. A cgroup catches both: the `pids`
controller refuses forks past the cap, the `memory` controller caps resident memory, and every descendant
stays in the cgroup whatever session it makes, so the end of a run kills exactly what the run started.

Both layouts are handled: cgroup v1 (one hierarchy per controller, `/sys/fs/cgroup/{pids,memory}`) and the
unified v2 hierarchy (one tree, `cgroup.kill`). Run cgroups are created next to chain's own cgroup (v1) or
under `/sys/fs/cgroup/chain` (v2), which needs root or a delegated tree; `support()` says which, or why not.

A command joins its cgroup through a tiny `sh` prefix that writes its own pid into `cgroup.procs` and then
execs the command, so nothing it runs can start before it is inside (a `preexec_fn` is unsafe in threads).
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .base import Limits

CGROUP_ROOT = Path(os.environ.get("CHAIN_CGROUP_ROOT", "/sys/fs/cgroup"))
V2_PARENT = "chain"
KILL_DEADLINE_S = 5.0
_counter = itertools.count()
_counter_lock = threading.Lock()

# `sh -c JOIN_SCRIPT chain-cgroup FILE... -- COMMAND...`: join every cgroup, then become the command.
JOIN_FAILED = "chain-cgroup: cannot join"
# %-formatting: the shell's own braces stay as they are.
JOIN_SCRIPT = (
    'while [ "$1" != -- ]; do echo $$ 2>/dev/null > "$1" || { echo "%s $1" >&2; exit 125; }; shift; done;'  # noqa: UP031
    ' shift; exec "$@"' % JOIN_FAILED
)


@dataclass(frozen=True)
class Support:
    version: int | None  # 1, 2, or None when this machine gives chain no usable cgroups
    reason: str  # why not, or where they live
    roots: tuple[Path, ...] = ()  # v1: the pids and memory parents; v2: the one parent


def _own_cgroups() -> dict[str, str]:
    """controller -> path of this process's cgroup ('' is the v2 unified entry)."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    except OSError:
        pass
    return out


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@lru_cache(maxsize=1)
def support() -> Support:
    if os.environ.get("CHAIN_NO_CGROUPS"):
        return Support(None, "disabled by CHAIN_NO_CGROUPS")
    own = _own_cgroups()
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return _support_v2()
    roots = []
    for controller in ("pids", "memory"):
        if controller not in own:
            return Support(None, f"no cgroup v1 {controller} controller mounted")
        parent = CGROUP_ROOT / controller / own[controller].lstrip("/")
        if not _writable(parent):
            return Support(None, f"{parent} is not writable (run as root or delegate it)")
        roots.append(parent)
    _remove_stale(roots)
    return Support(1, "cgroup v1: " + ", ".join(str(r) for r in roots), tuple(roots))


def _remove_stale(roots) -> None:
    """Remove empty run cgroups left by chain processes that were SIGKILLed (named chain-PID-N)."""
    for root in roots:
        try:
            entries = list(Path(root).glob("chain-*-*"))
        except OSError:
            continue
        for entry in entries:
            pid = entry.name.split("-")[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                try:
                    entry.rmdir()
                except OSError:
                    pass  # still has processes, or not ours to remove


def _support_v2() -> Support:
    available = set((CGROUP_ROOT / "cgroup.controllers").read_text().split())
    missing = {"pids", "memory"} - available
    if missing:
        return Support(None, f"cgroup v2 lacks the {', '.join(sorted(missing))} controller")
    parent = CGROUP_ROOT / V2_PARENT
    try:
        parent.mkdir(exist_ok=True)
        enabled = set((CGROUP_ROOT / "cgroup.subtree_control").read_text().split())
        if not {"pids", "memory"} <= enabled:
            (CGROUP_ROOT / "cgroup.subtree_control").write_text("+pids +memory")
        (parent / "cgroup.subtree_control").write_text("+pids +memory")
    except OSError as exc:
        return Support(None, f"cannot set up {parent}: {exc.strerror or exc}")
    _remove_stale([parent])
    return Support(2, f"cgroup v2: {parent}", (parent,))


def _read_int_field(path: Path, key: str) -> int:
    try:
        with open(path) as fh:
            text = fh.read()
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class RunCgroup:
    """A cgroup for one run (or one warm worker), with the run's process and memory caps."""

    def __init__(self, limits: Limits, *, extra_pids: int = 0, extra_memory_mb: int = 0):
        info = support()
        if info.version is None:
            raise OSError(info.reason)
        self.version = info.version
        with _counter_lock:
            name = f"chain-{os.getpid()}-{next(_counter)}"
        self.dirs = [root / name for root in info.roots]
        self._where: dict[str, Path | None] = {}
        self.extra_pids, self.extra_memory_mb = extra_pids, extra_memory_mb
        self.pids_max = limits.nproc + extra_pids
        self.memory_bytes = (limits.memory_mb + extra_memory_mb) << 20
        created = []
        try:
            for d in self.dirs:
                d.mkdir()
                created.append(d)
            self._write_limits(str(self.pids_max))
        except OSError:
            for d in created:
                _rmdir(d)
            raise

    # -- set-up --------------------------------------------------------------------------------------------
    def _locate(self, name: str) -> Path | None:
        # Looked up after every run; a controller's files do not come and go while the cgroup lives.
        if name not in self._where:
            self._where[name] = next((d / name for d in self.dirs if (d / name).exists()), None)
        return self._where[name]

    def _file(self, name: str) -> Path:
        """The file `name` in whichever of our directories holds it (v1 splits controllers)."""
        path = self._locate(name)
        if path is None:
            raise FileNotFoundError(name)
        return path

    def _write_limits(self, pids_max: str) -> None:
        self._file("pids.max").write_text(pids_max)
        if self.version == 1:
            self._file("memory.limit_in_bytes").write_text(str(self.memory_bytes))
            try:  # no swap either, where the kernel accounts it
                self._file("memory.memsw.limit_in_bytes").write_text(str(self.memory_bytes))
            except OSError:
                pass
        else:
            self._file("memory.max").write_text(str(self.memory_bytes))
            try:
                self._file("memory.swap.max").write_text("0")
            except OSError:
                pass

    def set_limits(self, limits: Limits) -> None:
        """New caps for the next run (a warm worker's cgroup serves one run after another)."""
        pids_max = limits.nproc + self.extra_pids
        memory_bytes = (limits.memory_mb + self.extra_memory_mb) << 20
        if (pids_max, memory_bytes) != (self.pids_max, self.memory_bytes):
            self.pids_max, self.memory_bytes = pids_max, memory_bytes
            self._write_limits(str(pids_max))

    def join_prefix(self) -> list[str]:
        """argv prefix that puts the command in this cgroup before it runs anything."""
        return ["/bin/sh", "-c", JOIN_SCRIPT, "chain-cgroup", *[str(d / "cgroup.procs") for d in self.dirs], "--"]

    def add(self, pid: int) -> None:
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(pid))

    # -- what happened ---------------------------------------------------------------------------------------
    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self.dirs[0].joinpath("cgroup.procs").read_text().split()]
        except OSError:
            return []

    def forks_refused(self) -> int:
        return _read_int_field(self._file("pids.events"), "max") if self._exists("pids.events") else 0

    def oom_kills(self) -> int:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        return _read_int_field(self._file(name), "oom_kill") if self._exists(name) else 0

    def _exists(self, name: str) -> bool:
        return self._locate(name) is not None

    def counts(self) -> tuple[int, int]:
        return self.forks_refused(), self.oom_kills()

    def notes(self, forks_before: int = 0, ooms_before: int = 0, now: tuple[int, int] | None = None) -> list[str]:
        """Human-readable limits this cgroup hit (since the given counts)."""
        out = []
        forks_now, ooms_now = now or self.counts()
        forks = forks_now - forks_before
        if forks > 0:
            out.append(f"process limit reached: {forks} fork(s) refused at {self.pids_max} processes")
        ooms = ooms_now - ooms_before
        if ooms > 0:
            out.append(f"memory limit reached: {ooms} process(es) killed at {self.memory_bytes >> 20} MB")
        return out

    # -- tear-down -------------------------------------------------------------------------------------------
    def kill(self, keep: frozenset[int] = frozenset()) -> int:
        """SIGKILL every process in the cgroup except `keep`; returns how many were signalled.

        Forks are frozen first (pids.max=0), so a fork bomb cannot outrun the loop; v2's `cgroup.kill`
        does the same in one write when nothing needs keeping."""
        if not keep:
            self.signal_all()
        try:
            self._file("pids.max").write_text(str(len(keep)))
        except OSError:
            pass
        signalled = 0
        deadline = time.monotonic() + KILL_DEADLINE_S
        while time.monotonic() < deadline:
            victims = [p for p in self.pids() if p not in keep]
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                    signalled += 1
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.002)
        if keep:
            try:
                self._file("pids.max").write_text(str(self.pids_max))
            except OSError:
                pass
        return signalled

    def signal_all(self) -> None:
        """SIGKILL everything in the cgroup without waiting for it to go (v2's `cgroup.kill`; v1 freezes forks
        and signals once): `kill` then only waits. Closing many cgroups, signal them all first, so the kernel
        tears their processes down at once rather than one cgroup after the other."""
        if self.version == 2 and self._exists("cgroup.kill"):
            try:
                self._file("cgroup.kill").write_text("1")
                return
            except OSError:
                pass
        try:
            self._file("pids.max").write_text("0")
        except OSError:
            pass
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def remove(self) -> None:
        self.kill()
        for d in self.dirs:
            _rmdir(d)


def _rmdir(path: Path) -> None:
    for _ in range(50):  # the kernel lets go of a cgroup a moment after its last process is reaped
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


def describe() -> dict:
    info = support()
    if info.version is None:
        return {"cgroups": None, "cgroups_reason": info.reason}
    return {"cgroups": f"v{info.version}", "cgroup_controllers": ["pids", "memory"]}
