"""Contract tests of `--sandbox e2b` through the real e2b SDK and real HTTP against a FAKE envd.

The SDK runs in debug mode (E2B_DEBUG=true: no control API, envd at localhost:49983), where `envd_fake.EnvdFake`
serves envd's file and process calls and runs each command for real (pytest with chain's report plugin) in a
temporary directory standing in for the sandbox. What is faked is only the E2B cloud; see docs/e2b.md.
"""

from __future__ import annotations

import threading
import time

import pytest

from chain import registry
from chain.context import judge
from chain.resilience import Backoff, CircuitBreaker
from chain.sandbox import RunSpec
from chain.sandbox.e2b_backend import E2BSandbox
from tests.chain.sandbox.envd_fake import EnvdFake
from tests.conftest import make_task, ndjson, parse_lines, run_chain

pytestmark = pytest.mark.xdist_group("envd")  # port 49983 is one per machine

CALC = "def add(a, b):\n    return a + b\n"
PASSING = {"calc.py": CALC, "test_calc.py": (
    "from calc import add\n\n"
    "def test_add():\n    assert add(2, 3) == 5\n\n"
    "def test_add_negative():\n    assert add(-2, -3) == -5\n")}
FAILING = {"calc.py": CALC, "test_calc.py": (
    "from calc import add\n\n"
    "def test_ok():\n    assert add(1, 2) == 3\n\n"
    "def test_bad():\n    assert add(2, 2) == 5\n")}
SLEEPS_FOREVER = {"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(3600)\n"}
PYTEST = "python -m pytest -q"


@pytest.fixture
def envd(monkeypatch):
    monkeypatch.setenv("E2B_DEBUG", "true")
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with EnvdFake() as fake:
        yield fake


@pytest.fixture
def e2b():
    box = E2BSandbox(retries=3, backoff=Backoff(base_s=0.01, max_s=0.05),
                     breaker=CircuitBreaker("e2b", threshold=10, cooldown_s=60))
    yield box
    box.close()


def outcomes(outcome) -> dict[str, str]:
    return {t["nodeid"]: t["outcome"] for t in outcome.report["tests"]}


def run_in_thread(box: E2BSandbox, spec: RunSpec, cancel: threading.Event | None = None):
    """Start `box.run` in a thread; returns (thread, holder) where holder gets the outcome."""
    holder: dict = {}
    thread = threading.Thread(target=lambda: holder.setdefault("outcome", box.run(spec, cancel)), daemon=True)
    thread.start()
    return thread, holder


def wait_for_command(fake: EnvdFake, within_s: float = 30.0) -> int:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if fake.running():
            return fake.running()[0]
        time.sleep(0.02)
    raise AssertionError(f"the fake never started a command; requests: {fake.requests}")


def test_fake_envd_passing_task_reports_exactly_like_the_local_backend(envd, e2b):
    spec = RunSpec(files=PASSING, command=PYTEST, timeout_s=30)
    remote = e2b.run(spec)
    local_box = registry.sandbox("local")
    try:
        local = local_box.run(spec)
    finally:
        local_box.close()

    assert remote.error is None, remote.error
    assert remote.exit_code == 0 == local.exit_code
    assert outcomes(remote) == outcomes(local) == {"test_calc.py::test_add": "passed",
                                                   "test_calc.py::test_add_negative": "passed"}
    assert remote.report["exitstatus"] == local.report["exitstatus"] == 0
    remote_ev, local_ev = judge(remote, 30), judge(local, 30)
    assert remote_ev.status == local_ev.status == "passed"
    assert remote_ev.tests == local_ev.tests
    assert "2 passed" in remote.stdout  # pytest's output streamed back through the data events
    # the files went where the backend put them, and the command ran there with the report plugin's env
    (proc,) = envd.processes.values()
    assert proc.cwd.startswith("/home/user/chain/") and proc.cwd.endswith("/ws")
    assert envd.sandbox_path(proc.cwd + "/test_calc.py").read_text() == PASSING["test_calc.py"]
    assert proc.envs["PYTEST_PLUGINS"] == "chain_pytest_report"
    assert envd.running() == [] and not e2b._live


def test_fake_envd_failing_task_has_per_test_outcomes_and_the_failure_message(envd, e2b):
    spec = RunSpec(files=FAILING, command=PYTEST, timeout_s=30)
    outcome = e2b.run(spec)

    assert outcome.error is None, outcome.error
    assert outcome.exit_code == 1  # pytest's "tests failed": the command's result, not an API failure
    assert not outcome.events  # nothing was retried
    assert outcomes(outcome) == {"test_calc.py::test_ok": "passed", "test_calc.py::test_bad": "failed"}
    bad = next(t for t in outcome.report["tests"] if t["nodeid"].endswith("test_bad"))
    assert "assert 4 == 5" in bad["message"]
    ev = judge(outcome, 30)
    assert ev.status == "failed"
    assert (ev.tests.passed, ev.tests.failed) == (1, 1)
    assert envd.running() == [] and not e2b._live


def test_fake_envd_a_command_killed_by_a_signal_is_not_reported_as_sighup(envd, e2b):
    # envd reports exit code -1 for any signal; read as a local exit code that would be "killed by SIGHUP"
    spec = RunSpec(files={"test_die.py": "import os, signal\n\ndef test_die():\n"
                                         "    os.kill(os.getpid(), signal.SIGKILL)\n"},
                   command=PYTEST, timeout_s=30)
    outcome = e2b.run(spec)
    assert outcome.error is None and outcome.exit_code is None
    ev = judge(outcome, 30)
    assert ev.status == "failed"  # not passed, not a sandbox error
    assert "SIGHUP" not in ev.summary and "killed by a signal (envd does not report which)" in ev.summary


def test_fake_envd_timeout_is_a_timeout_and_the_command_is_killed(envd, e2b):
    outcome = e2b.run(RunSpec(files=SLEEPS_FOREVER, command=PYTEST, timeout_s=1.5))

    assert outcome.timed_out and not outcome.cancelled
    assert outcome.error is None and outcome.exit_code is None and outcome.report is None
    assert not outcome.events  # a timeout is the code's outcome: not retried
    assert judge(outcome, 1.5).status == "timeout"
    (pid,) = envd.processes
    assert envd.killed == [pid]  # the backend killed it: envd keeps a command running when its stream ends
    assert envd.wait_until_stopped([pid]) == []
    assert not e2b._live


def test_fake_envd_a_run_killed_at_its_timeout_keeps_the_tests_that_finished(envd, e2b):
    from chain.analysis.limits import limits_env

    files = {"test_two.py": "import time\n\ndef test_quick():\n    pass\n\ndef test_slow():\n    time.sleep(3600)\n"}
    # 12 s, not less: pytest's start-up on a loaded CI machine (six workers on two cores) took
    # more than 4 s once, and the run ended before test_quick had run
    outcome = e2b.run(RunSpec(files=files, command=PYTEST, timeout_s=12, env=limits_env(wall_s=300.0)))
    assert outcome.timed_out
    ev = judge(outcome, 12)
    assert ev.status == "timeout" and {c.nodeid: c.outcome for c in ev.cases} == {
        "test_two.py::test_quick": "passed", "test_two.py::test_slow": "timeout"}, ev.summary
    assert "finished before it: 1 passed, 1 failed" in ev.summary


def test_fake_envd_cancel_mid_run_ends_the_run_and_kills_the_command(envd, e2b):
    cancel = threading.Event()
    thread, holder = run_in_thread(e2b, RunSpec(files=SLEEPS_FOREVER, command=PYTEST, timeout_s=120), cancel)
    pid = wait_for_command(envd)
    cancel.set()
    thread.join(30)  # far less than the run's own 120 s timeout: the cancel, not the timeout, ended it

    assert not thread.is_alive(), "the cancelled run kept waiting for its command"
    outcome = holder["outcome"]
    assert outcome.cancelled and not outcome.timed_out and outcome.error is None
    assert judge(outcome, 120).status == "cancelled"
    assert envd.killed == [pid]
    assert envd.wait_until_stopped([pid]) == []
    assert not e2b._live


def test_fake_envd_kill_all_stops_a_running_command(envd, e2b):
    thread, holder = run_in_thread(e2b, RunSpec(files=SLEEPS_FOREVER, command=PYTEST, timeout_s=120))
    pid = wait_for_command(envd)
    e2b.kill_all()  # what chain does on SIGINT/SIGTERM
    thread.join(30)

    assert not thread.is_alive()
    assert envd.killed == [pid]
    assert envd.wait_until_stopped([pid]) == []
    assert not e2b._live
    assert not holder["outcome"].timed_out


def test_fake_envd_transient_503s_are_retried_with_backoff_then_the_run_passes(envd, e2b):
    envd.fail_next(2, status=503)
    outcome = e2b.run(RunSpec(files=PASSING, command=PYTEST, timeout_s=30))

    assert outcome.error is None, outcome.error
    assert outcome.exit_code == 0 and judge(outcome, 30).status == "passed"
    assert envd.failures_injected == 2
    retries = [e for e in outcome.events if e["kind"] == "retry"]
    assert [e["attempt"] for e in retries] == [1, 2]
    assert all("503" in e["message"] and e["delay_s"] > 0 for e in retries)
    assert envd.running() == [] and not e2b._live


def test_fake_envd_sandbox_dying_under_the_command_is_retried_not_a_timeout(envd, e2b):
    # the SDK raises SandboxNotRunningException, a subclass of TimeoutException: it must not pass for the
    # command's own timeout (which is not retried) but be retried in a fresh sandbox like any API failure
    envd.crash_next_command()
    outcome = e2b.run(RunSpec(files=PASSING, command=PYTEST, timeout_s=30))

    assert not outcome.timed_out
    assert outcome.error is None, outcome.error
    assert outcome.exit_code == 0 and outcomes(outcome) == {"test_calc.py::test_add": "passed",
                                                            "test_calc.py::test_add_negative": "passed"}
    assert [e["kind"] for e in outcome.events] == ["retry"]
    assert "SandboxNotRunningException" in outcome.events[0]["message"]
    assert envd.running() == [] and not e2b._live


def test_fake_envd_chain_analyze_cli_emits_results_and_retry_notices(envd):
    envd.fail_next(1, status=503)
    tasks = [make_task("good"), make_task("bad", tests="from mod import add\n\ndef test_add():\n"
                                                       "    assert add(2, 2) == 5\n")]
    # aggressive: the fewest flaky-test reruns of the failing task (every run goes through the fake)
    proc = run_chain(["analyze", "--sandbox", "e2b", "--profile", "aggressive", "-j", "2", "--timeout", "30"],
                     ndjson(*tasks), env={"CHAIN_E2B_BACKOFF_S": "0.01"})

    assert proc.returncode in (0, 1), proc.stderr.decode()
    events = parse_lines(proc.stdout)
    results = {e["task_id"]: e for e in events if e["type"] == "result"}
    assert {tid: r["status"] for tid, r in results.items()} == {"good": "passed", "bad": "failed"}, events
    assert results["good"]["sandbox"] == "e2b"
    notices = [e for e in events if e["type"] == "notice"]
    assert any(n["kind"] == "retry" and "503" in n["message"] for n in notices), events
    assert envd.failures_injected == 1
    assert envd.running() == []


READS_A_SECRET = {"test_secret.py": (
    "import os, pytest\n\n"
    "def test_the_home_directory_secret_is_not_readable():\n"
    "    with pytest.raises(PermissionError):\n"
    "        open(os.environ['SECRET_PATH']).read()\n\n"
    "def test_the_workspace_and_tmpdir_are_writable(tmp_path):\n"
    "    (tmp_path / 'x').write_text('ok')\n"
    "    open('written.txt', 'w').write('ok')\n")}


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_fake_envd_the_run_sees_only_the_minimal_view_unless_confinement_is_off(envd, mode):
    # The fake runs envd's commands on this machine, so the wrapper really confines them with this kernel's
    # Landlock: a file in the sandbox user's home, beside the run's directory, stays out of reach.
    secret = envd.sandbox_path("/home/user/secret.txt")
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("hunter2")
    box = E2BSandbox(retries=1, backoff=Backoff(base_s=0.01, max_s=0.05), confine=mode)
    try:
        outcome = box.run(RunSpec(files=READS_A_SECRET, command=PYTEST, timeout_s=60,
                                  env={"SECRET_PATH": "/home/user/secret.txt"}))  # a path inside the VM
    finally:
        box.close()
    assert outcome.error is None, outcome.error
    got = outcomes(outcome)
    assert got["test_secret.py::test_the_workspace_and_tmpdir_are_writable"] == "passed", outcome.stdout[-2000:]
    if mode == "auto":
        assert got["test_secret.py::test_the_home_directory_secret_is_not_readable"] == "passed", outcome.stdout
        assert outcome.isolation["confined"] is True and outcome.isolation["landlock_abi"] >= 1
        assert "minimal read-only view" in outcome.isolation["filesystem"] and not outcome.notes
    else:  # the control: the same test fails when nothing confines the run
        assert got["test_secret.py::test_the_home_directory_secret_is_not_readable"] == "failed"
        assert outcome.isolation["filesystem"] == "the whole microVM" and "confined" not in outcome.isolation


def test_fake_envd_the_wrapper_removes_its_own_variables_before_the_task_runs(envd, e2b):
    spec = RunSpec(files={"test_env.py": "import os\n\ndef test_env():\n"
                          "    assert not {'CHAIN_CONFINE', 'CHAIN_RUN_ROOT'} & set(os.environ)\n"
                          "    assert os.environ['TMPDIR'].endswith('/tmp') and os.access(os.environ['TMPDIR'], os.W_OK)\n"},
                   command=PYTEST, timeout_s=60)
    outcome = e2b.run(spec)
    assert outcome.error is None and outcomes(outcome) == {"test_env.py::test_env": "passed"}, outcome.stdout[-2000:]


def test_an_unknown_confine_mode_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="auto, require, off"):
        E2BSandbox(confine="sometimes")
