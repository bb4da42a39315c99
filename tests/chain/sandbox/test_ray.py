"""`--sandbox ray` on a real two-node Ray cluster (tests/chain/sandbox/ray_cluster.py): the head and a second
raylet with its own node id, both inside a network namespace this module creates, where every address is
127.0.0.1. chain's processes that talk to the cluster run in that namespace too (real `chain analyze`
pipes; the library-level hostile cases through `DriverInNamespace`, the real backend in a subprocess there).

One cluster serves the whole module (it takes ~10-30 s to start); the node-killing test runs last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.chain.sandbox import ray_cluster
from tests.chain.sandbox.conftest import marker, processes_with

ONE_TASK = b'{"type": "task", "id": "one", "files": {"test_a.py": "def test_a():\\n    pass\\n"}}\n'


# -- without a cluster (first in the module: while the cluster runs, Ray's `auto` finds its processes) ----------
def test_without_ray_installed_the_error_says_what_to_install():
    code = "import sys; sys.modules['ray'] = None; from chain.cli import main; main()"
    out = subprocess.run([sys.executable, "-c", code, "analyze", "--sandbox", "ray"], input=ONE_TASK,
                         capture_output=True, timeout=60)
    assert out.returncode == 5, out.stderr.decode()
    assert "pip install 'chain-pipeline[ray]'" in out.stderr.decode()


def test_auto_joins_only_a_running_cluster_and_never_starts_one(tmp_path):
    # A fresh namespace with no cluster in it: `auto` must fail clearly and start no Ray node (a node
    # would make a session directory under RAY_TMPDIR).
    others = [pid for pid, (_, name) in ray_cluster._table().items() if name == "gcs_server"]
    if others:  # Ray's `auto` finds a cluster by its processes, and would try (and hang) to join that one
        pytest.skip(f"another Ray cluster runs on this machine (gcs_server {others[0]})")
    script = f"ip link set lo up; exec {sys.executable} -m chain analyze --sandbox ray --ray-address auto"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run(["unshare", "-n", "sh", "-c", script], input=ONE_TASK, capture_output=True,
                         env={**env, "RAY_TMPDIR": str(tmp_path / "ray")}, timeout=120)
    err = out.stderr.decode()
    assert out.returncode == 4, err
    assert "cannot join the Ray cluster at 'auto'" in err and "Could not find any running Ray instance" in err
    assert not list(tmp_path.glob("ray/session_*")), "a Ray node was started"


# The library-level hostile cases, collected here again against the ray backend (after the two above).
from tests.chain.sandbox.test_hostile import (  # noqa: F401, E402  (collected here again, against ray)
    test_allocating_30_gb_fails_fast_under_the_memory_limit, test_daemonized_child_is_gone_after_the_run,
    test_endless_test_times_out, test_fork_bomb_is_capped_and_killed, test_many_runs_leave_the_sandbox_reusable,
    test_wrecking_its_own_workspace_is_harmless, test_writes_outside_the_workspace_do_not_appear, host_dir)

OK, WHY = ray_cluster.available()
pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.skipif(not OK, reason=WHY)]
RAY = ["--sandbox", "ray", "--ray-address", ray_cluster.ADDRESS]


@pytest.fixture(scope="module")
def cluster():
    c = ray_cluster.NetnsCluster(head_cpus=2, worker_cpus=2)
    try:
        yield c.start()
    finally:
        c.stop()


@pytest.fixture(scope="module")
def sandbox(cluster):
    """The `sandbox` the reused hostile cases run on: the ray backend, driven from inside the namespace."""
    box = ray_cluster.DriverInNamespace(cluster)
    yield box
    box.close()


def task(task_id: str, tests: str, module: str = "def add(a, b):\n    return a + b\n") -> dict:
    return {"type": "task", "id": task_id, "files": {"mod.py": module, "test_mod.py": tests},
            "test": "python -m pytest -q"}


MIXED = [
    task("pass", "from mod import add\n\ndef test_a():\n    assert add(1, 2) == 3\n\ndef test_b():\n    pass\n"),
    task("fail", "from mod import add\n\ndef test_a():\n    assert add(1, 2) == 4\n\ndef test_b():\n    pass\n"),
    task("skip", "import pytest\n\n@pytest.mark.skip(reason='no')\ndef test_s():\n    pass\n\ndef test_ok():\n"
                 "    pass\n"),
    task("collect", "import nonexistent_module\n\ndef test_x():\n    pass\n"),
    task("xfail", "import pytest\n\n@pytest.mark.xfail\ndef test_x():\n    assert 0\n"),
]


def events(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def results(stdout: bytes) -> list[dict]:
    return [e for e in events(stdout) if e["type"] == "result"]


def per_test(result: dict) -> list[tuple]:
    return sorted((c["nodeid"], c["outcome"]) for c in result.get("cases") or [])


def feed(lines: list[dict]) -> bytes:
    return b"".join(json.dumps(t).encode() + b"\n" for t in lines)


def stats(db: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT stage, profile, executions, successes, ema_success, ema_score FROM "
                            "profile_stats ORDER BY stage, profile").fetchall()
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]


# -- the backend's contract ---------------------------------------------------------------------------------
def test_results_match_the_local_backend_runs_use_both_nodes_and_learning_is_the_same(cluster, tmp_path):
    local_db, ray_db = str(tmp_path / "local.db"), str(tmp_path / "ray.db")
    # -j 1: an EMA depends on the order results are learned in, which concurrency would make differ
    # Both at once: the ray run's time is mostly joining the cluster and starting its actors.
    local = subprocess.Popen(cluster.chain("analyze", "--sandbox", "auto", "--state", local_db, "-j", "1"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    remote = cluster.popen(cluster.chain("analyze", *RAY, "--state", ray_db, "-j", "1"), stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    (here_out, _), (there_out, there_err) = local.communicate(feed(MIXED), 300), remote.communicate(feed(MIXED), 300)
    assert remote.returncode == 0, there_err.decode()[-3000:]
    here, there = results(here_out), results(there_out)
    assert [r["task_id"] for r in there] == [t["id"] for t in MIXED]  # input order kept
    for mine, theirs in zip(here, there):
        assert (theirs["status"], theirs["tests"], per_test(theirs)) == (mine["status"], mine["tests"],
                                                                         per_test(mine)), theirs["task_id"]
        assert theirs["sandbox"] == "ray"
        assert theirs["isolation"]["backend"] == mine["isolation"]["backend"]  # the node's own local backend
    nodes = {r["isolation"]["ray"]["node"] for r in there}
    assert len(nodes) == 2, f"runs landed on {len(nodes)} node(s) only"
    assert stats(ray_db) == stats(local_db) and stats(ray_db)  # same EMA updates (timings aside)


def test_a_task_s_candidates_reuse_its_shipped_files(sandbox):
    from chain.sandbox import RunSpec

    big = {f"pkg/m{i}.py": f"X{i} = {i}\n" * 200 for i in range(20)}
    base = {**big, "test_a.py": "from pkg.m3 import X3\n\ndef test_a():\n    assert X3 == 3\n"}
    first = sandbox.run(RunSpec(files=base, command="python -m pytest -q", label="shipped"))
    changed = {**base, "test_a.py": base["test_a.py"].replace("== 3", "== 4")}
    second = sandbox.run(RunSpec(files=changed, command="python -m pytest -q", label="shipped"))
    removed = {k: v for k, v in base.items() if k != "pkg/m3.py"}
    third = sandbox.run(RunSpec(files=removed, command="python -m pytest -q", label="shipped"))
    assert (first.exit_code, second.exit_code) == (0, 1), (first.stdout, second.stdout)
    assert third.report["collect_errors"], third.stdout  # the removed file is gone on the node too


def test_runs_of_one_task_s_files_at_once_on_a_node_all_see_them(cluster):
    # One task's files, many runs at once: the first run on a node brings their reference, later ones name
    # them only, and may get there before the first has them (the node then asks for the reference again).
    same = task("same", "from mod import add\n\ndef test_a():\n    assert add(1, 2) == 3\n")
    proc = cluster.popen(cluster.chain("analyze", *RAY, "--no-learn", "-j", "4"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(feed([same] * 12), timeout=300)
    assert proc.returncode == 0, err.decode()[-3000:]
    assert [r["status"] for r in results(out)] == ["passed"] * 12, [r["summary"] for r in results(out)]


def doctor(cluster, *args: str) -> subprocess.Popen:
    return cluster.popen(cluster.chain("doctor", "--sandbox", "ray", "--ray-address", ray_cluster.ADDRESS, *args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_doctor_shows_each_node_with_cpus_isolation_and_versions(cluster):
    as_json, as_text = doctor(cluster, "--json"), doctor(cluster, "--no-worker")  # both at once
    out, err = as_json.communicate(timeout=180)
    text = as_text.communicate(timeout=180)[0].decode()
    assert as_json.returncode == 0, err.decode()[-2000:]
    report = json.loads(out)
    nodes = report["ray"]["nodes"]
    assert len(nodes) == 2 and all(n["used"] for n in nodes), nodes
    assert sorted(n["cpus"] for n in nodes) == [cluster.head_cpus, cluster.worker_cpus]
    here = {"python": "%d.%d.%d" % sys.version_info[:3], "pytest": pytest.__version__}
    for node in nodes:
        assert node["isolation"]["backend"] in ("bwrap-warm", "local-warm")
        assert {k: node["versions"][k] for k in here} == here
    assert all(n["node"][:12] in text for n in nodes), text


def test_a_node_whose_pytest_differs_is_reported_by_doctor_and_gets_no_runs(cluster):
    odd = cluster.start_odd_node()
    try:
        stage = cluster.popen(cluster.chain("analyze", *RAY, "--no-learn"), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        report = doctor(cluster, "--json", "--no-worker")
        out, err = stage.communicate(feed(MIXED[:4]), timeout=300)
        doctor_out, doctor_err = report.communicate(timeout=180)
    finally:
        cluster.stop_node(odd)
    assert stage.returncode == 0, err.decode()[-3000:]
    # said on stderr, naming the node and what differs
    warned = [line for line in err.decode().splitlines() if "not used: versions differ" in line]
    assert len(warned) == 1 and f"pytest {ray_cluster.ODD_PYTEST} (here {pytest.__version__})" in warned[0], \
        err.decode()[-3000:]
    odd_short = warned[0].split("ray node ")[1].split()[0]
    got = results(out)
    assert [r["status"] for r in got] == ["passed", "failed", "passed", "error"], [r["summary"] for r in got]
    assert not [r for r in got if r["isolation"]["ray"]["node"].startswith(odd_short)]  # no run went there
    # doctor shows it with its versions, unused, and why
    assert report.returncode == 0, doctor_err.decode()[-2000:]
    rows = {row["node"][:12]: row for row in json.loads(doctor_out)["ray"]["nodes"]}
    assert len(rows) == 3 and sum(row["used"] for row in rows.values()) == 2, rows
    assert rows[odd_short]["used"] is False and "versions differ" in rows[odd_short]["reason"]
    assert rows[odd_short]["versions"]["pytest"] == ray_cluster.ODD_PYTEST


# -- faults and cancellation ----------------------------------------------------------------------------------
def sleeper(task_id: str, word: str, seconds: float = 300) -> dict:
    """A run whose process (marked by `word`, to be found on the nodes) waits until a `Releaser(word)` lets
    it end (a file appears in its workspace), or `seconds` at most: no fixed sleep to outlast, however
    loaded the machine is."""
    wait = (f"import os, sys, time; d = time.monotonic() + {seconds}\\n"
            f"while not os.path.exists(\"go_\" + sys.argv[1]) and time.monotonic() < d: time.sleep(0.05)")
    body = (f"import subprocess, sys\n\ndef test_wait():\n"
            f"    subprocess.run([sys.executable, '-c', '{wait}', '{word}'])\n")
    return task(task_id, body)


class Releaser:
    """Lets every `sleeper(..., word)` run end, those running now and those that start later (a retried run
    gets a new workspace): their workspaces are directories under the nodes' CHAIN_TMPDIR."""

    def __init__(self, cluster, word: str):
        self.root, self.word, self.done = cluster.dir / "sandboxes", word, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.wait(0.2):
            for path in self.root.rglob("test_mod.py"):
                try:
                    if self.word in path.read_text(errors="replace"):
                        (path.parent / f"go_{self.word}").touch()
                except OSError:  # a workspace that was just emptied
                    pass

    def __enter__(self) -> Releaser:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:g}s")


def wait_started(proc, word: str, count: int) -> None:
    """Until `count` runs marked `word` run (each run's marked process is its own); else say what chain said."""
    try:
        wait_for(lambda: len(processes_with(word)) >= count, 120, f"{count} runs started")
    except AssertionError as exc:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{exc}: {[r['summary'] for r in results(out)]} {err.decode()[-3000:]}") from None


def chain_processes(cluster) -> set[str]:
    """chain's actors and warm workers on any node (pid and command line)."""
    found = set()
    for pid, name in cluster.processes():
        cmd = ray_cluster.cmdline(pid)
        if "NodeHost" in name or "NodeHost" in cmd or "warm_worker" in cmd:
            found.add(f"{pid} {name} {cmd[:80]}")
    return found


def leftovers(cluster, word: str, before: set[str]) -> list[str]:
    """The run's processes (marked by `word`) anywhere, and chain processes on the nodes that were not there
    before the stage started (other drivers of this module, e.g. the hostile cases' one, keep theirs)."""
    return [f"{pid} (marked)" for pid in processes_with(word)] + sorted(chain_processes(cluster) - before)


@pytest.mark.parametrize("how", ["sigint", "head-1"])
def test_interrupt_cancels_the_runs_on_every_node_and_leaves_nothing_running(cluster, how):
    word = marker()
    # The cluster has 4 CPUs: that many runs at once.
    stream = [sleeper(f"s{i}", word) for i in range(4 if how == "sigint" else 3)]
    chain = " ".join(cluster.chain("analyze", *RAY, "--no-learn"))
    if how == "head-1":
        # The first result (in input order) comes once the three sleepers run on the nodes (the test lets it
        # go); `head` then exits, and chain must stop them although none of them has anything to write yet.
        stream.insert(0, sleeper("first", first := marker()))
        chain += " | head -1"
    before = chain_processes(cluster)
    proc = cluster.popen(["sh", "-c", f"exec {chain}" if how == "sigint" else chain], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(feed(stream))
    proc.stdin.flush()
    wait_started(proc, word, 4 if how == "sigint" else 3)
    on_nodes = {pid: "worker" if pid in dict(ray_cluster.descendants(cluster.worker.pid)) else "head"
                for pid in processes_with(word)}
    if set(on_nodes.values()) != {"head", "worker"}:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"runs on {on_nodes}: {[r['summary'] for r in results(out)]} {err.decode()[-2000:]}")
    if how == "sigint":
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    else:
        with Releaser(cluster, first):
            out, err = proc.communicate(timeout=120)
    if how == "sigint":
        assert proc.returncode == 130, err.decode()[-2000:]
        assert [r["status"] for r in results(out)] == ["cancelled"] * len(stream)
    else:
        assert [r["task_id"] for r in results(out)] == ["first"], err.decode()[-2000:]
    try:
        wait_for(lambda: leftovers(cluster, word, before) == [], 20, "no process left on any node")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {leftovers(cluster, word, before)}") from None


def test_a_stage_killed_outright_leaves_no_driver_and_no_run_on_any_node(cluster):
    # SIGKILL: the stage cancels nothing itself. Its Ray driver process sees the end of its request pipe,
    # cancels the runs on their nodes and ends.
    word = marker()
    before = chain_processes(cluster)
    proc = cluster.popen(cluster.chain("analyze", *RAY, "--no-learn"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(feed([sleeper(f"k{i}", word) for i in range(4)]))
    proc.stdin.flush()
    wait_started(proc, word, 4)
    stage = proc.pid  # nsenter runs the stage in its own place (no fork for a network namespace)
    assert "chain analyze" in ray_cluster.cmdline(stage), ray_cluster.cmdline(stage)
    drivers = [pid for pid, _ in ray_cluster.descendants(stage) if "ray_process" in ray_cluster.cmdline(pid)]
    assert len(drivers) == 1, ray_cluster.descendants(stage)
    os.kill(stage, signal.SIGKILL)
    proc.communicate(timeout=60)
    try:
        wait_for(lambda: leftovers(cluster, word, before) == [] and not os.path.exists(f"/proc/{drivers[0]}"), 30,
                 "no driver and no run left")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {leftovers(cluster, word, before)} driver: "
                             f"{ray_cluster.cmdline(drivers[0])}") from None


def test_a_dead_actor_s_sandboxes_die_with_it_and_its_run_is_retried(cluster):
    word = marker()
    proc = cluster.popen(cluster.chain("analyze", *RAY, "--no-learn", "-j", "4"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(feed([sleeper(f"d{i}", word) for i in range(4)]))
    proc.stdin.flush()  # communicate() ends the input
    wait_started(proc, word, 4)
    worker_side = {pid for pid, _ in ray_cluster.descendants(cluster.worker.pid)}
    marked_there = [pid for pid in processes_with(word) if pid in worker_side]
    # The actor whose sandboxes run them (other drivers of this module have actors on that node too)
    actors = {pid for marked in marked_there for pid in ray_cluster.ancestors(marked)
              if "NodeHost" in ray_cluster.cmdline(pid)}
    assert len(actors) == 1, f"this stage's actor on the second node: {actors} (runs there: {marked_there})"
    os.kill(actors.pop(), signal.SIGKILL)
    wait_for(lambda: not set(marked_there) & set(processes_with(word)), 15,
             "the dead actor's sandbox processes to end")
    with Releaser(cluster, word):  # the runs elsewhere, and the retried ones, may end now
        out, err = proc.communicate(timeout=180)
    got = results(out)
    assert sorted(r["task_id"] for r in got) == [f"d{i}" for i in range(4)], err.decode()[-2000:]
    assert {r["status"] for r in got} == {"passed"}, [(r["task_id"], r["summary"]) for r in got]
    retries = [e for e in events(out) if e["type"] == "notice" and "failed mid-run" in e["message"]]
    assert retries and len(retries) <= 2, retries


def test_killing_the_second_node_mid_stream_loses_no_result(cluster):
    # Last in the module: the second node stays dead.
    word = marker()
    proc = cluster.popen(cluster.chain("analyze", *RAY, "--no-learn", "-j", "4", "--unordered"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stream = [sleeper(f"k{i}", word) for i in range(8)]
    proc.stdin.write(feed(stream))
    proc.stdin.flush()
    wait_started(proc, word, 4)
    cluster.kill_worker_raylet()
    with Releaser(cluster, word):
        out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()[-3000:]
    got = results(out)
    assert sorted(r["task_id"] for r in got) == sorted(t["id"] for t in stream)  # each exactly once
    assert {r["status"] for r in got} == {"passed"}, [(r["task_id"], r["summary"]) for r in got]
    assert len({r["isolation"]["ray"]["node"] for r in got}) >= 1
    retries = [e for e in events(out) if e["type"] == "notice" and e["kind"] == "retry"]
    assert retries, "the runs on the dead node were not reported as retried"


def test_stopping_the_whole_cluster_mid_stream_keeps_every_result_and_reports_every_other_task(cluster):
    # Last in the module: the cluster stays stopped. Ray ends the stage's driver process with the cluster;
    # the stage outlives it: results finished before the stop are on stdout, every other task is an `error`
    # event naming the cluster, exit 5, and no run's process is left anywhere.
    word = marker()
    done_first = [task(f"f{i}", "def test_ok():\n    pass\n") for i in range(3)]
    waiting = [sleeper(f"z{i}", word) for i in range(2)]  # running on the nodes when the cluster stops
    never = [task(f"n{i}", "def test_ok():\n    pass\n") for i in range(3)]  # not started by then
    stream = done_first + waiting + never
    before = chain_processes(cluster)
    proc = cluster.popen(cluster.chain("analyze", *RAY, "--no-learn", "-j", "2"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    proc.stdin.write(feed(stream))
    proc.stdin.close()
    try:
        wait_for(lambda: len(results(b"".join(lines))) >= len(done_first), 120, "the first results")
        wait_started(proc, word, len(waiting))
    except AssertionError:
        proc.kill()
        raise
    cluster.ray_stop()
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the stage did not end: {b''.join(lines)[-2000:]} {proc.stderr.read()[-3000:]}")
    reader.join(30)
    err = proc.stderr.read().decode()
    out = events(b"".join(lines))
    assert proc.returncode == 5, err[-3000:]
    got = [e for e in out if e["type"] == "result"]
    assert [(r["task_id"], r["status"]) for r in got] == [(t["id"], "passed") for t in done_first], err[-3000:]
    errors = [e for e in out if e["type"] == "error"]
    assert sorted(e["task_id"] for e in errors) == sorted(t["id"] for t in waiting + never), (errors, err[-2000:])
    assert all(ray_cluster.ADDRESS in e["message"] and "gone" in e["message"] for e in errors), errors
    try:
        wait_for(lambda: leftovers(cluster, word, before) == [], 20, "no process left on any node")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {leftovers(cluster, word, before)}") from None
