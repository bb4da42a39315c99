"""The project's own environment (--python): a src-layout project installed editable into a venv of its own,
without chain, with a one-line bug and a slow function. `chain task | chain process | chain optimize` must
repair and speed up the *workspace* copy (not the installed original the .pth file points at), with the
checkout under /tmp (which bwrap hides) and elsewhere, warm and cold."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import orjson
import pytest

from chain.errors import ExitStatus
from chain.sandbox.environment import inspect, workspace_first
from tests.chain.sandbox.project_env import make_venv, pip_install_editable
from tests.conftest import CHAIN, ROOT, parse_lines

BUGGY = "def add(a, b):\n    return a - b\n"
CODE = BUGGY + textwrap.dedent("""

    def fib(n):
        if n < 2:
            return n
        return fib(n - 1) + fib(n - 2)
""")
TESTS = textwrap.dedent("""
    import calc

    def test_add():
        assert calc.add(2, 3) == 5

    def test_add_zero():
        assert calc.add(0, 0) == 0

    def test_fib():
        assert calc.fib(24) == 46368
""")
PYPROJECT = textwrap.dedent("""
    [build-system]
    requires = ["setuptools>=64"]
    build-backend = "setuptools.build_meta"
    [project]
    name = "calc"
    version = "0.1.0"
    [tool.setuptools.packages.find]
    where = ["src"]
""")


def _installed_project(base: Path) -> tuple[Path, Path]:
    proj = base / "proj"
    (proj / "src" / "calc").mkdir(parents=True)
    (proj / "tests").mkdir()
    (proj / "pyproject.toml").write_text(PYPROJECT)
    (proj / "src" / "calc" / "__init__.py").write_text(CODE)
    (proj / "tests" / "test_calc.py").write_text(TESTS)
    python = make_venv(base / "venv")
    pip_install_editable(python, proj)
    return proj, python


@pytest.fixture(scope="module")
def under_tmp(tmp_path_factory):
    return _installed_project(tmp_path_factory.mktemp("srclayout"))


@pytest.fixture(scope="module")
def outside_tmp():
    base = Path(tempfile.mkdtemp(prefix="chain-srclayout-", dir="/var/tmp"))
    try:
        yield _installed_project(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _pipeline(proj: Path, python: Path, sandbox: str, env: dict, by_reference: str = "auto") -> list[dict]:
    task = subprocess.run([*CHAIN, "task", "--by-reference", by_reference, str(proj)], capture_output=True,
                          check=True, cwd=ROOT)
    args = ["--sandbox", sandbox, "--python", str(python)]
    processed = subprocess.run([*CHAIN, "process", *args], input=task.stdout, capture_output=True, cwd=ROOT,
                               env=env, timeout=300)
    optimized = subprocess.run([*CHAIN, "optimize", *args], input=processed.stdout, capture_output=True,
                               cwd=ROOT, env=env, timeout=300)
    return [*parse_lines(processed.stdout), *parse_lines(optimized.stdout)]


# by_reference "always": the workspace is an overlay of the checkout's files under bubblewrap (warm and cold),
# and the layers it is made of decide what goes first on sys.path (the host sees no files in the mount point).
@pytest.mark.parametrize("where,sandbox,by_reference", [
    ("under_tmp", "auto", "auto"), ("under_tmp", "auto-cold", "auto"), ("outside_tmp", "auto", "auto"),
    ("outside_tmp", "auto", "always"), ("under_tmp", "auto-cold", "always")])
def test_an_editable_src_layout_project_is_repaired_and_optimized_in_its_workspace(where, sandbox, by_reference,
                                                                                  request, isolated_state):
    proj, python = request.getfixturevalue(where)
    chain_free = subprocess.run([str(python), "-c", "import chain"], capture_output=True)
    assert chain_free.returncode != 0  # chain is not installed in the project's environment
    plain = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=proj,
                           capture_output=True, text=True)
    assert "2 failed" in plain.stdout or "1 failed" in plain.stdout  # the bug, as the user's own pytest sees it

    env = {**os.environ, "CHAIN_STATE": str(isolated_state)}
    processed, optimized = _pipeline(proj, python, sandbox, env, by_reference)
    assert processed["status"] == "passed", processed["result"]
    assert processed["isolation"]["python"] == str(python)
    if by_reference == "always":
        assert processed["isolation"].get("workspace") == "overlay of the read-only base", processed["isolation"]
    repaired = processed["task"]["files"]["src/calc/__init__.py"]
    assert "return a + b" in repaired
    assert optimized["status"] == "passed", optimized["result"]
    step = optimized["task"]["history"][-1]["data"]
    assert step["applied"] and step["applied"][0]["file"] == "src/calc/__init__.py", (optimized["result"],
                                                                                    step.get("rejected"))
    assert step["speedup"]["ratio"] > 2  # timed on the workspace copy: memoized fib is far faster
    assert (proj / "src" / "calc" / "__init__.py").read_text() == CODE  # the checkout itself is untouched


def test_the_environment_lists_what_a_sandbox_must_show_and_maps_the_install_to_the_workspace(under_tmp):
    proj, python = under_tmp
    env = inspect(str(python))
    venv = python.parent.parent
    assert env.prefix == str(venv) and any(p == str(venv) or str(venv).startswith(p + "/") for p in env.paths())
    assert str(proj / "src") in env.pth_dirs  # the editable install's .pth entry
    assert "calc" in env.installed_names()
    assert workspace_first(env, proj, str(proj)) == ["src"]


def test_the_active_virtualenv_is_the_default_and_a_bad_python_is_a_usage_error(under_tmp, isolated_state):
    proj, python = under_tmp
    task = subprocess.run([*CHAIN, "task", str(proj)], capture_output=True, check=True, cwd=ROOT)
    env = {**os.environ, "VIRTUAL_ENV": str(python.parent.parent), "CHAIN_STATE": str(isolated_state)}
    out = subprocess.run([*CHAIN, "analyze", "--sandbox", "auto-cold"], input=task.stdout, capture_output=True,
                         cwd=ROOT, env=env, timeout=120)
    (result,) = parse_lines(out.stdout)
    assert result["isolation"]["python"] == str(python)
    assert result["tests"]["failed"] == 1 and result["tests"]["passed"] == 2  # the workspace copy, buggy
    bad = subprocess.run([*CHAIN, "analyze", "--python", "/nonexistent/python"], input=task.stdout,
                         capture_output=True, cwd=ROOT, timeout=60)
    assert bad.returncode == ExitStatus.CONFIG and b"--python /nonexistent/python" in bad.stderr and not bad.stdout
