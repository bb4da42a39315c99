"""The project's own environment: the interpreter a task's tests run with, and what of it a sandbox must show.

`--python PATH` picks the interpreter (default: the active virtualenv, `$VIRTUAL_ENV`, else chain's own).
chain is not installed there: its pytest plugins reach the run through PYTHONPATH (chain/sandbox/plugin, which
imports nothing of chain). Two questions are answered here, for every backend alike:

- `Environment.paths()`: what the interpreter needs to start and import its installed packages (prefixes,
  site-packages, the directories its .pth files add), which a sandbox must show read-only even where it
  hides the host (bwrap's private /tmp). Backends call it; it is the one list of the environment's paths.
- `workspace_first(...)`: which workspace directories go first on sys.path so that the workspace copy of the
  project wins over an installed copy of the same project (`pip install -e .` through a .pth file or an
  `__editable___*_finder.py` import hook, a `src/` layout, or a plain install in site-packages).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# Run by the project's interpreter with -E -s (no PYTHON* variables, no user site), as the sandbox runs it.
_PROBE = r"""
import json, site, sys
print(json.dumps({"prefix": sys.prefix, "base_prefix": sys.base_prefix, "exec_prefix": sys.exec_prefix,
                  "executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
                  "site": [p for p in site.getsitepackages() if p], "path": [p for p in sys.path if p]}))
"""
_MAPPING = re.compile(r"^MAPPING\s*(?::[^=]*)?=\s*(\{.*?\})\s*$", re.M | re.S)


def default_python() -> str:
    """The active virtualenv's interpreter when there is one, else the one chain runs on."""
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        candidate = Path(venv) / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


@dataclass(frozen=True)
class Environment:
    python: str  # as given, not resolved: a venv's bin/python must stay a venv's (pyvenv.cfg sits beside it)
    prefix: str
    base_prefix: str
    exec_prefix: str
    version: str
    site_dirs: tuple[str, ...]
    pth_dirs: tuple[str, ...]  # what .pth files add to sys.path beyond the site dirs (editable installs, ...)
    editable: tuple[tuple[str, str], ...]  # (top-level name, path) mapped by setuptools' editable finders

    @property
    def bin_dir(self) -> str:
        """First on PATH, so `python`, `python3` and `pytest` in a task's command are this environment's."""
        here = os.path.dirname(self.python)
        if _same_file(os.path.join(here, "python"), self.python):
            return here
        return _shim_dir(self.python)  # e.g. --python /usr/bin/python3.12, where /usr/bin/python is another

    def paths(self) -> list[str]:
        """Everything of the environment a sandbox must show (read-only) for the interpreter to start and to
        import what is installed in it; the minimal set, without nested duplicates."""
        wanted = {
            self.prefix,
            self.base_prefix,
            self.exec_prefix,
            self.bin_dir,
            os.path.dirname(os.path.realpath(self.python)),
            *self.site_dirs,
            *self.pth_dirs,
        }
        wanted.update(os.path.dirname(path) for _, path in self.editable)
        wanted.update(_symlinked_entries(self.site_dirs))  # packages linked into site-packages (nix, tests)
        return _outermost(p for p in wanted if p and os.path.isabs(p))

    def installed_names(self) -> frozenset[str]:
        """Top-level module names importable from the environment's site-packages, .pth dirs and finders."""
        return _names_in_dirs(self.site_dirs + self.pth_dirs) | {name for name, _ in self.editable}

    def describe(self) -> dict[str, str]:
        return {"python": self.python, "python_version": self.version, "prefix": self.prefix}


@lru_cache(maxsize=16)
def inspect(python: str | None = None) -> Environment:
    """The environment of `python` (None: `default_python()`), asked of the interpreter itself once (chain's
    own interpreter answers in-process: no start-up cost for the common case)."""
    python = os.path.abspath(python or default_python())
    if python == os.path.abspath(sys.executable):
        import site

        info: dict[str, Any] = {
            "prefix": sys.prefix,
            "base_prefix": sys.base_prefix,
            "exec_prefix": sys.exec_prefix,
            "version": ".".join(map(str, sys.version_info[:3])),
            "site": [p for p in site.getsitepackages() if p],
        }
    else:
        info = _probe(python)
    site_dirs = tuple(info["site"])
    return Environment(
        python=python,
        prefix=info["prefix"],
        base_prefix=info["base_prefix"],
        exec_prefix=info["exec_prefix"],
        version=info["version"],
        site_dirs=site_dirs,
        pth_dirs=tuple(_pth_dirs(site_dirs)),
        editable=tuple(_editable_mappings(site_dirs)),
    )


def _probe(python: str) -> dict:
    try:
        done = subprocess.run(
            [python, "-E", "-s", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
            cwd="/",
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"--python {python}: cannot run it: {exc}") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise ConfigError(f"--python {python}: not a working Python interpreter: {why}")
    return json.loads(done.stdout)


def _pth_dirs(site_dirs: tuple[str, ...]) -> list[str]:
    """The directories the site dirs' .pth files add to sys.path, read as `site` reads them (a line that is
    not a comment nor an `import` names a directory, relative to the site dir), without running them."""
    out: list[str] = []
    for site_dir in site_dirs:
        try:
            names = sorted(n for n in os.listdir(site_dir) if n.endswith(".pth"))
        except OSError:
            continue
        for name in names:
            try:
                lines = Path(site_dir, name).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                line = line.rstrip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    continue
                path = os.path.normpath(os.path.join(site_dir, line))
                if os.path.isdir(path) and path not in site_dirs and path not in out:
                    out.append(path)
    return out


def _editable_mappings(site_dirs: tuple[str, ...]) -> list[tuple[str, str]]:
    """setuptools' editable installs that use an import hook (`__editable___<dist>_finder.py`) name each
    top-level package and where it lives in the checkout: read its MAPPING literal, never import it."""
    out: list[tuple[str, str]] = []
    for site_dir in site_dirs:
        try:
            finders = sorted(Path(site_dir).glob("__editable___*_finder.py"))
        except OSError:
            continue
        for finder in finders:
            try:
                match = _MAPPING.search(finder.read_text(encoding="utf-8"))
                mapping = ast.literal_eval(match.group(1)) if match else {}
            except (OSError, ValueError, SyntaxError):
                continue
            out.extend((str(k), str(v)) for k, v in mapping.items() if isinstance(k, str) and isinstance(v, str))
    return out


def _names_in_dirs(dirs: tuple[str, ...]) -> frozenset[str]:
    names: set[str] = set()
    for d in dirs:
        names |= _top_level_names(d)
    return frozenset(names)


def _top_level_names(directory: str | Path) -> set[str]:
    """Importable top-level names in a directory: packages (with or without __init__.py) and modules."""
    names: set[str] = set()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return names
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name == "__pycache__" or "-" in name:
            continue
        if name.endswith(".py"):
            names.add(name[:-3])
        elif entry.is_dir() and name.isidentifier():
            names.add(name)
    return names


def workspace_first(env: Environment, workspace: Path | list[Path], source: str | None = None) -> list[str]:
    """Workspace directories (relative, in order) to put first on sys.path: each that holds a top-level
    module or package the environment has installed, so the workspace copy is the one imported. Looked for
    at the workspace root, in `src/`, and where the environment's .pth entries and editable finders point
    inside the task's source checkout (`source`, the directory `chain task` read). `workspace` may be the
    layers an overlay workspace is made of (its upper directory and its base): what the run will see."""
    layers = workspace if isinstance(workspace, list) else [workspace]
    candidates = [".", "src"]
    if source and os.path.isabs(source):
        pointed = [*env.pth_dirs, *(os.path.dirname(path) for _, path in env.editable)]
        for target in pointed:
            rel = os.path.relpath(target, source)
            if not rel.startswith(".."):
                candidates.append(rel)
    installed = env.installed_names()
    out: list[str] = []
    for rel in dict.fromkeys(os.path.normpath(c) for c in candidates):
        here = [layer / rel for layer in layers if (layer / rel).is_dir()]
        if not here or (rel != "." and any((h / "__init__.py").exists() for h in here)):
            continue
        if set().union(*(_top_level_names(h) for h in here)) & installed:
            out.append(rel)
    return out


def _symlinked_entries(site_dirs: tuple[str, ...]) -> list[str]:
    """Where the symlinked entries of the site dirs really live: the view must show their targets too."""
    out = []
    for site_dir in site_dirs:
        try:
            entries = list(os.scandir(site_dir))
        except OSError:
            continue
        out += [os.path.realpath(e.path) for e in entries if e.is_symlink()]
    return out


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b) and os.path.dirname(a) == os.path.dirname(b)
    except OSError:
        return False


@lru_cache(maxsize=16)
def _shim_dir(python: str) -> str:
    """A directory whose `python` and `python3` run `python` (a script, not a symlink: a symlinked venv
    interpreter would lose its venv)."""
    key = hashlib.sha256(python.encode()).hexdigest()[:12]
    base = Path(os.environ.get("CHAIN_TMPDIR") or tempfile.gettempdir()) / f"chain-python-{os.getuid()}-{key}"
    base.mkdir(mode=0o755, exist_ok=True)
    for name in ("python", "python3"):
        shim = base / name
        shim.write_text(f'#!/bin/sh\nexec {_sh_quote(python)} "$@"\n')
        shim.chmod(0o755)
    return str(base)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _outermost(paths) -> list[str]:
    ordered = sorted(set(os.path.normpath(p) for p in paths))
    out: list[str] = []
    for p in ordered:
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return out
