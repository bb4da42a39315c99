"""Registers chain's own sandbox backends through the same hook third-party plugins use.

    local       rlimits, process group, per-run cgroup, scrubbed env; a fresh interpreter per run
    bwrap       all of local inside bubblewrap namespaces (read-only root, no network, own PIDs)
    local-warm  local, with a pool of warm pytest workers that fork a child per run
    bwrap-warm  bwrap, with the warm pool inside the same sandbox
    auto        bwrap-warm where bubblewrap works, else local-warm with a one-line warning (the default)
    auto-cold   bwrap where bubblewrap works, else local with the same warning
    e2b         a fresh E2B cloud sandbox per run (E2B_API_KEY; docs/e2b.md)
    ray         each run on a node of a Ray cluster, in that node's own `auto` backend (docs/ray.md)
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from .bwrap import BwrapSandbox
from .e2b_backend import E2BSandbox
from .local import LocalSandbox
from .ray_backend import RaySandbox
from .warm import BwrapWarmSandbox, LocalWarmSandbox

_warned = threading.Event()


def _auto(name: str, isolated: type, fallback: type) -> type:
    class Auto:
        """Chooses the backend when constructed; the instance is the chosen backend's (and says so)."""

        def __new__(cls, **kwargs: Any):
            ok, why = isolated.available()
            if ok:
                return isolated(**kwargs)
            if not _warned.is_set():
                _warned.set()
                print(f"chain: warning: bubblewrap isolation unavailable ({why}); "
                      f"using the {fallback.name} backend (rlimits and cgroups only)", file=sys.stderr)
            return fallback(**kwargs)

        @classmethod
        def available(cls) -> tuple[bool, str]:
            return True, ""

    Auto.__name__ = Auto.__qualname__ = f"Auto({name})"
    Auto.name = name
    return Auto


AutoSandbox = _auto("auto", BwrapWarmSandbox, LocalWarmSandbox)
AutoColdSandbox = _auto("auto-cold", BwrapSandbox, LocalSandbox)


def register_sandboxes(register):
    register("local", LocalSandbox)
    register("bwrap", BwrapSandbox)
    register("local-warm", LocalWarmSandbox)
    register("bwrap-warm", BwrapWarmSandbox)
    register("auto", AutoSandbox)
    register("auto-cold", AutoColdSandbox)
    register("e2b", E2BSandbox)
    register("ray", RaySandbox)
