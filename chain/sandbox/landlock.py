"""The landlock backend: everything the local backend does, with the run confined by Landlock and seccomp.

For machines where bubblewrap cannot run (not installed, or user namespaces forbidden, as in Docker's default
seccomp profile and most hosted CI containers): neither Landlock nor seccomp needs a namespace or a
privilege. The command is started through `confine.py`, which restricts itself and then execs it, so the
restriction holds for the command and everything it starts, and nothing can lift it:

* files: read (and execute) only beneath the minimal view (`view.py`: the system, a minimal /etc, the
  interpreter and its packages, chain's plugins, `--sandbox-ro` paths), a few character devices
  (/dev/null, /dev/urandom, ...), and read-write only the run directory (workspace, its private tmp and
  the report). Of /proc only the listing: without a PID namespace its files would show other processes'
  command lines and environments (chain's /proc/PID/environ);
* network: no socket but AF_UNIX (seccomp), no TCP bind or connect (Landlock ABI >= 4), no abstract unix
  socket outside the run (ABI >= 6);
* signals: none to processes outside the run (ABI >= 6): it cannot kill chain, its runner or PID 1;
* syscalls: no ptrace, mount, unshare/setns, namespaces through clone, bpf, keyctl, io_uring, ... (seccomp).

What it does not give, unlike bwrap: a PID namespace (the run sees the host's process list, though not
their environments), a private /tmp at the path /tmp (TMPDIR points at the run's own), its own hostname.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import confine, view
from .base import RunSpec
from .local import LocalSandbox, prlimit_prefix
from .workspace import RunDir

CONFINE_SCRIPT = str(Path(__file__).with_name("confine.py"))
MIN_ABI = 4  # TCP rules: below that, Landlock alone could not keep a run off the network


@lru_cache(maxsize=1)
def probe() -> tuple[bool, str]:
    """Can a process confine itself here (Landlock enabled, a recent enough ABI, seccomp filters allowed)?"""
    abi = confine.landlock_abi()
    if abi < 1:
        return False, "Landlock is not enabled in this kernel (Linux >= 5.13 with lsm=landlock)"
    if abi < MIN_ABI:
        return False, f"Landlock ABI {abi} has no network rules (ABI {MIN_ABI}, Linux >= 6.7, needed)"
    if confine.seccomp_program() is None:
        return False, "no seccomp filter for this architecture"
    config = json.dumps({"read": list(view.SYSTEM), "write": []})
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", CONFINE_SCRIPT, config, "--", "/bin/true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"cannot start the confinement helper: {exc}"
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return False, f"cannot confine a process here: {why}"
    return True, ""


class LandlockSandbox(LocalSandbox):
    name = "landlock"
    summary = (
        "local, confined by Landlock and seccomp: minimal read-only view, writes only in the run, no "
        "network, no signals outside the run; no PID namespace (needs Linux >= 6.7, no namespaces)"
    )

    def confinement(self, run: RunDir) -> dict[str, Any]:
        return {
            "read": list(self.view_paths()),
            "devices": list(view.DEVICES),
            "listable": ["/proc"],
            "write": [str(run.root)],
        }

    def command_for(self, spec: RunSpec, run: RunDir) -> list[str]:
        # -I -S: the helper imports nothing but the standard library and starts in a few milliseconds.
        return [
            sys.executable,
            "-I",
            "-S",
            CONFINE_SCRIPT,
            json.dumps(self.confinement(run)),
            "--",
            *prlimit_prefix(spec.limits),
            "/bin/sh",
            "-c",
            spec.command,
        ]

    def describe(self) -> dict[str, Any]:
        abi = confine.landlock_abi()
        scoped = abi >= 6
        return {
            **super().describe(),
            "backend": self.name,
            "security_boundary": True,
            "warning": None,
            "landlock_abi": abi,
            "seccomp": "socket() but AF_UNIX, ptrace, mount, unshare/setns, namespaces, bpf, keyctl, io_uring, "
            "modules, kexec refused",
            "network": "none (seccomp: AF_UNIX sockets only; Landlock: no TCP bind/connect"
            + ("; abstract unix sockets scoped to the run)" if scoped else ")"),
            "filesystem": "minimal read-only view (system, /etc basics, the interpreter and its packages); "
            "writable run directory only (Landlock); /proc listable, none of its files readable",
            "loopback": "none (no AF_INET sockets: a test's own 127.0.0.1 server cannot be told apart from the "
            "host's; use bwrap for tests that need one)",
            "signals": "own run only (Landlock scope)" if scoped else "any process of chain's uid",
            "pid_namespace": False,
        }

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return probe()
