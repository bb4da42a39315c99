import pytest

from chain.analysis.spectrum import coverage_command, ochiai
from chain.protocol import TestCase


def case(nodeid, outcome):
    return TestCase(nodeid=nodeid, outcome=outcome, duration_ms=1)


def test_ochiai_ranks_lines_run_by_failing_tests_only_first():
    files = {"m.py": "a\nb\nc\n", "test_m.py": "x\n"}
    spectrum = {"m.py": {1: ["test_m.test_ok", "test_m.test_bad"], 2: ["test_m.test_bad"], 3: ["test_m.test_ok"]},
                "test_m.py": {1: ["test_m.test_bad"]}}
    ranked = ochiai(spectrum, [case("test_m.py::test_ok", "passed"), case("test_m.py::test_bad", "failed")], files)
    assert [(s.line, round(s.score, 3)) for s in ranked] == [(2, 1.0), (1, 0.707)]  # line 3: never failed


def test_class_and_parametrized_tests_map_to_coverage_contexts():
    files = {"m.py": "a\n"}
    spectrum = {"m.py": {1: ["tests.test_m.TestX.test_y"]}}
    ranked = ochiai(spectrum, [case("tests/test_m.py::TestX::test_y[1]", "failed")], files)
    assert ranked[0].score == 1.0


def test_coverage_command_only_for_pytest():
    assert "python -m coverage run --rcfile=.chain-coveragerc -m pytest -q tests;" in coverage_command(
        "python -m pytest -q tests")
    assert coverage_command("make test") is None


# -- the spectrum's own channel, through real sandboxes -------------------------------------------------------

from chain.api import run_stage_on  # noqa: E402
from chain.protocol import Task  # noqa: E402
from tests.chain.sandbox.conftest import backend_params  # noqa: E402

BIG_LINES, BIG_TESTS, BUGGY_INPUT = 400, 1500, 777


def big_spectrum_task() -> Task:
    """1,500 tests that each run the same 400 lines (a 600,000-entry spectrum, megabytes of JSON: far over the
    1 MiB the run's stdout is captured to); one input takes a branch no passing test takes, and fails."""
    body = "".join(f"    y = y + {i % 7}\n" for i in range(BIG_LINES))
    code = (f"def f(x):\n    y = x\n{body}    if x == {BUGGY_INPUT}:\n        y = -1\n    return y\n")
    total = sum(i % 7 for i in range(BIG_LINES))
    tests = ("import pytest\nfrom mod import f\n\n"
             f"@pytest.mark.parametrize('i', range({BIG_TESTS}))\n"
             f"def test_f(i):\n    assert f(i) == i + {total}\n")
    return Task(id="big-spectrum", files={"mod.py": code, "test_mod.py": tests})


@pytest.mark.parametrize("backend", backend_params(["local", "bwrap-warm"]))
def test_a_spectrum_of_1500_tests_by_400_lines_localizes_the_fault(backend):
    (result,) = run_stage_on("analyze", [big_spectrum_task()], sandbox=backend, learn=False, profile="aggressive",
                             timeout=300)  # a shared machine can be slow; the point is the size
    data = result.task.history[-1].data
    assert result.status == "failed" and data["failing"] == [f"test_mod.py::test_f[{BUGGY_INPUT}]"]
    assert "localization" not in data, data.get("localization")
    top = data.suspicious[0]
    assert (top.file, top.line, top.score) == ("mod.py", BIG_LINES + 4, 1.0), data.suspicious[:3]
    assert top.passed == 0 and top.failed == 1
