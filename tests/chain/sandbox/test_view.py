"""The minimal filesystem view (chain/sandbox/view.py) on the backends that give one: a real project's
environment still works in it (a venv under /tmp, editable installs whose code lives outside the workspace and
outside the venv), nothing beside what it needs is there, and `--sandbox-ro` adds a path and says so."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chain.sandbox import view
from tests.chain.sandbox.conftest import backend_params, marker
from tests.conftest import CHAIN, ROOT, make_task, ndjson, parse_lines

VIEW_BACKENDS = backend_params(["bwrap", "bwrap-warm", "landlock", "landlock-warm"])


@pytest.fixture(scope="module")
def project_venv(tmp_path_factory):
    """A venv under /tmp whose site-packages point outside it, as a developer's would: chain installed
    editable (setuptools' finder, mapping to this checkout), chain's dependencies through a `.pth` line to
    another environment, and the project's own package editable through a `.pth` line to its src/ directory,
    next to a file the tests have no business reading."""
    base = tmp_path_factory.mktemp("view")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    ours = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p, "pytest").is_dir())
    for name in ours.iterdir():
        if name.name.startswith("__editable__"):
            shutil.copy(name, site / name.name)
    project = base / "project"
    (project / "src" / "helper_pkg").mkdir(parents=True)
    (project / "src" / "helper_pkg" / "__init__.py").write_text("def double(x):\n    return 2 * x\n")
    secret = marker()
    (project / "deploy-key.txt").write_text(secret)
    (site / "deps.pth").write_text(f"{ours}\n")
    (site / "__editable__.helper_pkg-0.1.pth").write_text(f"{project / 'src'}\n")
    return venv / "bin" / "python", project, secret


@pytest.mark.parametrize("backend", VIEW_BACKENDS)
def test_a_venv_under_tmp_with_editable_installs_runs_under_the_minimal_view(backend, project_venv):
    python, project, secret = project_venv
    task = make_task("proj", tests=(
        "import helper_pkg, pathlib\n\n"
        "def test_double():\n"
        "    assert helper_pkg.double(21) == 42\n\n"
        "def test_beside_the_package_is_hidden():\n"
        f"    key = pathlib.Path({str(project / 'deploy-key.txt')!r})\n"
        "    try:\n"
        "        key.read_text()\n"
        "    except OSError as exc:\n"
        "        print('refused', exc.strerror)\n"
        "    else:\n"
        "        raise AssertionError('read a file beside the editable package')\n"))
    proc = subprocess.run([str(python), "-m", "chain", "analyze", "--sandbox", backend, "--no-learn", "-j", "1",
                           "--timeout", "60"], input=ndjson(task), capture_output=True, cwd=ROOT, timeout=180)
    assert proc.returncode == 0, proc.stderr.decode()
    (result,) = [r for r in parse_lines(proc.stdout) if r["type"] == "result"]
    assert result["status"] == "passed", (result["result"], result.get("cases"))
    assert result["sandbox"] == backend
    assert secret.encode() not in proc.stdout


@pytest.mark.parametrize("backend", backend_params(["bwrap", "landlock"]))
def test_sandbox_ro_shows_a_path_and_the_result_records_it(backend, tmp_path):
    shared = Path("/var/tmp") / f"chain-view-{marker()}"
    shared.mkdir()
    try:
        (shared / "data.txt").write_text("fixture data\n")
        task = make_task("ro", tests=(
            f"def test_reads():\n    assert open({str(shared / 'data.txt')!r}).read() == 'fixture data\\n'\n"))
        hidden = subprocess.run([*CHAIN, "analyze", "--sandbox", backend, "--no-learn"], input=ndjson(task),
                                capture_output=True, cwd=ROOT, timeout=120)
        shown = subprocess.run([*CHAIN, "analyze", "--sandbox", backend, "--no-learn", "--sandbox-ro", str(shared)],
                               input=ndjson(task), capture_output=True, cwd=ROOT, timeout=120)
    finally:
        shutil.rmtree(shared)
    (without,) = parse_lines(hidden.stdout)
    (with_ro,) = parse_lines(shown.stdout)
    assert without["status"] == "failed" and "extra_read_only" not in without["isolation"]
    assert with_ro["status"] == "passed", with_ro["result"]
    assert with_ro["isolation"]["extra_read_only"] == [str(shared)]


def test_sandbox_ro_is_refused_by_a_backend_without_a_view_of_its_own():
    proc = subprocess.run([*CHAIN, "analyze", "--sandbox", "e2b", "--no-learn", "--sandbox-ro", "/usr"],
                          input=b"", capture_output=True, cwd=ROOT, timeout=60)
    assert proc.returncode != 0
    assert b"--sandbox-ro" in proc.stderr


def test_the_view_keeps_out_home_directories_and_other_checkouts():
    shown = view.read_only_paths()
    home = str(Path.home())
    assert not any(p == home or p == "/home" or p == "/" for p in shown)
    # only the parts of chain's checkout that its editable install maps to, not the checkout itself
    assert str(ROOT) not in shown and str(ROOT / "chain") in shown
    assert all(Path(p).exists() for p in shown)
