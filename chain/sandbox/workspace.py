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
from typing import Any

PLUGIN_DIR = str(Path(__file__).parent / "plugin")
PLUGIN_MODULE = "chain_pytest_report"


@dataclass
class RunDir:
    root: Path
    workspace: Path
    tmp: Path
    report: Path

    @classmethod
    def create(cls, files: dict[str, str]) -> "RunDir":
        root = Path(tempfile.mkdtemp(prefix="chain-run-", dir=os.environ.get("CHAIN_TMPDIR")))
        run = cls(root, root / "ws", root / "tmp", root / "report.json")
        run.workspace.mkdir()
        run.tmp.mkdir()
        for rel, content in files.items():
            target = (run.workspace / rel).resolve()
            if not target.is_relative_to(run.workspace.resolve()):
                raise ValueError(f"file path escapes the workspace: {rel!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        return run

    def read_report(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def read_files(self, names: list[str]) -> dict[str, str]:
        """Contents of `names` after the run (for stages that let a command rewrite code)."""
        out = {}
        for rel in names:
            try:
                out[rel] = (self.workspace / rel).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                pass
        return out

    def remove(self) -> None:
        # Hostile code may have chmod-ed its workspace read-only; restore write bits, then delete.
        def fix(func, path, _exc):
            try:
                os.chmod(os.path.dirname(path), stat.S_IRWXU)
                os.chmod(path, stat.S_IRWXU)
                func(path)
            except OSError:
                pass

        shutil.rmtree(self.root, onerror=fix)


def scrubbed_env(run: RunDir, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: nothing of the parent's secrets, just what Python and pytest need."""
    python_bin = os.path.dirname(sys.executable)
    env = {
        "PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(run.workspace),
        "TMPDIR": str(run.tmp),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": PLUGIN_DIR,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_PLUGINS": PLUGIN_MODULE,
        "PYTEST_ADDOPTS": "-p no:cacheprovider",
        "CHAIN_PYTEST_REPORT": str(run.report),
    }
    if extra:
        env.update(extra)
    return env
