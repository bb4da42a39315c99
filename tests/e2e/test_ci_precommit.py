"""The pre-commit hook, run by pre-commit itself (`pre-commit try-repo` on a temporary git repository), offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BUGGY = "def median(values):\n    ordered = sorted(values)\n    return ordered[len(ordered) // 2]\n"
FIXED = ("def median(values):\n    ordered = sorted(values)\n    mid = len(ordered) // 2\n"
         "    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2\n")
TESTS = ("from stats import median\n\n\ndef test_odd():\n    assert median([3, 1, 2]) == 2\n\n\n"
         "def test_even():\n    assert median([4, 1, 3, 2]) == 2.5\n")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.invalid")
    git(repo, "config", "user.name", "t")
    (repo / "stats.py").write_text(BUGGY)
    (repo / "test_stats.py").write_text(TESTS)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "buggy median")
    return repo


def try_repo(repo: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    # The hook repository: this tree as pre-commit sees a repo (try-repo takes uncommitted changes too).
    hooks = tmp_path / "hooks"
    if not hooks.exists():
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        for rel in filter(None, files.decode().split("\0")):
            if (ROOT / rel).is_file():
                (hooks / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, hooks / rel)
        shutil.copy2(ROOT / ".pre-commit-hooks.yaml", hooks / ".pre-commit-hooks.yaml")
        git(hooks, "init", "-q")
        git(hooks, "add", ".")
        git(hooks, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "hooks")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "CHAIN_STATE": str(tmp_path / "s.db"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}  # `chain` on PATH
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hooks), "chain-analyze"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=300)


def test_hook_blocks_a_failing_staged_project_and_passes_the_staged_fix(repo, tmp_path):
    (repo / "stats.py").write_text(BUGGY + "\n")  # a staged change to the buggy code: the hook runs, and fails
    git(repo, "add", "stats.py")
    failing = try_repo(repo, tmp_path)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "chain analyze (tests in a sandbox)" in failing.stdout and "Failed" in failing.stdout
    assert "`test_stats.py::test_even` — assert 3 == 2.5" in failing.stdout  # the summary names the failure

    # Stage the fix but leave a breaking change unstaged: the hook judges what would be committed.
    (repo / "stats.py").write_text(FIXED)
    git(repo, "add", "stats.py")
    (repo / "stats.py").write_text(BUGGY)
    passing = try_repo(repo, tmp_path)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Passed" in passing.stdout
    assert (repo / "stats.py").read_text() == BUGGY  # pre-commit put the unstaged change back
