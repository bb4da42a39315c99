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
    assert coverage_command("python -m pytest -q tests").startswith("python -m coverage run")
    assert coverage_command("make test") is None
