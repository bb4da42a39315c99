"""A project environment made the way a user has one: a virtualenv of its own (not chain's), with pytest,
coverage and setuptools but not chain, and the project installed into it editable with `pip install -e`.

Offline: the venv's packages are symlinks to the distributions chain's test environment already has (each
with its own requirements), and pip builds the editable install with --no-build-isolation --no-deps."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

WANTED = ["pytest", "coverage", "setuptools", "pip"]


def _closure(names: list[str]) -> list[metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = re.split(r"[\s<>=!~;\[(]", todo.pop(), 1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        todo += [r for r in dist.requires or [] if "extra ==" not in r]
    return list(seen.values())


def make_venv(where: Path) -> Path:
    """The venv's python (chain is not importable from it)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = where / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    for dist in _closure(WANTED):
        root = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            src, dst = root / top, site / top
            if src.exists() and not dst.exists() and top not in ("__pycache__", "bin"):
                dst.symlink_to(src)
    return where / "bin" / "python"


def pip_install_editable(python: Path, project: Path) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", "--no-deps",
                    "-e", str(project)], check=True, capture_output=True)
