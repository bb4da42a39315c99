"""The bubblewrap backend: everything the local backend does, inside namespaces.

The command sees a minimal read-only view of the host (`view.py`: the system, a minimal /etc, the
interpreter and its packages; no home directories, other checkouts or state), its run directory as a
private /tmp (the workspace is /tmp/ws and the only writable place besides /tmp itself), a fresh /dev and
/proc, no network (`--unshare-net`: a loopback of its own, so nothing on the host is reachable), its own
PID namespace (it cannot see or signal chain or anything else on the host; when the namespace's init dies
every process in it dies), its own session (`--new-session`), and a cleared environment.
`--die-with-parent` takes the sandbox down if chain dies.
The per-run cgroup, rlimits (prlimit inside the sandbox), timeout and output cap come from LocalSandbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import view
from .base import RunSpec
from .local import LocalSandbox, prlimit_prefix
from .workspace import RunDir, scrubbed_env

SANDBOX_TMP = "/tmp"  # where the run directory is mounted inside the sandbox
SANDBOX_UID = 65534  # the command runs as "nobody" inside its user namespace (mapped to chain's uid outside)
OVERLAY_HELPER = str(Path(__file__).parent / "plugin" / "chain_overlay.py")  # in the view with chain's plugins


@lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """The bwrap binary ($CHAIN_BWRAP overrides the PATH lookup, e.g. to test the fallback)."""
    return shutil.which(os.environ.get("CHAIN_BWRAP") or "bwrap")


@lru_cache(maxsize=1)
def version() -> str | None:
    exe = bwrap_path()
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().split()[-1] if out.strip() else None


def namespace_args(*, user: bool = True, uid: int = SANDBOX_UID) -> list[str]:
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if user:
        args += ["--unshare-user", "--uid", str(uid), "--gid", str(uid)]
    return [*args, "--die-with-parent", "--new-session"]


def mount_args(host_root: Path, read_only: tuple[str, ...] | None = None) -> list[str]:
    """An empty, read-only root holding only the minimal view (`read_only`, default `view.read_only_paths()`:
    the system, a minimal /etc, the interpreter and its packages, chain's plugins, `--sandbox-ro` paths),
    fresh /dev and /proc, and `host_root` as the private, writable /tmp. Home directories, other checkouts
    and the rest of the host are not there at all."""
    shown = view.read_only_paths() if read_only is None else read_only
    args: list[str] = []
    for path in shown:
        if path == SANDBOX_TMP or path.startswith(SANDBOX_TMP + "/"):
            continue  # mounted after the private /tmp, below
        if os.path.islink(path) and _covered(os.path.realpath(path), shown):
            args += ["--symlink", os.readlink(path), path]  # /bin -> usr/bin and the like
        else:
            args += ["--ro-bind", path, path]
    args += ["--dev", "/dev", "--proc", "/proc"]
    parent = host_root.parent
    if str(parent) != SANDBOX_TMP and parent != Path("/"):
        args += ["--tmpfs", str(parent)]  # hide sibling run directories (CHAIN_TMPDIR outside /tmp)
    args += ["--bind", str(host_root), SANDBOX_TMP]
    # The private /tmp hides the host's /tmp: re-expose, read-only, what of the view lives there (a checkout
    # or venv under /tmp, as in a CI clone), or nothing could start.
    for path in paths_kept_under_tmp(shown):
        args += ["--ro-bind", path, path]
    return [*args, "--remount-ro", "/"]


def _covered(path: str, shown) -> bool:
    return any(path == q or path.startswith(q.rstrip("/") + "/") for q in shown)


def paths_kept_under_tmp(shown: tuple[str, ...] | None = None) -> list[str]:
    """What a sandbox with a private /tmp must keep visible there, read-only, or nothing could start: the
    parts of the minimal view (`shown`, default `view.read_only_paths()`) that live under /tmp (a CI clone's
    venv, an editable install's source), and always the interpreter and the directory chain is imported
    from. The one list for both cold bwrap (`mount_args`) and bwrap-warm's workers (`warm_pool`), outermost
    paths only. Each path is kept both as spelled and resolved: the interpreter's sys.path may use either."""
    import sys

    shown = view.read_only_paths() if shown is None else shown
    wanted = {
        *shown,
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        os.path.dirname(sys.executable),
        os.path.dirname(os.path.realpath(sys.executable)),  # the binary a venv's python links to
        str(Path(__file__).parents[2] / "chain"),
    }  # the package chain is imported from
    spellings = {form(p) for p in wanted for form in (os.path.abspath, os.path.realpath)}
    under = sorted(p for p in spellings if p.startswith(SANDBOX_TMP + "/"))
    return [p for i, p in enumerate(under) if not any(p.startswith(q + "/") for q in under[:i])]


def env_args(env: dict[str, str]) -> list[str]:
    args = ["--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


@lru_cache(maxsize=1)
def probe() -> tuple[bool, str]:
    """Does bubblewrap actually work here (installed, and namespaces permitted)?"""
    exe = bwrap_path()
    if not exe:
        return False, "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe_dir = Path(os.environ.get("CHAIN_TMPDIR") or "/tmp")
    cmd = [exe, *mount_args(probe_dir), *namespace_args(), "--", "/bin/true"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bwrap failed to start: {exc}"
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return False, f"bwrap cannot create namespaces here: {why}"
    return True, ""


class BwrapSandbox(LocalSandbox):
    name = "bwrap"
    summary = (
        "local, inside namespaces: minimal read-only view, private /tmp, no network, own PIDs, "
        "uid nobody, no capabilities (needs bubblewrap and user namespaces)"
    )
    root_inside = SANDBOX_TMP

    def command_for(self, spec: RunSpec, run: RunDir) -> list[str]:
        # The environment is passed as --setenv (and cleared first) so bwrap itself hands over nothing else.

        env = scrubbed_env(run, spec.env, SANDBOX_TMP, environment=self.environment, source=spec.source)
        mounts, namespaces, overlay = mount_args(run.root, self.view_paths()), namespace_args(), []
        if run.overlay is not None:  # a by-reference base: shown read-only, the workspace an overlay of it
            inside = {k: f"{SANDBOX_TMP}/{p.relative_to(run.root)}" for k, p in run.overlay.items() if k != "lower"}
            lower = f"{SANDBOX_TMP}/.base"
            mounts[-2:-2] = ["--ro-bind", str(run.overlay["lower"]), lower]  # before the final --remount-ro /
            namespaces = [*namespace_args(uid=0), "--cap-add", "CAP_SYS_ADMIN"]  # chain_overlay drops it
            overlay = [
                self.environment.python,
                "-I",  # no site, no PYTHON* variables: a bare interpreter start for a stdlib-only helper
                "-S",
                OVERLAY_HELPER,
                lower,
                inside["upper"],
                inside["work"],
                inside["target"],
                "--",
            ]
        return [
            bwrap_path() or "bwrap",  # found by available() before any run
            *mounts,
            *namespaces,
            *env_args(env),
            "--chdir",
            f"{SANDBOX_TMP}/{run.workspace.relative_to(run.root)}",
            "--",
            *overlay,
            *prlimit_prefix(spec.limits),
            "/bin/sh",
            "-c",
            spec.command,
        ]

    def overlay_works(self) -> bool:
        return overlay_probe(self.environment.python, self.view_paths())

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "backend": self.name,
            "bwrap": version(),
            "network": "none (own network namespace)",
            "security_boundary": True,
            "warning": None,
            "filesystem": "minimal read-only view (system, /etc basics, the interpreter and its packages); "
            "writable workspace and private /tmp only",
            "pid_namespace": True,
            "user_namespace": True,
            "env": "cleared",
            "uid_inside": SANDBOX_UID,
            "capabilities": "none",
        }

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return probe()


@lru_cache(maxsize=4)
def overlay_probe(python: str, shown: tuple[str, ...] | None = None) -> bool:
    """Whether bwrap here lets chain_overlay mount an overlay workspace (once per process and interpreter)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="chain-overlay-probe-", dir=os.environ.get("CHAIN_TMPDIR")) as d:
        root = Path(d)
        for part in ("lower", "ws", "upper", "overlay-work"):
            (root / part).mkdir()
        (root / "lower" / "probe").write_text("base")
        inside = [f"{SANDBOX_TMP}/{p}" for p in (".base", "upper", "overlay-work", "ws")]
        mounts = mount_args(root, shown)
        mounts[-2:-2] = ["--ro-bind", str(root / "lower"), inside[0]]
        argv = [
            bwrap_path() or "bwrap",
            *mounts,
            *namespace_args(uid=0),
            "--cap-add",
            "CAP_SYS_ADMIN",
            "--",
            python,
            "-I",
            "-S",
            OVERLAY_HELPER,
            *inside,
            "--",
            "/bin/sh",
            "-c",
            'test "$(cat probe)" = base && test "$(id -u)" = 65534',
        ]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0
