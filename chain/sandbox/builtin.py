"""Registers chain's own sandbox backends through the same hook third-party plugins use.

local          rlimits, process group, per-run cgroup, scrubbed env; a fresh interpreter per run
               (not a security boundary)
landlock       all of local, with the run confined by Landlock and seccomp (minimal read-only view,
               no network, no signals outside the run); no namespaces needed
bwrap          all of local inside bubblewrap namespaces (minimal read-only view, no network, own PIDs)
*-warm         the same, with a pool of warm pytest workers that fork a child per run
auto           bwrap-warm, else landlock-warm, else local-warm; each step down with a one-line warning
auto-cold      bwrap, else landlock, else local (same warnings)
e2b            a fresh E2B cloud sandbox per run (E2B_API_KEY; docs/e2b.md)
ray            each run on a node of a Ray cluster, in that node's own `auto` backend (docs/ray.md)
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from .base import Sandbox
from .bwrap import BwrapSandbox
from .e2b_backend import E2BSandbox
from .landlock import LandlockSandbox
from .local import LocalSandbox
from .ray_backend import RaySandbox
from .warm import BwrapWarmSandbox, LandlockWarmSandbox, LocalWarmSandbox

_warned: set[str] = set()  # the warnings already printed (one line per step down, once per process)
_warned_lock = threading.Lock()

WHAT_IT_GIVES = {
    "bubblewrap": "namespaces",
    "landlock": "Landlock and seccomp: minimal filesystem view, no network; no namespaces",
    "local": "rlimits and cgroups only: not a security boundary",
}


def fallback_order(name: str) -> list[type[Sandbox]]:
    """The backends `auto` (warm) or `auto-cold` tries, best first."""
    if name == "auto":
        return [BwrapWarmSandbox, LandlockWarmSandbox, LocalWarmSandbox]
    return [BwrapSandbox, LandlockSandbox, LocalSandbox]


def resolve(name: str, warn: bool = False) -> type[Sandbox]:
    """The first backend of `fallback_order(name)` that works here; with `warn`, one line on stderr for each
    step down (once per process)."""
    order = fallback_order(name)
    skipped: list[tuple[type[Sandbox], str]] = []
    chosen = order[-1]
    for cls in order[:-1]:
        ok, why = cls.available()
        if ok:
            chosen = cls
            break
        skipped.append((cls, why))
    if warn:
        for i, (cls, why) in enumerate(skipped):
            nxt = skipped[i + 1][0] if i + 1 < len(skipped) else chosen
            then = (
                f"using the {nxt.name} backend ({WHAT_IT_GIVES[_kind(nxt)]})" if nxt is chosen else f"trying {nxt.name}"
            )
            _warn_once(f"chain: warning: {_kind(cls)} isolation unavailable ({why}); {then}")
    return chosen


def _warn_once(line: str) -> None:
    with _warned_lock:
        fresh = line not in _warned
        _warned.add(line)
    if fresh:
        print(line, file=sys.stderr)


def _kind(cls: type[Sandbox]) -> str:
    base = getattr(cls, "cold_class", cls)
    return "bubblewrap" if base.name == "bwrap" else base.name


def _auto(name: str) -> Any:
    class Auto:
        """Chooses the backend when constructed; the instance is the chosen backend's (and says so)."""

        takes_read_only = True
        name: str

        def __new__(cls, **kwargs: Any):
            return resolve(name, warn=True)(**kwargs)

        @classmethod
        def available(cls) -> tuple[bool, str]:
            return True, ""

    Auto.__name__ = Auto.__qualname__ = f"Auto({name})"
    Auto.name = name
    return Auto


AutoSandbox = _auto("auto")
AutoColdSandbox = _auto("auto-cold")


def register_sandboxes(register):
    register("local", LocalSandbox)
    register("bwrap", BwrapSandbox)
    register("local-warm", LocalWarmSandbox)
    register("bwrap-warm", BwrapWarmSandbox)
    register("landlock", LandlockSandbox)
    register("landlock-warm", LandlockWarmSandbox)
    register("auto", AutoSandbox)
    register("auto-cold", AutoColdSandbox)
    register("e2b", E2BSandbox)
    register("ray", RaySandbox)
