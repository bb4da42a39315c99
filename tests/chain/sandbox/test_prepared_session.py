"""Prepared pytest sessions in warm workers: a run that starts from a session another run's start-up built
must behave exactly like a run of its own (output, timing, capture, configuration, imports)."""

from __future__ import annotations

import re
import time

import pytest

from chain import registry
from chain.sandbox import Limits, RunSpec
from chain.sandbox.prepared_key import prepare_key
from tests.chain.sandbox.conftest import NORMAL, assert_next_run_is_normal, backend_params, evaluate, files_for

@pytest.fixture(scope="module", params=backend_params(["local-warm", "bwrap-warm"]))
def warm(request):
    box = registry.sandbox(request.param)
    yield box
    box.close()


def run(sandbox, files, command="python -m pytest -q", timeout=30.0):
    return sandbox.run(RunSpec(files=files, command=command, timeout_s=timeout, limits=Limits()))


def normalized(text: str) -> str:
    text = re.sub(r"rootdir: \S+", "rootdir: ROOT", text)
    return re.sub(r"in \d+\.\d+s", "in Ts", text)


def test_prepared_run_prints_what_a_cold_run_prints(warm):
    files = files_for("""
        from mod import add

        def test_add():
            assert add(2, 3) == 5

        def test_wrong():
            print("captured line")
            assert add(2, 2) == 5
    """)
    run(warm, files, "python -m pytest")  # builds the prepared session for this layout
    warm_out = run(warm, files, "python -m pytest")
    assert warm_out.isolation["prepared_session"] is True
    cold_out = registry.sandbox(warm.cold.name).run(
        RunSpec(files=files, command="python -m pytest", timeout_s=30, limits=Limits()))
    assert warm_out.exit_code == cold_out.exit_code == 1
    assert "test session starts" in warm_out.stdout  # the header the session's start-up printed, replayed
    assert normalized(warm_out.stdout) == normalized(cold_out.stdout)
    assert normalized(warm_out.stderr) == normalized(cold_out.stderr)


def test_session_time_is_the_run_s_own(warm):
    run(warm, NORMAL)
    time.sleep(1.5)  # the prepared session is now 1.5 s old
    started = time.monotonic()
    out = run(warm, NORMAL)
    wall = time.monotonic() - started  # the run as its caller saw it: a loaded machine's stall is in both
    assert out.isolation["prepared_session"] is True
    seconds = float(re.search(r"passed in (\d+\.\d+)s", out.stdout).group(1))
    assert seconds <= wall + 0.01, (out.stdout, wall)  # counted from the session's start it would be >= 1.5 s more
    assert out.report["duration_ms"] <= wall * 1000 + 10


@pytest.mark.parametrize("death", ["os.kill(os.getpid(), signal.SIGKILL)", "time.sleep(60)"],
                         ids=["killed-itself", "timed-out"])
def test_output_of_a_killed_run_never_reaches_the_next_one(warm, death):
    layout = "import os, signal, time\n\ndef test_it():\n    print({word!r})\n    {tail}\n"
    run(warm, {"mod.py": "", "test_case.py": layout.format(word="LEAKED-FROM-A", tail=death)}, timeout=3.0)
    # The next run fails while collecting: pytest then shows all the output it captured since it started.
    after = run(warm, {"mod.py": "", "test_case.py": "print('OWN-OUTPUT-B')\nraise RuntimeError('at import')\n"})
    assert after.isolation["prepared_session"] is True
    assert "OWN-OUTPUT-B" in after.stdout
    assert "LEAKED-FROM-A" not in after.stdout + after.stderr


def test_each_run_imports_its_own_code(warm):
    test = "from mod import value\n\ndef test_value():\n    assert value() == 1\n"
    first = run(warm, {"mod.py": "def value():\n    return 1\n", "test_case.py": test})
    second = run(warm, {"mod.py": "def value():\n    return 2\n", "test_case.py": test})
    assert (first.exit_code, second.exit_code) == (0, 1)
    assert second.isolation["prepared_session"] is True


def test_code_compiled_ahead_is_used_only_for_the_same_bytes(warm):
    # The runner compiles sources it has seen twice; every run must still get its own code's behaviour,
    # with pytest's assertion messages.
    tests = {1: "from mod import value\n\ndef test_value():\n    assert value() == 1\n",
             2: "from mod import value\n\ndef test_value():\n    assert value() == 2\n"}
    mods = {1: "def value():\n    return 1\n", 2: "def value():\n    return 2\n"}
    for test, mod in [(1, 1), (1, 1), (1, 1), (1, 2), (2, 2), (1, 2), (2, 1), (1, 1), (2, 2)]:
        out = run(warm, {"mod.py": mods[mod], "test_case.py": tests[test]})
        assert out.isolation["prepared_session"] is True
        assert out.exit_code == (0 if test == mod else 1), (test, mod, out.stdout)
        if test != mod:
            assert f"assert {mod} == {test}" in out.stdout  # the rewritten assert explains itself
            assert f"where {mod} = value()" in out.stdout


def test_many_layouts_in_turn_each_get_their_own_session(warm):
    # More layouts than a worker keeps prepared sessions for: sessions are replaced, never mixed up.
    layouts = [{f"mod{i}.py": f"VALUE = {i}\n",
                "test_case.py": f"from mod{i} import VALUE\n\ndef test_value():\n    assert VALUE == {i}\n"}
               for i in range(4)]
    for files in layouts * 3:
        out = run(warm, files)
        assert out.exit_code == 0, out.stdout
        assert out.isolation["prepared_session"] is True


def test_config_files_are_read_for_every_layout(warm):
    verbose = {**NORMAL, "pytest.ini": "[pytest]\naddopts = -vv\n"}
    quiet = {**NORMAL, "pytest.ini": "[pytest]\naddopts = -p no:warnings\n"}
    for files, shows_names in ((verbose, True), (quiet, False), (verbose, True), (NORMAL, False)):
        out = run(warm, files)
        assert out.exit_code == 0, out.stdout
        assert ("test_case.py::test_add PASSED" in out.stdout) is shows_names, out.stdout


def test_a_conftest_runs_in_a_session_of_its_own(warm):
    for value in (1, 2):
        files = {**files_for("def test_fixture(answer):\n    assert answer == 1\n"),
                 "conftest.py": f"import pytest\n\n@pytest.fixture\ndef answer():\n    return {value}\n"}
        out = run(warm, files)
        assert out.isolation["prepared_session"] is False
        assert out.exit_code == (0 if value == 1 else 1), out.stdout


def test_a_start_up_that_imports_workspace_code_serves_one_run(warm):
    # chain cannot see every way a start-up runs workspace code (here: a plugin named in pytest.ini); the
    # runner sees what it imported and never hands that start-up to another run.
    for value in (1, 2, 1):
        files = {**files_for("def test_fixture(answer):\n    assert answer == 1\n"),
                 "pytest.ini": "[pytest]\naddopts = -p helper_plugin\n",
                 "helper_plugin.py": f"import pytest\n\n@pytest.fixture\ndef answer():\n    return {value}\n"}
        out = run(warm, files)
        assert out.exit_code == (0 if value == 1 else 1), out.stdout


def test_a_run_that_stops_before_collecting_still_reports(warm):
    out = run(warm, NORMAL, "python -m pytest -q --no-such-option")
    assert out.exit_code == 4
    assert "unrecognized arguments: --no-such-option" in out.stderr
    assert_next_run_is_normal(warm)


def test_hostile_runs_keep_failing_the_same_way_from_a_prepared_session(warm):
    files = files_for("import os, signal\n\ndef test_kill():\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    for _ in range(2):
        ev = evaluate(warm, files, timeout=10)
        assert ev.status in ("failed", "error") and "SIGKILL" in ev.summary, ev.summary
    assert_next_run_is_normal(warm)


class TestPrepareKey:
    ENV = {"PYTEST_ADDOPTS": "-p no:cacheprovider", "PYTEST_PLUGINS": "chain_pytest_report"}

    def key(self, files=None, args=("-q",), env=None):
        return prepare_key(list(args), True, env or self.ENV, files or {"test_a.py": "x", "mod.py": "y"})

    def test_test_contents_do_not_matter_but_the_layout_does(self):
        assert self.key({"test_a.py": "1", "mod.py": "2"}) == self.key({"test_a.py": "3", "mod.py": "4"})
        assert self.key({"test_a.py": "1"}) != self.key({"test_a.py": "1", "mod.py": "2"})

    def test_config_file_contents_and_arguments_matter(self):
        base = {"test_a.py": "x", "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-v'\n"}
        changed = {**base, "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-x'\n"}
        assert self.key(base) != self.key(changed)
        assert self.key(args=["-q"]) != self.key(args=["-q", "-x"])

    @pytest.mark.parametrize("files, args, env", [
        ({"conftest.py": "", "test_a.py": ""}, ["-q"], None),
        ({"sub/conftest.py": "", "test_a.py": ""}, ["-q"], None),
        (None, ["-p", "myplugin"], None),
        (None, ["-pmyplugin"], None),
        (None, ["--junitxml=out.xml"], None),
        (None, ["--debug"], None),
        (None, ["-q"], {"PYTEST_PLUGINS": "chain_pytest_report,other"}),
        (None, ["-q"], {"PYTEST_ADDOPTS": "-p someplugin"}),
    ], ids=["conftest", "nested-conftest", "-p", "-pX", "junitxml", "debug", "env-plugins", "addopts-plugin"])
    def test_runs_that_execute_code_or_open_files_at_start_up_get_no_key(self, files, args, env):
        assert self.key(files, args, env) is None

    def test_disabling_a_plugin_is_fine(self):
        assert self.key(args=["-p", "no:randomly"]) is not None
        assert self.key(args=["-pno:randomly"]) is not None


FIXTURE_TESTS = '''
import logging, os


def test_capfd(capfd):
    os.write(1, b"raw-fd\\n")
    print("py-print")
    out, _ = capfd.readouterr()
    assert "raw-fd" in out and "py-print" in out


def test_capsys(capsys):
    print("hello")
    assert capsys.readouterr().out == "hello\\n"


def test_tmp_path(tmp_path):
    (tmp_path / "x").write_text("1")
    assert (tmp_path / "x").read_text() == "1"


def test_caplog(caplog):
    logging.getLogger("z").warning("warned")
    assert "warned" in caplog.text


def test_monkeypatch(monkeypatch):
    monkeypatch.setenv("CHAIN_X", "1")
    assert os.environ["CHAIN_X"] == "1"
'''


def test_builtin_fixtures_work_run_after_run(warm):
    # Capture, tmp_path, logging and monkeypatch all keep state the start-up set up; the third run also
    # imports its test module from code compiled ahead.
    for _ in range(3):
        out = run(warm, {"test_fixtures.py": FIXTURE_TESTS})
        assert out.isolation["prepared_session"] is True
        assert out.exit_code == 0, out.stdout
        assert sorted(t["outcome"] for t in out.report["tests"]) == ["passed"] * 5
