"""Sandbox backends under test: every backend that can run here, cold and warm.

A backend is skipped only where it truly cannot run (bubblewrap missing or namespaces forbidden), with
the reason. Cases that need an isolation a backend does not claim (its `describe()` says so) skip with
that reason too: the local backend shares the host's network and filesystem by design.
"""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

import pytest

from chain import registry
from chain.context import Evaluation, judge
from chain.sandbox import Limits, RunSpec
from chain.sandbox import cgroups

BACKENDS = ["local", "local-warm", "bwrap", "bwrap-warm", "landlock", "landlock-warm"]
# Where a run's parent is outside its reach (PID 1 of its namespace, or outside its Landlock domain), so
# killing it is refused and the run goes on; elsewhere the parent dies and the run is reported killed.
PARENT_OUT_OF_REACH = {"bwrap-warm", "landlock-warm"}


def backend_params(names: list[str] = BACKENDS):
    params = []
    for name in names:
        ok, why = registry.get().sandboxes[name].available()
        marks = [] if ok else [pytest.mark.skip(reason=f"{name}: {why}")]
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(scope="module", params=backend_params())
def sandbox(request):
    box = registry.sandbox(request.param)
    yield box
    box.close()


def marker() -> str:
    """A unique word to find a run's processes by in /proc/*/cmdline."""
    return f"chainhostile{uuid.uuid4().hex[:12]}"


def processes_with(word: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if word.encode() in cmdline and stat.rsplit(")", 1)[1].split()[0] != "Z":
            found.append(int(entry.name))
    return found


def files_for(test_source: str, name: str = "test_case.py") -> dict[str, str]:
    return {"mod.py": "def add(a, b):\n    return a + b\n", name: textwrap.dedent(test_source)}


NORMAL = files_for("""
    from mod import add

    def test_add():
        assert add(2, 3) == 5
""")


# A fork bomb's run must reach its process cap before its timeout for the result to say so: under load a
# cold pytest start alone can take seconds. The test waits until it cannot fork itself (the cap is full),
# and the timeout leaves room for a slow start.
FORK_BOMB_TIMEOUT_S = 10.0
WAIT_FOR_THE_PROCESS_CAP = """\
            import os
            while True:  # until the cap is full: then the bomb has hit it too
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)
                time.sleep(0.01)"""


def evaluate(sandbox, files: dict[str, str], command: str = "python -m pytest -q", timeout: float = 20.0,
             limits: Limits | None = None) -> Evaluation:
    spec = RunSpec(files=files, command=command, timeout_s=timeout, limits=limits or Limits())
    return judge(sandbox.run(spec), timeout)


def assert_next_run_is_normal(sandbox) -> None:
    ev = evaluate(sandbox, NORMAL, timeout=30)
    out = ev.outcome
    assert ev.status == "passed", (ev.summary, out.error, out.notes, out.stdout[-1500:], out.stderr[-1500:])
    assert ev.tests.passed == 1


def requires(sandbox, key: str, refuses: str, why: str) -> None:
    """Skip a case that needs isolation this backend says it does not give."""
    if str(sandbox.describe().get(key, "")).startswith(refuses):
        pytest.skip(f"{sandbox.name}: {why} (describe(): {key}={sandbox.describe().get(key)!r})")


def requires_process_cap(sandbox) -> None:
    if cgroups.support().version is None and os.getuid() == 0:
        pytest.skip(f"root without a pids cgroup ({cgroups.support().reason}): nothing can contain a fork bomb")
