"""What isolation chain can apply on this machine, and what a given `--sandbox` choice actually gets.

Machines differ (root or not, cgroup v1/v2/none, user namespaces allowed or not, bubblewrap installed or
not), so `chain doctor` reports the facts rather than the intent. Every result carries the same
`describe()` dictionary under `isolation`.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from .. import registry
from . import builtin, bwrap, cgroups, confine, landlock, view
from .base import Sandbox
from .local import _prlimit
from .warm import WarmSandbox
from .warm_pool import WarmPool, WorkerFailed


def _resolve(name: str) -> type[Sandbox]:
    """The class `--sandbox NAME` would instantiate (auto picks here without starting anything)."""
    if name in ("auto", "auto-cold"):
        return builtin.resolve(name)
    return registry.get().sandboxes[name]


def describe_backend(name: str) -> dict[str, Any]:
    cls = _resolve(name)
    if issubclass(cls, WarmSandbox):
        cold = cls.cold_class()
        return {**cold.describe(), **cls.describe_overrides, "backend": f"{cold.name}-warm", "warm": True}
    try:
        return cls().describe()
    except Exception as exc:  # a third-party backend that needs configuration (keys, templates)
        return {"backend": name, "describe_error": str(exc)}


def _warm_check(name: str) -> dict[str, Any]:
    cls = _resolve(name)
    if not issubclass(cls, WarmSandbox):
        return {"warm": False}
    started = time.monotonic()
    pool = WarmPool(cls.cold_class())
    try:
        worker = pool.acquire()
        pool.release(worker)
        return {"warm": True, "worker_start_ms": round((time.monotonic() - started) * 1000)}
    except WorkerFailed as exc:
        return {"warm": False, "warm_error": str(exc)}
    finally:
        pool.close()


def _ray_check(address: str | None) -> dict[str, Any]:
    """Joins the cluster (`address`, else RAY_ADDRESS) and asks each node's chain actor what it runs."""
    from ..errors import ChainError
    from .ray_backend import RaySandbox

    try:
        box = RaySandbox(address=address)
        box.ensure_running()
    except ChainError as exc:
        return {"isolation": None, "error": str(exc), "nodes": []}
    try:
        return {"isolation": box.describe(), "address": box.address, "versions": box.versions, "nodes": box.report()}
    finally:
        box.close()


def diagnose(sandbox: str = "auto", start_worker: bool = True, ray_address: str | None = None) -> dict[str, Any]:
    uid = os.getuid()
    cg = cgroups.support()
    bwrap_ok, bwrap_why = bwrap.probe()
    landlock_ok, landlock_why = landlock.probe()
    soft, _hard = resource.getrlimit(resource.RLIMIT_NPROC)
    backends = {}
    for name, cls in sorted(registry.get().sandboxes.items()):
        ok, why = cls.available()
        gives = getattr(cls, "summary", None) or getattr(getattr(cls, "cold_class", None), "summary", None)
        backends[name] = {"available": ok, **({"reason": why} if why else {}), **({"gives": gives} if gives else {})}
    cluster = _ray_check(ray_address) if sandbox == "ray" and backends.get(sandbox, {}).get("available") else None
    if cluster is not None:
        chosen = cluster.pop("isolation")
    else:
        chosen = describe_backend(sandbox) if backends.get(sandbox, {}).get("available") else None
    report: dict[str, Any] = {
        "sandbox": sandbox,
        "isolation": chosen,
        "uid": uid,
        "root": uid == 0,
        "rlimits": {
            "prlimit": _prlimit(),
            "nproc_enforced": uid != 0,
            "nproc_note": "the kernel ignores RLIMIT_NPROC for root" if uid == 0 else None,
            "current_nproc": None if soft == resource.RLIM_INFINITY else soft,
        },
        "cgroups": {"version": cg.version, "detail": cg.reason},
        "bwrap": {
            "path": bwrap.bwrap_path(),
            "version": bwrap.version(),
            "works": bwrap_ok,
            **({"reason": bwrap_why} if bwrap_why else {}),
        },
        "namespaces": {kind: bwrap_ok for kind in ("user", "pid", "net", "mount", "ipc", "uts")},
        "landlock": {
            "abi": confine.landlock_abi(),
            "works": landlock_ok,
            "seccomp": confine.seccomp_program() is not None,
            **({"reason": landlock_why} if landlock_why else {}),
        },
        "view": list(view.read_only_paths()),
        "fallback": {name: [cls.name for cls in builtin.fallback_order(name)] for name in ("auto", "auto-cold")},
        "backends": backends,
        "plugin_errors": list(registry.get().errors),
    }
    if cluster is not None:
        report["ray"] = cluster
    if chosen and start_worker and cluster is None:
        report["warm_pool"] = _warm_check(sandbox)
    report["warnings"] = _warnings(report)
    return report


def _warnings(report: dict[str, Any]) -> list[str]:
    out = []
    if not report["bwrap"]["works"]:
        out.append(f"no namespace isolation: {report['bwrap'].get('reason')}")
    if not report["landlock"]["works"]:
        out.append(f"no Landlock confinement: {report['landlock'].get('reason')}")
    if (report["isolation"] or {}).get("security_boundary") is False:
        out.append(f"{report['isolation']['backend']}: {report['isolation']['warning']}")
    if report["cgroups"]["version"] is None:
        out.append(f"no cgroups ({report['cgroups']['detail']}): a setsid'd child can outlive its run")
        if report["root"]:
            out.append("running as root without a pids cgroup: nothing caps a fork bomb")
    if report.get("warm_pool", {}).get("warm_error"):
        out.append(f"warm pool unavailable, runs go cold: {report['warm_pool']['warm_error']}")
    ray = report.get("ray") or {}
    if ray.get("error"):
        out.append(ray["error"])
    for node in ray.get("nodes", []):
        if not node["used"]:
            out.append(f"ray node {node['node'][:12]} is not used: {node.get('reason')}")
    if report["sandbox"] not in report["backends"]:
        out.append(f"no sandbox backend named {report['sandbox']!r}")
    elif not report["backends"][report["sandbox"]]["available"]:
        out.append(f"{report['sandbox']}: {report['backends'][report['sandbox']].get('reason')}")
    return out
