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

import ast
import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

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

# Run in the task's interpreter (isolated mode: no PYTHONPATH, no user site, no current directory) to learn
# the directories it imports from.
_PROBE = r"""
import json, os, sys
print(json.dumps({"prefixes": [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                               os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(sys.executable)],
                  "path": [p for p in sys.path if os.path.isabs(p)]}))
"""


@lru_cache(maxsize=8)
def interpreter_paths(python: str = sys.executable) -> tuple[str, ...]:
    """The directories `python` needs to start and import what is installed for it."""
    try:
        out = subprocess.run(
            [python, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        found = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):  # the sandbox's own start then reports the problem
        found = {
            "prefixes": [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))],
            "path": [p for p in sys.path if os.path.isabs(p)],
        }
    paths = [*found["prefixes"], *found["path"]]
    for directory in found["path"]:
        paths += editable_targets(directory)
    return tuple(dict.fromkeys(p for p in paths if p and os.path.exists(p)))


def editable_targets(site_dir: str) -> list[str]:
    """Package directories that editable installs in `site_dir` import from (the paths plain `.pth` lines
    add are already on sys.path; setuptools' finders keep theirs in a MAPPING in a module)."""
    found: list[str] = []
    try:
        names = os.listdir(site_dir)
    except OSError:
        return found
    for name in names:
        if not (name.startswith("__editable__") and name.endswith("_finder.py")):
            continue
        try:
            tree = ast.parse(Path(site_dir, name).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            if value is not None and any(getattr(t, "id", "") == "MAPPING" for t in targets):
                try:
                    mapping = ast.literal_eval(value)
                except ValueError:
                    continue
                found += [p for p in mapping.values() if isinstance(p, str) and os.path.isabs(p)]
    return found


def extra_from_env() -> tuple[str, ...]:
    """Paths named by CHAIN_SANDBOX_RO (os.pathsep-separated), for callers that cannot pass arguments."""
    return tuple(p for p in os.environ.get("CHAIN_SANDBOX_RO", "").split(os.pathsep) if p)


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
