"""The warm worker patches pytest's internals only for the pytest versions it is tested with; any other
pytest still runs every test, through plain pytest.main, and the result and stderr say so."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from chain import registry
from chain.sandbox.warm_worker.pytest_patches import TESTED_PYTEST, VERSION_ENV, version_gate
from tests.chain.sandbox.conftest import backend_params, evaluate, files_for

ROOT = Path(__file__).resolve().parents[3]

TWO_TESTS = files_for("""
    from mod import add

    def test_add():
        assert add(2, 3) == 5

    def test_wrong():
        assert add(2, 2) == 5
""")


@pytest.mark.parametrize("version, tested", [
    ("8.4.0", True), ("8.4.2", True), ("9.2.0", True), ("9.9.1.dev3+g1234", True),
    ("8.3.5", False), ("10.0.0", False), ("7.4.4", False), ("unknown", False),
])
def test_the_gate_admits_exactly_the_tested_range(version, tested):
    notice = version_gate(version)
    assert (notice is None) == tested
    if notice:
        assert version in notice and "plain pytest.main" in notice and "\n" not in notice


def test_pyproject_declares_the_range_the_worker_is_tested_with():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pytest_req,) = [Requirement(d) for d in dependencies if Requirement(d).name == "pytest"]
    (low, high) = TESTED_PYTEST
    assert str(pytest_req.specifier) == f"<{high[0]},>={low[0]}.{low[1]}"
    assert pytest.__version__ in pytest_req.specifier and version_gate(pytest.__version__) is None


@pytest.mark.parametrize("name", backend_params(["local-warm", "bwrap-warm"]))
def test_an_untested_pytest_runs_plain_and_says_so(name, monkeypatch, capfd):
    monkeypatch.setenv(VERSION_ENV, "10.0.0")
    box = registry.sandbox(name)
    try:
        for _ in range(2):  # a second run would be the one to start from a prepared session
            ev = evaluate(box, TWO_TESTS, timeout=60)
            assert ev.status == "failed", (ev.summary, ev.outcome.stderr[-1500:])
            assert (ev.tests.passed, ev.tests.failed) == (1, 1)
            assert [c.nodeid for c in ev.cases if c.outcome == "failed"] == ["test_case.py::test_wrong"]
            iso = ev.outcome.isolation
            assert iso["warm"] is True and iso["prepared_session"] is False
            assert iso["warm_pytest"] == "plain pytest.main"
            assert any("pytest 10.0.0 is outside the range" in note for note in ev.outcome.notes)
    finally:
        box.close()
    warnings = [line for line in capfd.readouterr().err.splitlines() if "pytest 10.0.0 is outside" in line]
    assert len(warnings) == 1 and warnings[0].startswith("chain: warning:")


def test_a_tested_pytest_is_patched_and_prepares_sessions():
    box = registry.sandbox("local-warm")
    try:
        runs = [evaluate(box, TWO_TESTS, timeout=60) for _ in range(2)]
    finally:
        box.close()
    assert all((ev.tests.passed, ev.tests.failed) == (1, 1) for ev in runs)
    assert [ev.outcome.isolation["warm_pytest"] for ev in runs] == ["patched", "patched"]
    assert runs[1].outcome.isolation["prepared_session"] is True
    assert not any("outside the range" in note for ev in runs for note in ev.outcome.notes)
