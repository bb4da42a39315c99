"""Backend choice, what each backend says about itself, warm-mode routing, cgroups and `chain doctor`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pytest

from chain import registry
from chain.sandbox import Limits, RunSpec, cgroups
from chain.sandbox.bwrap import BwrapSandbox
from chain.sandbox.landlock import LandlockSandbox
from chain.sandbox.warm import pytest_invocation
from tests.chain.sandbox.conftest import NORMAL, backend_params, evaluate, marker, processes_with
from tests.conftest import make_task, ndjson, parse_lines, run_chain

needs_bwrap = pytest.mark.skipif(not BwrapSandbox.available()[0], reason=f"bwrap: {BwrapSandbox.available()[1]}")
needs_landlock = pytest.mark.skipif(not LandlockSandbox.available()[0],
                                    reason=f"landlock: {LandlockSandbox.available()[1]}")
needs_cgroups = pytest.mark.skipif(cgroups.support().version is None, reason=f"cgroups: {cgroups.support().reason}")


@pytest.mark.parametrize("command, expected", [
    ("python -m pytest -q", (["-q"], True)),
    ("python3 -m pytest -x -k 'a and b'", (["-x", "-k", "a and b"], True)),
    ("pytest tests/test_x.py", (["tests/test_x.py"], False)),
    ("python -m pytest -q | tee log", None),
    ("FOO=1 python -m pytest", None),
    ("python -m pytest; rm -rf .", None),
    ("python script.py", None),
    ("python -m pytest $ARGS", None),
])
def test_only_plain_pytest_commands_run_warm(command, expected):
    assert pytest_invocation(command) == expected


def test_non_pytest_commands_run_cold_on_the_same_backend():
    box = registry.sandbox("local-warm")
    try:
        ev = evaluate(box, NORMAL, command="python -m pytest -q && echo done-cold", timeout=30)
        assert ev.status == "passed", ev.summary
        assert "done-cold" in ev.outcome.stdout
        assert ev.outcome.isolation["warm"] is False and ev.outcome.isolation["backend"] == "local-warm"
        ev = evaluate(box, NORMAL, timeout=30)
        assert ev.outcome.isolation["warm"] is True
    finally:
        box.close()


@needs_bwrap
@pytest.mark.parametrize("name, warm", [("bwrap", None), ("bwrap-warm", True)])
def test_bwrap_results_record_the_isolation_they_got(name, warm):
    box = registry.sandbox(name)
    try:
        ev = evaluate(box, {"test_who.py": "import os\n\ndef test_who():\n    print(os.getuid(), os.getpid())\n"},
                      command="python -m pytest -q -s", timeout=30)
        assert ev.status == "passed", ev.summary
        iso = ev.outcome.isolation
        assert iso["backend"] == name and iso.get("warm") == warm
        assert iso["pid_namespace"] and iso["network"].startswith("none") and iso["env"] == "cleared"
        uid, pid = map(int, ev.outcome.stdout.split()[:2])
        assert uid == iso["uid_inside"]  # what it says is what the code saw
        assert iso["capabilities"] == "none"
        assert pid < 10  # a fresh PID namespace
    finally:
        box.close()


def test_local_results_say_host_network_and_filesystem():
    box = registry.sandbox("local")
    ev = evaluate(box, NORMAL, timeout=30)
    assert ev.outcome.isolation["network"] == "host" and ev.outcome.isolation["pid_namespace"] is False


@needs_landlock
def test_auto_falls_back_to_landlock_with_one_warning_line():
    proc = run_chain(["analyze", "--sandbox", "auto", "--no-learn"], ndjson(make_task("a"), make_task("b")),
                     env={"CHAIN_BWRAP": "/nonexistent/bwrap"})
    assert proc.returncode == 0, proc.stderr.decode()
    warnings = [l for l in proc.stderr.decode().splitlines() if "warning" in l]
    assert len(warnings) == 1 and "bubblewrap" in warnings[0] and "landlock-warm" in warnings[0]
    results = parse_lines(proc.stdout)
    assert {r["sandbox"] for r in results} == {"landlock-warm"}
    assert all(r["isolation"]["security_boundary"] and r["isolation"]["landlock_abi"] >= 4 for r in results)


@needs_bwrap
def test_default_sandbox_is_bwrap_when_it_works():
    proc = run_chain(["analyze", "--no-learn"], ndjson(make_task("a")))
    assert proc.returncode == 0, proc.stderr.decode()
    (result,) = parse_lines(proc.stdout)
    assert result["sandbox"] == "bwrap-warm" and result["isolation"]["pid_namespace"] is True
    assert b"warning" not in proc.stderr


def test_local_sandbox_still_selectable():
    proc = run_chain(["analyze", "--sandbox", "local", "--no-learn"], ndjson(make_task("a")))
    (result,) = parse_lines(proc.stdout)
    assert result["sandbox"] == "local" and result["status"] == "passed"


@needs_cgroups
def test_cgroup_kill_spares_only_the_kept_processes():
    word = marker()
    group = cgroups.RunCgroup(Limits(nproc=16))
    try:
        keeper = subprocess.Popen([*group.join_prefix(), sys.executable, "-c", "import time; time.sleep(60)", word])
        victim = subprocess.Popen([*group.join_prefix(), "/bin/sh", "-c", f"setsid sleep 61 & sleep 62 # {word}"])
        deadline = time.monotonic() + 5
        while len(group.pids()) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(group.pids()) >= 3
        group.kill(keep=frozenset({keeper.pid}))
        victim.wait(timeout=5)
        assert group.pids() == [keeper.pid]
        assert keeper.poll() is None
        assert open(group.dirs[0] / "pids.max").read().strip() == "16"  # caps restored after the kill
    finally:
        group.remove()
    keeper.wait(timeout=5)
    assert processes_with(word) == []


@needs_cgroups
def test_memory_cap_is_the_cgroup_s_not_just_rlimit_as():
    """Touching pages (not just reserving address space) past the cap gets the process killed, and says why."""
    group = cgroups.RunCgroup(Limits(memory_mb=100))
    try:
        proc = subprocess.run([*group.join_prefix(), sys.executable, "-c",
                               "blocks = [bytearray(16 << 20) for _ in range(40)]"], capture_output=True, timeout=60)
        assert proc.returncode == -9
        assert any("memory limit reached" in note for note in group.notes())
    finally:
        group.remove()


def test_doctor_json_reports_the_isolation_in_effect():
    proc = run_chain(["doctor", "--json", "--no-worker"])
    assert proc.returncode == 0, proc.stderr.decode()
    report = orjson.loads(proc.stdout)
    assert report["uid"] == os.getuid()
    assert report["cgroups"]["version"] == cgroups.support().version
    assert report["bwrap"]["works"] == BwrapSandbox.available()[0]
    assert report["isolation"]["backend"] == ("bwrap-warm" if report["bwrap"]["works"] else "local-warm")
    assert report["rlimits"]["nproc_enforced"] == (os.getuid() != 0)
    assert {"local", "bwrap", "auto", "local-warm", "bwrap-warm"} <= set(report["backends"])


def test_doctor_table_starts_a_worker_and_says_so():
    proc = run_chain(["doctor", "--sandbox", "local-warm"])
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode()
    for row in ("backend", "uid", "pid namespace", "cgroups", "process cap", "rlimits", "warm pool"):
        assert row in text
    assert "local-warm" in text and "worker ready in" in text


def test_doctor_warns_when_namespaces_are_unavailable():
    proc = run_chain(["doctor", "--json", "--no-worker"], env={"CHAIN_BWRAP": "/nonexistent/bwrap"})
    report = orjson.loads(proc.stdout)
    assert report["bwrap"]["works"] is False and "not installed" in report["bwrap"]["reason"]
    fallback = "landlock-warm" if LandlockSandbox.available()[0] else "local-warm"
    assert report["isolation"]["backend"] == fallback and report["isolation"]["pid_namespace"] is False
    assert any("no namespace isolation" in w for w in report["warnings"])
    table = run_chain(["doctor", "--no-worker"], env={"CHAIN_BWRAP": "/nonexistent/bwrap"})
    assert b"warning: no namespace isolation" in table.stderr


def test_emptying_a_warm_worker_directory_spares_its_mount_points(tmp_path, monkeypatch):
    # A namespaced worker bind-mounts an interpreter or checkout that lives under /tmp into its directory;
    # deleting that directory on the host between runs would unmount it inside the worker.
    from chain.sandbox import warm_pool
    from chain.sandbox.workspace import RunDir

    monkeypatch.setattr(sys, "prefix", "/tmp/some-clone/.venv")
    assert "some-clone" in warm_pool.mount_points_under_tmp()
    (tmp_path / "some-clone").mkdir()
    run = RunDir.create({"test_x.py": "def test_x():\n    pass\n"}, root=tmp_path, keep=frozenset({"some-clone"}))
    (run.tmp / "left.txt").write_text("x")
    run.empty()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["some-clone"]


def test_cold_and_warm_bwrap_keep_the_same_paths_under_tmp_as_spelled_and_resolved(monkeypatch, tmp_path):
    # A venv reached through a symlink under /tmp: the interpreter may use either spelling, so both stay
    # visible, and the cold mounts and the warm workers' spared mount points come from the one list.
    from chain.sandbox import bwrap, warm_pool

    real = Path(tempfile.mkdtemp(prefix="chain-real-venv-", dir="/tmp"))
    link = Path(f"{real}-link")
    link.symlink_to(real)
    try:
        monkeypatch.setattr(sys, "prefix", str(link / ".venv"))
        kept = bwrap.paths_kept_under_tmp()
        assert {str(link / ".venv"), str(real / ".venv")} <= set(kept)
        args = bwrap.mount_args(tmp_path)
        assert all(args[args.index(path) - 1] == "--ro-bind" for path in kept)
        assert {link.name, real.name} <= warm_pool.mount_points_under_tmp()
    finally:
        link.unlink()
        real.rmdir()


def _processes_in(directory) -> list[int]:
    """Processes whose working directory is under `directory` (a warm template runs in its own dir there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd").startswith(str(directory)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("backend", backend_params(["local-warm", "bwrap-warm", "landlock-warm"]))
def test_a_warm_sandbox_closed_while_its_template_starts_leaves_nothing_behind(backend, tmp_path, monkeypatch):
    # A stage whose stream holds no task (or that is interrupted at once) closes its sandbox while the template
    # it started ahead of the first run is still starting: close must not wait for it, nor leave it running.
    monkeypatch.setenv("CHAIN_TMPDIR", str(tmp_path))
    box = registry.sandbox(backend)
    deadline = time.monotonic() + 30
    while not _processes_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.002)
    box.close()
    assert _processes_in(tmp_path) == []
    assert [p for p in tmp_path.iterdir() if p.name.startswith("chain-warm-")] == []


@pytest.mark.parametrize("backend", backend_params(["local-warm", "bwrap-warm"]))
def test_a_warm_pool_closed_with_many_busy_workers_leaves_nothing_and_every_run_returns(backend, tmp_path,
                                                                                        monkeypatch):
    # ^C or the end of a stage with -j N closes N busy workers at once (each told to die before any is waited
    # for): nothing of theirs may outlive the close, and each run's caller gets its outcome back.
    import threading

    monkeypatch.setenv("CHAIN_TMPDIR", str(tmp_path))
    box = registry.sandbox(backend)
    word = marker()
    files = {"test_nap.py": ("import subprocess, sys, time\n\ndef test_nap():\n"
                             f"    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', '{word}'])\n"
                             "    time.sleep(60)\n")}
    outcomes: list = []
    runs = [threading.Thread(target=lambda: outcomes.append(box.run(RunSpec(files=files, command="python -m pytest -q",
                                                                            timeout_s=120)))) for _ in range(8)]
    for run in runs:
        run.start()
    deadline = time.monotonic() + 60
    while len(processes_with(word)) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(processes_with(word)) >= 8, "the eight runs did not all start"
    box.close()
    for run in runs:
        run.join(30)
    assert len(outcomes) == 8 and all(o.exit_code != 0 for o in outcomes)
    assert processes_with(word) == [] and _processes_in(tmp_path) == []
    assert [p for p in tmp_path.iterdir() if p.name.startswith("chain-warm-")] == []
