"""chain counts what `python -m pytest` counts, test by test, on every backend (warm and cold).

Each project runs once directly (`python -m pytest -q -rA` in a plain directory, the same interpreter) and
once through each sandbox backend; the counts of pytest's own summary line and the per-test outcomes its
`-rA` lines name must be the ones chain reports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chain import registry
from chain.context import counts_of, judge
from chain.sandbox import RunSpec
from tests.chain.sandbox.conftest import backend_params

COMMAND = "python -m pytest -q"
SUMMARY = re.compile(r"^=*\s*(\d+ [a-z].*?) in [\d.]+s")
RA_WORDS = {"PASSED": "passed", "FAILED": "failed", "XFAIL": "xfailed", "XPASS": "xpassed", "ERROR": "error"}
CATEGORY_FIELDS = {"passed": "passed", "failed": "failed", "error": "errors", "errors": "errors",
                   "skipped": "skipped", "xfailed": "xfailed", "xpassed": "xpassed",
                   "subtests passed": "subtests_passed"}


def files(sources: dict[str, str]) -> dict[str, str]:
    return {path: textwrap.dedent(text) for path, text in sources.items()}


SUBTESTS_AND_XFAIL = files({"test_s.py": """
    import unittest, pytest

    def test_sub(subtests):
        for i in range(4):
            with subtests.test(msg="i", i=i):
                if i == 1:
                    pytest.skip("skip one")
                assert i != 2

    def test_sub_ok(subtests):
        for i in range(3):
            with subtests.test(i=i):
                pass

    class T(unittest.TestCase):
        def test_u(self):
            for i in range(3):
                with self.subTest(i=i):
                    if i == 0:
                        self.skipTest("nope")
                    self.assertNotEqual(i, 2)

    @pytest.mark.xfail
    def test_xfail():
        assert 0

    @pytest.mark.xfail
    def test_xpass():
        pass

    @pytest.mark.xfail(strict=True)
    def test_xpass_strict():
        pass

    @pytest.mark.parametrize("n", [1, 2, pytest.param(3, marks=pytest.mark.xfail(reason="three")), 4])
    def test_param(n):
        assert n != 3
"""})

CONFIGURED = files({"pyproject.toml": """
    [tool.pytest.ini_options]
    testpaths = ["tests", "pkg"]
    addopts = "--doctest-modules -m 'not slow'"
    python_files = ["check_*.py"]
    markers = ["slow: slow ones"]
    xfail_strict = true
""", "pkg/__init__.py": '''
    def double(x):
        """
        >>> double(2)
        4
        >>> double(3)
        7
        """
        return x * 2
''', "tests/__init__.py": "", "tests/conftest.py": """
    import pytest
    pytest_plugins = ["tests.helper_plugin"]

    @pytest.fixture
    def answer():
        return 42

    def pytest_collection_modifyitems(items):
        for item in items:
            if "dropme" in item.name:
                item.add_marker(pytest.mark.skip(reason="dropped by conftest"))
""", "tests/helper_plugin.py": """
    import pytest

    @pytest.fixture
    def helper():
        return "help"
""", "tests/data/greeting.txt": "hello\n", "tests/check_things.py": """
    import os, sys, unittest, pytest

    HERE = os.path.dirname(__file__)

    def test_data_file():
        with open(os.path.join(HERE, "data", "greeting.txt")) as fh:
            assert fh.read().strip() == "hello"

    def test_stdin_is_closed():
        with pytest.raises(OSError):
            sys.stdin.read()

    def test_fixtures(answer, helper):
        assert (answer, helper) == (42, "help")

    def test_dropme():
        assert False

    @pytest.mark.slow
    def test_deselected():
        pass

    @pytest.mark.xfail(reason="strict by ini")
    def test_xpass_strict():
        pass

    @pytest.mark.skipif(sys.platform == "linux", reason="not here")
    def test_skipif():
        pass

    class TestOld(unittest.TestCase):
        def setUp(self):
            self.v = 1

        def test_ok(self):
            self.assertEqual(self.v, 1)

        @unittest.skip("old skip")
        def test_skipped(self):
            pass

        @unittest.expectedFailure
        def test_expected(self):
            self.assertEqual(1, 2)

    @pytest.fixture
    def broken_teardown():
        yield
        raise RuntimeError("teardown broke")

    def test_teardown_error(broken_teardown):
        pass
"""})

INI_FILES = {
    "pytest.ini": "[pytest]\naddopts = -k 'not excluded'\ntestpaths = suite\n",
    "setup.cfg": "[tool:pytest]\naddopts = -k 'not excluded'\ntestpaths = suite\n",
    "tox.ini": "[pytest]\naddopts = -k 'not excluded'\ntestpaths = suite\n",
}
INI_SUITE = {"suite/test_one.py": "def test_kept():\n    pass\n\ndef test_excluded():\n    assert False\n",
             "elsewhere/test_other.py": "def test_not_in_testpaths():\n    assert False\n"}

COLLECTION_ERROR = files({"test_ok.py": "def test_ok():\n    pass\n", "test_broken.py": """
    import json

    def test_never():
        pass

    json.loads("{")
"""})

MODULE_SKIP = files({"test_skip_module.py": """
    import pytest
    pytest.skip("not on this machine", allow_module_level=True)

    def test_x():
        pass
""", "test_plain.py": "def test_y():\n    pass\n"})

PROJECTS = {"subtests_and_xfail": SUBTESTS_AND_XFAIL, "configured": CONFIGURED, "collection_error": COLLECTION_ERROR,
            "module_skip": MODULE_SKIP, **{f"ini_{name}": {name: text, **INI_SUITE} for name, text in INI_FILES.items()}}


def run_pytest_directly(project: dict[str, str], where: Path, command: str = COMMAND) -> subprocess.CompletedProcess:
    for rel, text in project.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_text(text)
    env = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HOME": str(where), "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, *command.split()[1:], "-rA", "-p", "no:cacheprovider"], cwd=where,
                          env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def pytest_counts(stdout: str) -> dict[str, int]:
    """pytest's summary line as TestCounts fields ('2 failed, 1 passed, 3 subtests passed in 0.1s')."""
    line = next(m.group(1) for m in map(SUMMARY.match, reversed(stdout.splitlines())) if m)
    counts: dict[str, int] = {}
    for part in line.split(", "):
        n, category = part.split(" ", 1)
        if category in CATEGORY_FIELDS:
            counts[CATEGORY_FIELDS[category]] = counts.get(CATEGORY_FIELDS[category], 0) + int(n)
    return counts


def pytest_outcomes(stdout: str) -> dict[str, str]:
    """The outcome of each test `-rA` names (skips are named by file and line only: the counts cover them)."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in RA_WORDS and rest:
            nodeid = rest.split(" - ")[0].strip()
            found[nodeid] = "error" if word == "ERROR" else found.get(nodeid, RA_WORDS[word])
    return found


def nonzero(counts) -> dict[str, int]:
    return {k: v for k, v in counts.model_dump().items() if v and k != "total"}


@pytest.fixture(scope="module", params=backend_params())
def sandbox(request):
    box = registry.sandbox(request.param)
    yield box
    box.close()


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    results = {}
    for name, project in PROJECTS.items():
        results[name] = run_pytest_directly(project, tmp_path_factory.mktemp(name))
    return results


@pytest.mark.parametrize("name", list(PROJECTS))
def test_counts_and_outcomes_are_pytests_own(sandbox, direct, name):
    expected = direct[name]
    ev = judge(sandbox.run(RunSpec(files=PROJECTS[name], command=COMMAND, timeout_s=60)), 60)
    assert ev.outcome.error is None, ev.outcome.error
    assert nonzero(ev.tests) == pytest_counts(expected.stdout), (ev.summary, expected.stdout[-800:])
    assert nonzero(counts_of(ev.outcome.report)) == nonzero(ev.tests)
    chain_outcomes = {c.nodeid: c.outcome for c in ev.cases}
    for nodeid, outcome in pytest_outcomes(expected.stdout).items():
        assert chain_outcomes.get(nodeid) == outcome, (nodeid, chain_outcomes)
    passed_by_pytest = expected.returncode == 0
    assert (ev.status == "passed") == passed_by_pytest, (ev.status, ev.summary, expected.returncode)


@pytest.mark.parametrize("name", ["collection_error", "module_skip", "ini_pytest.ini"])
def test_counts_are_pytests_own_without_its_terminal_reporter(sandbox, direct, name):
    # chain's report takes pytest's tally from the terminal reporter; a suite run with `-p no:terminal` has
    # none, and the plugin counts through pytest's teststatus hook itself: the same counts either way.
    # (Not the subtests project: without a terminal reporter pytest's subtests plugin reports differently,
    # and pytest prints no tally to compare with.)
    ev = judge(sandbox.run(RunSpec(files=PROJECTS[name], command="python -m pytest -p no:terminal", timeout_s=60)), 60)
    assert ev.outcome.error is None, ev.outcome.error
    assert nonzero(ev.tests) == pytest_counts(direct[name].stdout), (ev.summary, direct[name].stdout[-800:])


def test_subtests_are_cases_of_their_own_that_name_their_test(sandbox):
    ev = judge(sandbox.run(RunSpec(files=SUBTESTS_AND_XFAIL, command=COMMAND, timeout_s=60)), 60)
    subtests = {c.nodeid: c for c in ev.cases if (c.model_extra or {}).get("subtest_of")}
    failed = subtests["test_s.py::T::test_u (i=2)"]
    assert failed.outcome == "failed" and "AssertionError: 2 == 2" in failed.message
    assert failed.model_extra["subtest_of"] == "test_s.py::T::test_u"
    assert subtests["test_s.py::test_sub [i] (i=1)"].outcome == "skipped"
    assert {c.nodeid: c.outcome for c in ev.cases}["test_s.py::test_sub"] == "failed"  # as pytest: it contains one


def test_a_collection_error_is_an_error_with_file_and_line(sandbox):
    ev = judge(sandbox.run(RunSpec(files=COLLECTION_ERROR, command=COMMAND, timeout_s=60)), 60)
    assert ev.status == "error" and ev.tests.errors == 1
    assert "collection error in test_broken.py" in ev.summary and "JSONDecodeError" in ev.summary
    (err,) = ev.outcome.report["collect_errors"]
    assert "test_broken.py:7: in <module>" in err["message"]  # the line that raised
    broken = next(c for c in ev.cases if c.nodeid == "test_broken.py")
    assert broken.outcome == "error"


@pytest.mark.parametrize("config, says", [
    ("[pytest]\naddopts = -p no_such_plugin_here\n", "Error importing plugin \"no_such_plugin_here\""),
    ("[pytest]\naddopts = --no-such-option\n", "unrecognized arguments: --no-such-option"),
])
def test_a_pytest_usage_error_is_an_error_with_pytests_message(sandbox, tmp_path, config, says):
    project = {"pytest.ini": config, "test_a.py": "def test_a():\n    pass\n"}
    assert run_pytest_directly(project, tmp_path).returncode == 4
    ev = judge(sandbox.run(RunSpec(files=project, command=COMMAND, timeout_s=60)), 60)
    assert ev.status == "error" and "usage error (exit 4)" in ev.summary and says in ev.summary, ev.summary
    assert "no tests" not in ev.summary


def test_no_tests_collected_is_an_error_with_pytests_message(sandbox, tmp_path):
    project = {"helpers.py": "X = 1\n"}
    assert run_pytest_directly(project, tmp_path).returncode == 5
    ev = judge(sandbox.run(RunSpec(files=project, command=COMMAND, timeout_s=60)), 60)
    assert ev.status == "error" and "collected no tests (exit 5)" in ev.summary and "no tests ran" in ev.summary
