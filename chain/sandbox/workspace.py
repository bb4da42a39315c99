"""Fresh per-run directories: the workspace the code sees, a private tmp, and a report path outside both."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import materialize
from .environment import workspace_first

if TYPE_CHECKING:
    from ..tree import BaseTree
    from .environment import Environment
    from .materialize import Materialized

from .journal import JOURNAL_SUFFIX, report_from_journal

PLUGIN_DIR = str(Path(__file__).parent / "plugin")
PLUGIN_MODULE = "chain_pytest_report"


@dataclass
class RunDir:
    root: Path
    workspace: Path
    tmp: Path
    report: Path
    keep: frozenset[str] = frozenset()  # names in root that `empty` leaves alone
    pooled: Materialized | None = None  # the base copy this run borrowed (by-reference tasks)
    overlay: dict[str, Path] | None = None  # lower, upper, work, target: the workspace as an overlay mount

    @classmethod
    def create(
        cls,
        files: dict[str, str | bytes],
        root: Path | None = None,
        keep: frozenset[str] = frozenset(),
        base: BaseTree | None = None,
        overlay: bool = False,
        source: str | None = None,
    ) -> RunDir:
        """A fresh run directory; `root` (an existing directory, empty but for `keep`) lets a warm worker
        reuse its own. With `base` (a by-reference task) the workspace is a pristine copy of it, materialized
        once per concurrent slot and reset between runs (chain.sandbox.materialize), and `files` are written
        over it: what a run costs grows with the changed files, not with the repository. With `overlay` too (a
        namespaced warm worker's own `root`), nothing of the base is copied: the base's files are linked once
        into `root` (materialize.linked_base), `files` go to an upper directory, and the worker mounts the
        overlay of both at the workspace for the run. A big self-contained task under `overlay` becomes such a
        base too, once per process, linked from `source` where its files are still the same
        (chain.sandbox.inline_base)."""
        if base is None and overlay:
            split = materialize.pool().inline.split(files, source)
            if split is not None:
                base, files = split
        fresh = root is None
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="chain-run-", dir=os.environ.get("CHAIN_TMPDIR")))
        run = cls(root, root / "ws", root / "tmp", root / "report.json", keep)
        try:
            if base is not None and overlay:
                if fresh:  # a cold run: the base linked once per process, beside the run directories
                    lower = materialize.pool().linked(base)
                else:  # a warm worker's own directory: linked into it, once per worker
                    lower = root / materialize.linked_base(base, root)
                    run.keep = keep | {lower.name}
                run.overlay = {
                    "lower": lower,
                    "upper": root / "upper",
                    "work": root / "overlay-work",
                    "target": run.workspace,
                }
                run.workspace.mkdir()
                run.overlay["work"].mkdir()
                run.overlay["upper"].mkdir()
            elif base is not None:
                run.pooled = materialize.pool().checkout(base, run.workspace)
            run._populate(files)
        except (OSError, ValueError):
            run.remove() if fresh else run.empty()
            raise
        return run

    def _populate(self, files: dict[str, str | bytes]) -> None:
        if self.pooled is None and self.overlay is None:
            self.workspace.mkdir()
        self.tmp.mkdir()
        base = str(self.workspace if self.overlay is None else self.overlay["upper"])
        for rel, content in files.items():
            # The workspace is new (or a freshly reset base copy) and holds only what we write here (no
            # symlinks), so a lexical check is exact: no absolute paths, no climbing out with "..".
            norm = os.path.normpath(rel)
            if os.path.isabs(norm) or norm == ".." or norm.startswith("../") or norm == ".":
                raise ValueError(f"file path escapes the workspace: {rel!r}")
            target = os.path.join(base, norm)
            if os.sep in norm:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:  # bytes exactly: no newline translation, blobs as they are
                fh.write(content if isinstance(content, bytes) else content.encode("utf-8"))

    def read_report(self, run_limit_s: float | None = None) -> dict[str, Any] | None:
        """pytest's report; `run_limit_s`: the run was killed at its whole-run timeout of that many seconds
        (what finished before it is in the journal)."""
        if run_limit_s is None:
            try:
                return json.loads(self.report.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass
        try:  # pytest was ended before writing its report: what its journal kept (see chain.sandbox.journal)
            journal = self.report.with_name(self.report.name + JOURNAL_SUFFIX).read_text("utf-8")
            return report_from_journal(journal, run_limit_s)
        except (OSError, UnicodeDecodeError):
            return None

    def remove(self) -> None:
        self._return_base()
        _force_rmtree(self.root)

    def _return_base(self) -> None:
        if self.pooled is not None:
            materialize.pool().checkin(self.pooled)
            self.pooled = None

    def empty(self) -> None:
        """Delete everything inside the root but keep the root (a warm worker's directory is bind-mounted)."""
        os.chmod(self.root, stat.S_IRWXU)  # the code may have chmod-ed it (it is the sandbox's /tmp)
        self._return_base()
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name in self.keep or materialize.is_linked_base(entry.name):
                    continue  # (a worker's linked bases stay as long as it does: it mounted them read-only)
                if entry.is_dir(follow_symlinks=False):
                    _force_rmtree(Path(entry.path))
                else:
                    os.unlink(entry.path)


def _force_rmtree(path: Path) -> None:
    # Hostile code may have chmod-ed its workspace read-only; restore the bits, then delete.
    def fix(func, failed, _exc):
        try:
            os.chmod(os.path.dirname(failed), stat.S_IRWXU)
            if not os.path.islink(failed):
                os.chmod(failed, stat.S_IRWXU)
            func(failed)
        except OSError:
            pass

    try:
        os.chmod(path, stat.S_IRWXU)
    except OSError:
        pass
    shutil.rmtree(path, onerror=fix)


def scrubbed_env(
    run: RunDir,
    extra: dict[str, str] | None = None,
    root_inside: str | None = None,
    *,
    environment: Environment | None = None,
    source: str | None = None,
) -> dict[str, str]:
    """A minimal environment: nothing of the parent's secrets, just what Python and pytest need.

    `root_inside` is where the run's root appears inside a sandbox that mounts it elsewhere (bwrap: /tmp).
    `environment` is the project's (its interpreter first on PATH; None: chain's own interpreter); the
    workspace directories holding what that environment also has installed go first on PYTHONPATH, so the
    workspace copy is imported (see chain.sandbox.environment.workspace_first), then chain's plugins."""
    python_bin = environment.bin_dir if environment is not None else os.path.dirname(sys.executable)
    inside = Path(root_inside) if root_inside else run.root
    ws_inside = inside / run.workspace.relative_to(run.root)
    layers = [run.overlay["upper"], run.overlay["lower"]] if run.overlay else [run.workspace]  # what the run sees
    first = workspace_first(environment, layers, source) if environment is not None else []
    pythonpath = [os.path.normpath(ws_inside / rel) for rel in first] + [PLUGIN_DIR]
    env = {
        "PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(inside / run.workspace.relative_to(run.root)),
        "TMPDIR": str(inside / run.tmp.relative_to(run.root)),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_PLUGINS": PLUGIN_MODULE,
        "PYTEST_ADDOPTS": "-p no:cacheprovider",
        "CHAIN_PYTEST_REPORT": str(inside / run.report.relative_to(run.root)),
    }
    if extra:
        env.update(extra)
    return env
