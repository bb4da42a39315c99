"""The minimal filesystem view a sandboxed run gets: what running the tests needs, read-only, and nothing else.

Shared by the bwrap backends (which bind-mount exactly these paths into an empty root) and the landlock
backends (which grant read access beneath exactly these paths). What is in it:

* the system: /usr and the /bin, /sbin, /lib* directories (or the symlinks to /usr they are);
* a minimal /etc: the resolver, passwd/group, ssl certificates, the dynamic linker's cache, alternatives;
* the interpreter that runs the tests: its prefix and base prefix, every directory on its sys.path (its
  site-packages and what their `.pth` files add), and the package directories that editable installs'
  import finders map to (setuptools' `__editable___*_finder.py`), which may live outside any of those;
* chain's pytest plugins (`PYTHONPATH` inside the sandbox);
* whatever the user named with `--sandbox-ro PATH`.

Home directories, /root (but for an interpreter installed under it), other checkouts, chain's state
database, /var, /run, /sys and the rest of /tmp are not in it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache

from . import interpreter_dirs
from .workspace import PLUGIN_DIR

SYSTEM = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
ETC = [
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/protocols",
    "/etc/services",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/os-release",
    "/etc/mime.types",
]
DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]


@lru_cache(maxsize=8)
def interpreter_paths(python: str = sys.executable) -> tuple[str, ...]:
    """The directories `python` needs to start and import what is installed for it (interpreter_dirs.py)."""
    try:
        found = interpreter_dirs.probe(python)
    except (OSError, subprocess.SubprocessError, ValueError):  # the sandbox's own start then reports the problem
        found = {
            "prefixes": [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))],
            "path": [p for p in sys.path if os.path.isabs(p)],
        }
    return tuple(interpreter_dirs.directories(found))


def normalise(paths) -> tuple[str, ...]:
    """Absolute, existing, without duplicates or paths already beneath another (the outermost wins)."""
    out: list[str] = []
    for path in sorted({os.path.abspath(p) for p in paths if p and os.path.exists(p)}):
        if not any(path == q or path.startswith(q.rstrip("/") + "/") for q in out):
            out.append(path)
    return tuple(out)


def read_only_paths(extra=(), python: str = sys.executable) -> tuple[str, ...]:
    """Everything the view shows read-only, outermost paths only."""
    return normalise([*SYSTEM, *ETC, *interpreter_paths(python), PLUGIN_DIR, os.path.dirname(__file__), *extra])


def check_extra(paths) -> tuple[str, ...]:
    """`--sandbox-ro` paths, absolute; ValueError for one that does not exist (a typo would otherwise hide
    silently what the user meant to show)."""
    out = []
    for path in paths:
        if not os.path.exists(path):
            raise ValueError(f"--sandbox-ro {path}: no such file or directory")
        out.append(os.path.abspath(path))
    return tuple(out)
