"""One real pipeline for every report test: `chain task examples/projects/* | chain analyze | chain process |
chain optimize` (stats_bug fails in analyze and is repaired by process; slow_fib is made faster by optimize),
plus `chain analyze` on a project with every kind of pytest outcome, beside pytest's own `--junitxml` of it.
Session-scoped, and the tests share an xdist group, so the sandboxes run once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from chain.report import StreamReport, read
from tests.conftest import ROOT

PY = sys.executable

# Every outcome pytest's junitxml distinguishes, and messages with the characters each format must escape.
MIXED_PROJECT = {
    "calc.py": """\
        def div(a, b):
            return a / b


        def mean(values):
            return sum(values) / (len(values) + 1)
        """,
    "test_mix.py": """\
        import pytest

        from calc import div, mean


        def test_ok():
            assert div(4, 2) == 2


        def test_assert():
            assert mean([1, 2, 3]) == 2


        def test_exception():
            div(1, 0)


        @pytest.mark.skip(reason="not here")
        def test_skipped():
            pass


        @pytest.mark.xfail(reason="known bug")
        def test_xfail():
            assert mean([2]) == 2


        @pytest.mark.parametrize("x", [1, 2])
        def test_param(x):
            assert x == 1, "x, said: 50%% of %s" % x


        class TestGroup:
            def test_method(self):
                assert div(1, 1) == 1


        @pytest.fixture
        def broken():
            raise RuntimeError("fixture broke")


        def test_setup_error(broken):
            pass
        """,
    "sub/test_deep.py": """\
        def test_deep():
            assert "a,b:c" == "a,b:d\\r"
        """,
}


@dataclass
class Pipeline:
    dir: Path
    analyze: bytes       # analyze's stream over the examples (stats_bug failing)
    final: bytes         # after process and optimize
    mixed: bytes         # analyze over MIXED_PROJECT (its task's source is `mixed`, relative to `dir`)
    pytest_junit: Path   # pytest's own --junitxml for the same project

    def report(self, stream: bytes) -> StreamReport:
        return read(stream.splitlines(keepends=True))


def _sh(script: str, cwd: Path, env: dict) -> bytes:
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", script], cwd=cwd, capture_output=True, timeout=300,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> Pipeline:
    work = tmp_path_factory.mktemp("report-pipeline")
    shutil.copytree(ROOT / "examples" / "projects", work / "examples" / "projects")
    for name, text in MIXED_PROJECT.items():
        (work / "mixed" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "mixed" / name).write_text(textwrap.dedent(text))
    env = {"CHAIN_STATE": str(work / "state.db"), "CHAIN_PLUGINS": "", "PYTHONPATH": str(ROOT)}
    chain = f"{PY} -m chain"
    final = _sh(f"{chain} task examples/projects/* | {chain} analyze | tee analyze.ndjson"
                f" | {chain} process | {chain} optimize", work, env)
    mixed = _sh(f"{chain} task mixed | {chain} analyze", work, env)
    junit = work / "pytest-junit.xml"
    subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"], cwd=work / "mixed",
                   capture_output=True, timeout=120)
    return Pipeline(work, (work / "analyze.ndjson").read_bytes(), final, mixed, junit)
