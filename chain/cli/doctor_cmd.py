"""`chain doctor`: which isolation is in effect on this machine (namespaces, cgroups, uid, rlimits)."""

from __future__ import annotations

import sys

import click
import orjson
from rich.console import Console
from rich.table import Table

from ..sandbox.doctor import diagnose


def _yes(value) -> str:
    return "yes" if value else "no"


def _rows(report: dict) -> list[tuple[str, str, str]]:
    iso = report["isolation"] or {}
    bw, cg, rl = report["bwrap"], report["cgroups"], report["rlimits"]
    rows = [
        ("backend", iso.get("backend", "unavailable"), f"--sandbox {report['sandbox']}"),
        ("uid", str(report["uid"]), "root" if report["root"] else "unprivileged"),
        ("bubblewrap", bw["version"] or "not installed", "works" if bw["works"] else bw.get("reason", "")),
        (
            "landlock",
            f"ABI {report['landlock']['abi']}" if report["landlock"]["abi"] else "not in this kernel",
            "works (with seccomp)" if report["landlock"]["works"] else report["landlock"].get("reason", ""),
        ),
        ("security boundary", _yes(iso.get("security_boundary", True)), iso.get("warning") or ""),
        (
            "user namespace",
            _yes(iso.get("user_namespace")),
            f"runs as uid {iso['uid_inside']} inside" if iso.get("uid_inside") is not None else "host uid",
        ),
        (
            "pid namespace",
            _yes(iso.get("pid_namespace")),
            "cannot see or signal host processes"
            if iso.get("pid_namespace")
            else "can signal any process of the same uid",
        ),
        ("network", str(iso.get("network", "?")), ""),
        ("filesystem", str(iso.get("filesystem", "?")), ""),
        ("environment", str(iso.get("env", "?")), ""),
        ("cgroups", f"v{cg['version']}" if cg["version"] else "none", cg["detail"]),
        ("process cap", str(iso.get("process_cap") or "none"), rl["nproc_note"] or "RLIMIT_NPROC"),
        ("rlimits", "prlimit" if rl["prlimit"] else "none", "cpu, address space, file size, nproc, core"),
    ]
    warm = report.get("warm_pool")
    if warm is not None:
        detail = f"worker ready in {warm['worker_start_ms']} ms" if warm.get("warm") else warm.get("warm_error", "cold")
        rows.append(("warm pool", _yes(warm.get("warm")), detail))
    return rows


def _ray_table(ray: dict) -> Table:
    here = ray.get("versions") or {}
    table = Table(
        title=f"ray cluster {ray.get('address', '')}: chain {here.get('chain')}, "
        f"Python {here.get('python')}, pytest {here.get('pytest')} here"
    )
    for col in ("node", "cpus", "isolation", "chain / python / pytest", "used"):
        table.add_column(col)
    for node in ray.get("nodes", []):
        v = node.get("versions") or {}
        iso = node.get("isolation") or {}
        table.add_row(
            node["node"][:12],
            str(node.get("cpus", "?")),
            str(iso.get("backend", "?")),
            " / ".join(str(v.get(k, "?")) for k in ("chain", "python", "pytest")),
            "yes" if node["used"] else f"no: {node.get('reason')}",
        )
    return table


@click.command()
@click.option("--sandbox", default="auto", show_default=True, help="The backend to report on.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.option("--no-worker", is_flag=True, help="Do not start a warm worker to check the pool.")
@click.option(
    "--ray-address",
    default=None,
    metavar="HOST:PORT|auto",
    help="With --sandbox ray: the cluster to report on [env RAY_ADDRESS].",
)
def doctor(sandbox, as_json, no_worker, ray_address):
    """Report which isolation sandboxed runs get here: namespaces, cgroups, uid, rlimits, bwrap.
    With --sandbox ray: every node of the cluster, its CPUs, isolation and versions."""
    report = diagnose(sandbox, start_worker=not no_worker, ray_address=ray_address)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report) + b"\n")
        return
    table = Table(title="chain doctor: sandbox isolation in effect")
    for col in ("check", "state", "detail"):
        table.add_column(col)
    for row in _rows(report):
        table.add_row(*row)
    console = Console(width=120)
    console.print(table)
    backends = ", ".join(f"{n}{'' if b['available'] else ' (unavailable)'}" for n, b in report["backends"].items())
    console.print(f"backends: {backends}")
    for name, info in report["backends"].items():
        if info.get("gives"):
            console.print(f"  {name}: {info['gives']}")
    if report.get("ray"):
        console.print(_ray_table(report["ray"]))
    for warning in report["warnings"]:
        click.echo(f"chain doctor: warning: {warning}", err=True)
