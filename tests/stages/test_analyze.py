"""analyze through the library path, real sandbox runs."""

from chain.api import run_stage_on
from tests.conftest import make_task

BUGGY = make_task(
    "median",
    code="""\
def median(values):
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2 == 1:
        return ordered[mid]
    return (ordered[mid] + ordered[mid + 1]) / 2
""",
    tests="""\
from mod import median

def test_odd():
    assert median([5, 1, 3]) == 3

def test_even():
    assert median([4, 1, 3, 2]) == 2.5
""",
)


def analyze(task, **kw):
    (result,) = run_stage_on("analyze", [task], learn=False, **kw)
    return result, result.task.history[-1].data


def test_ranks_the_faulty_line_first_and_records_metrics():
    result, data = analyze(BUGGY)
    assert result.status == "failed" and data.failing == ["test_mod.py::test_even"]
    top = data.suspicious[0]
    assert (top.file, top.line) == ("mod.py", 7) and top.score == 1.0
    assert "mod.py:7" in result.result
    assert all(not s.file.startswith("test_") for s in data.suspicious)
    assert data["metrics"]["files"]["mod.py"]["complexity"] == {"median": 2}
    assert data["flaky"] == []


def test_flaky_test_is_detected_by_reruns(tmp_path):
    counter = tmp_path / "count"
    flaky = make_task(
        "flaky",
        tests=f"""\
import os

def test_sometimes():
    path = {str(counter)!r}
    n = int(open(path).read()) if os.path.exists(path) else 0
    open(path, "w").write(str(n + 1))
    assert n % 2 == 1  # fails on the first run, passes on the second
""",
    )
    result, data = analyze(flaky, sandbox="local")  # the test keeps its counter outside the workspace
    assert data["flaky"] == ["test_mod.py::test_sometimes"]
    assert "1 flaky" in result.result
    assert "suspicious" not in data  # nothing left to localize: the only failure is flaky


def test_syntax_error_is_reported_with_file_and_line():
    broken = make_task("broken", code="def add(a, b)\n    return a + b\n")
    result, data = analyze(broken)
    assert result.status == "error"
    (err,) = data["syntax_errors"]
    assert (err["file"], err["line"]) == ("mod.py", 1) and "expected ':'" in err["message"]
    assert "syntax error at mod.py:1" in result.result


def test_import_error_is_reported_with_file_and_line():
    missing = make_task("imports", code="import not_a_real_module\n\ndef add(a, b):\n    return a + b\n")
    result, data = analyze(missing)
    assert result.status == "error"
    (err,) = data["import_errors"]
    assert err["kind"] == "ModuleNotFoundError" and "not_a_real_module" in err["message"]
    assert err["file"] == "mod.py" and err["line"] == 1


def test_a_run_over_the_whole_run_limit_keeps_what_finished_and_says_which_limit_ended_it(tmp_path, monkeypatch):
    # The last guard: the per-test limit (60 s) is above the whole run's (4 s), so the whole run's limit ends it.
    (tmp_path / "short.toml").write_text('name = "short"\n[run]\ntimeout_s = 4.0\ntest_timeout_s = 60.0\n'
                                         'repeats = 1\nretries = 0\n')
    monkeypatch.setenv("CHAIN_PROFILE_PATH", str(tmp_path))
    sleeps = BUGGY.model_copy(update={"id": "sleeps", "files": {**BUGGY.files, "test_sleep.py": (
        "import time\n\ndef test_sleeps():\n    time.sleep(600)\n")}})
    result, data = analyze(sleeps, profile="short")
    assert result.status == "timeout", result.result
    outcomes = {c.nodeid: c.outcome for c in result.cases}
    assert outcomes == {"test_mod.py::test_odd": "passed", "test_mod.py::test_even": "failed",
                        "test_sleep.py::test_sleeps": "timeout"}  # the tests before it keep their results
    assert "timed out after 4s" in result.result and "finished before it: 1 passed, 2 failed" in result.result
    assert "over the per-test limit" not in result.result and "timeouts" not in data


def test_a_hanging_test_times_out_alone_and_localization_goes_on(tmp_path, monkeypatch):
    (tmp_path / "quick.toml").write_text(
        'name = "quick"\n[run]\ntimeout_s = 60.0\ntest_timeout_s = 1.0\nrepeats = 1\nretries = 0\n'
    )
    monkeypatch.setenv("CHAIN_PROFILE_PATH", str(tmp_path))
    hangs = BUGGY.model_copy(
        update={
            "id": "hangs",
            "files": {
                **BUGGY.files,
                "test_hang.py": ("from mod import median\n\ndef test_forever():\n    while True:\n        pass\n"),
            },
        }
    )
    result, data = analyze(hangs, profile="quick")
    assert result.status == "failed"
    outcomes = {c.nodeid: c.outcome for c in result.cases}
    assert outcomes == {
        "test_hang.py::test_forever": "timeout",
        "test_mod.py::test_odd": "passed",
        "test_mod.py::test_even": "failed",
    }
    assert data["timeouts"] == ["test_hang.py::test_forever"] and "over the per-test limit of 1s" in result.result
    assert data["test_timeout_s"] == 1.0  # the floor: the finished tests took milliseconds
    top = data.suspicious[0]
    assert (top.file, top.line) == ("mod.py", 7)


def test_a_long_suite_is_covered_in_its_failing_tests_files_only():
    from chain.context import judge
    from chain.sandbox import RunOutcome
    from stages.analyze import NARROW_COVERAGE_S, coverage_scope

    tests = [{"nodeid": f"tests/test_{i}.py::test_x", "outcome": "passed", "duration_ms": 1.0} for i in range(6)]
    tests[2]["outcome"] = "failed"
    for seconds, narrowed in ((NARROW_COVERAGE_S - 1, False), (NARROW_COVERAGE_S + 1, True)):
        ev = judge(RunOutcome(exit_code=1, duration_ms=seconds * 1000, report={"exitstatus": 1, "tests": tests}), 60)
        scope, command = coverage_scope("python -m pytest -q tests", ev, flaky=[])
        if narrowed:
            assert command == "python -m pytest -q tests/test_2.py" and "tests/test_2.py" in scope
        else:
            assert (scope, command) == (None, "python -m pytest -q tests")
