"""Hostile tasks through a real `chain analyze` process, the way users run chain: the hostile task and a
normal one in the same stream; chain must exit normally, report each hostile task with a clear status
and reason, run the normal one as if nothing happened, leak nothing, and keep its own memory flat."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import orjson
import pytest

from tests.chain.sandbox.conftest import (
    FORK_BOMB_TIMEOUT_S,
    PARENT_OUT_OF_REACH,
    WAIT_FOR_THE_PROCESS_CAP,
    backend_params,
    marker,
    processes_with,
)
from tests.conftest import CHAIN, ROOT, make_task, ndjson, parse_lines

RESTRICTED = [sys.executable, str(Path(__file__).with_name("restricted.py"))]
with_backends = pytest.mark.parametrize("backend", backend_params())
STREAM_TIMEOUT_S = 10.0  # every task of a stream gets it: room for a cold pytest start on a loaded machine


def run_analyze(backend: str, tasks, *args: str, env: dict | None = None,
                launcher: list[str] = ()) -> tuple[subprocess.CompletedProcess, float]:
    """Run `chain analyze` over `tasks` (under `launcher`, if given); returns the process and chain's own peak
    RSS in MB."""
    proc = subprocess.Popen([*launcher, *CHAIN, "analyze", "--sandbox", backend, "--no-learn", *args],
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, **(env or {})})
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            try:
                for line in open(f"/proc/{proc.pid}/status"):
                    if line.startswith("VmRSS:"):
                        peak[0] = max(peak[0], int(line.split()[1]) / 1024)
            except OSError:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, err = proc.communicate(ndjson(*tasks), timeout=120)
    sampler.join()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), peak[0]


def by_id(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return {r["task_id"]: r for r in parse_lines(proc.stdout) if r["type"] == "result"}


@with_backends
def test_200_mb_of_output_is_capped_and_chain_memory_stays_flat(backend):
    flood = make_task("flood", tests="import os\n\ndef test_flood():\n    for _ in range(200):\n"
                                     "        os.write(1, b'x' * (1 << 20))\n", test="python -m pytest -q -s")
    baseline, base_rss = run_analyze(backend, [make_task("a"), make_task("b")], "-j", "1", "--timeout", "30")
    assert set(by_id(baseline)) == {"a", "b"}
    proc, rss = run_analyze(backend, [flood, make_task("after")], "-j", "1", "--timeout", "30")
    results = by_id(proc)
    assert results["flood"]["status"] == "passed"
    assert "stdout truncated: kept 1048576 of 209" in results["flood"]["result"]
    assert results["after"]["status"] == "passed"
    assert len(proc.stdout) < 8 << 20  # the flood did not reach chain's output either
    assert rss - base_rss < 40, f"chain peak RSS {rss:.0f} MB vs {base_rss:.0f} MB without the flood"


@with_backends
def test_hostile_stream_then_a_normal_task(backend):
    check_hostile_stream(backend, backend)


def check_hostile_stream(flag: str, backend: str, env: dict | None = None, launcher: list[str] = ()) -> str:
    """The hostile stream through `chain analyze --sandbox FLAG`, which must run it on `backend`; returns
    chain's stderr."""
    word = marker()
    secret = marker()
    daemon = make_task("daemon", tests=(
        "import subprocess, sys\n\n"
        "def test_daemon():\n"
        f"    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', '{word}'],\n"
        "                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"))
    killer = make_task("killer", tests=(
        "import os, signal\n\n"
        "def test_kill():\n"
        "    for pid in (1, os.getppid()):\n"
        "        try:\n"
        "            os.kill(pid, signal.SIGKILL)\n"
        "        except OSError:\n"
        "            pass\n"))
    snoop = make_task("snoop", tests=(
        "import os\n\n"
        "def test_snoop():\n"
        "    in_env = [k for k, v in os.environ.items() if 'chainhostile' in v]\n"
        "    in_proc = []\n"
        "    for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "        try:\n"
        "            if b'chainhostile' in open(f'/proc/{pid}/environ', 'rb').read():\n"
        "                in_proc.append(pid)\n"
        "        except OSError:\n"
        "            pass\n"
        "    assert (in_env, in_proc) == ([], [])\n"))
    spinner = make_task("spinner", tests=f"def test_spin_{word}():\n    while True:\n        pass\n",
                        test=f"python -m pytest -q -k {word}")
    proc, _ = run_analyze(flag, [daemon, killer, snoop, spinner, make_task("normal")], "-j", "1",
                          "--timeout", f"{STREAM_TIMEOUT_S:g}", env={"CHAIN_HOSTILE_SECRET": secret, **(env or {})},
                          launcher=launcher)
    results = by_id(proc)
    assert list(results) == ["daemon", "killer", "snoop", "spinner", "normal"]
    assert results["daemon"]["status"] == "passed"
    killer = results["killer"]
    assert killer["status"] == "passed" if backend in PARENT_OUT_OF_REACH else "SIGKILL" in killer["result"], \
        killer["result"]
    snooped = results["snoop"]
    if snooped["isolation"].get("pid_namespace") or snooped["isolation"].get("landlock_abi"):
        assert snooped["status"] == "passed", snooped["result"]  # not in its env, nor in any /proc/*/environ
    else:  # without a PID namespace the code can read chain's own /proc/PID/environ: only os.environ is clean
        assert snooped["status"] in ("passed", "failed")
        assert snooped["status"] == "passed" or "assert ([], [" in snooped["cases"][0]["message"]
    assert results["spinner"]["status"] == "timeout"
    assert f"timed out after {STREAM_TIMEOUT_S:g}s" in results["spinner"]["result"]
    assert results["normal"]["status"] == "passed"
    if results["daemon"]["isolation"].get("cgroups") or results["daemon"]["isolation"].get("pid_namespace"):
        time.sleep(0.2)
        assert processes_with(word) == [], "the daemonized child outlived its run"
    for r in results.values():
        assert r["isolation"]["backend"] == r["sandbox"] == backend
    return proc.stderr.decode()


@with_backends
def test_fork_bomb_in_a_stream(backend):
    check_fork_bomb_stream(backend, backend)


def check_fork_bomb_stream(flag: str, backend: str, env: dict | None = None, launcher: list[str] = ()) -> None:
    from chain.sandbox import cgroups

    if cgroups.support().version is None and os.getuid() == 0:
        pytest.skip("root without a pids cgroup: nothing can contain a fork bomb")
    word = marker()
    bomb = make_task("bomb", tests=(
        "import subprocess, sys, time\n\n"
        "BOMB = 'import os\\nwhile True:\\n    try:\\n        os.fork()\\n    except OSError:\\n        pass\\n'\n\n"
        "def test_bomb():\n"
        f"    subprocess.Popen([sys.executable, '-c', BOMB, '{word}'])\n"
        f"{textwrap.indent(textwrap.dedent(WAIT_FOR_THE_PROCESS_CAP), '    ')}\n"
        "    time.sleep(600)\n"))
    proc, _ = run_analyze(flag, [bomb, make_task("normal")], "-j", "1", "--timeout", f"{FORK_BOMB_TIMEOUT_S:g}",
                          env=env, launcher=launcher)
    results = by_id(proc)
    assert results["bomb"]["status"] == "timeout"
    assert "process limit reached" in results["bomb"]["result"]
    assert results["normal"]["status"] == "passed"
    time.sleep(0.2)
    assert processes_with(word) == []
    assert orjson.loads(proc.stdout.splitlines()[0])["task_id"] == "bomb"
    assert {r["sandbox"] for r in results.values()} == {backend}


def _path_without_bwrap(tmp_path: Path) -> dict:
    """A PATH on which bubblewrap is not found (prlimit still is)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "prlimit").symlink_to("/usr/bin/prlimit")
    return {"PATH": str(bin_dir), "CHAIN_BWRAP": ""}


FALLBACKS = {
    # what is missing: (environment, launcher)
    "bwrap-not-on-path": (_path_without_bwrap, []),
    "user-namespaces-forbidden": (lambda _tmp: {}, [*RESTRICTED, "--no-userns", "--"]),
}


@pytest.mark.skipif(not backend_params(["landlock-warm"])[0].marks == [], reason="landlock unavailable here")
@pytest.mark.parametrize("missing", sorted(FALLBACKS))
def test_auto_falls_back_to_landlock_and_still_contains_the_hostile_stream(missing, tmp_path):
    make_env, launcher = FALLBACKS[missing]
    env = make_env(tmp_path)
    stderr = check_hostile_stream("auto", "landlock-warm", env=env, launcher=launcher)
    warnings = [line for line in stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, stderr
    assert "bubblewrap isolation unavailable" in warnings[0] and "using the landlock-warm backend" in warnings[0]
    check_fork_bomb_stream("auto", "landlock-warm", env=env, launcher=launcher)


def test_auto_with_neither_bwrap_nor_landlock_says_local_is_no_security_boundary():
    proc, _ = run_analyze("auto", [make_task("a")], launcher=[*RESTRICTED, "--no-userns", "--no-landlock", "--"])
    (result,) = by_id(proc).values()
    assert result["sandbox"] == "local-warm" and result["status"] == "passed"
    assert result["isolation"]["security_boundary"] is False
    assert "not a security boundary" in result["isolation"]["warning"]
    warnings = [line for line in proc.stderr.decode().splitlines() if "warning" in line]
    assert [w.split(" isolation unavailable")[0] for w in warnings] == ["chain: warning: bubblewrap",
                                                                       "chain: warning: landlock"], warnings
    assert "trying landlock-warm" in warnings[0] and "not a security boundary" in warnings[1]
