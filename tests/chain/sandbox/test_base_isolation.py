"""A by-reference base (a big repository) is shared by every run of a task: no run may change it, through its
workspace or any other path it can see, and every run starts from the pristine tree whatever the last did.
bubblewrap (warm and cold) shows the base as an overlay (nothing copied); the other isolating backends reset a
copy. A big self-contained task is run the same way under bubblewrap (chain.sandbox.inline_base)."""

from __future__ import annotations

import os
import textwrap

import pytest

from chain import registry
from chain.context import judge
from chain.sandbox import RunSpec, inline_base
from chain.tasks import tasks_from_paths
from chain.tree import with_base
from tests.chain.sandbox.conftest import backend_params

DATA = "the base's own data\n"
HOSTILE = textwrap.dedent("""
    import glob, os, pathlib

    def test_pristine_then_vandalize():
        assert pathlib.Path("pkg/data.txt").read_text() == "the base's own data\\n"
        assert pathlib.Path("pkg/other.py").exists() and not pathlib.Path("extra.txt").exists()
        assert pathlib.Path("pkg/core.py").read_text() == "VALUE = 'changed'\\n"  # the run's own file wins
        with open("pkg/data.txt", "r+") as fh:  # in place, through the workspace
            fh.write("EVIL")
        os.chmod("pkg/data.txt", 0o777)
        os.truncate("pkg/other.py", 0)
        os.unlink("pkg/other.py")
        pathlib.Path("extra.txt").write_text("left over")
        refused = []
        for lower in glob.glob("/tmp/.base*"):  # the read-only base an overlay workspace sits on
            target = os.path.join(lower, "pkg", "data.txt")
            for attempt in (lambda: open(target, "w").write("EVIL"), lambda: os.chmod(target, 0o777),
                            lambda: os.utime(target, (0, 0)), lambda: os.unlink(target),
                            lambda: os.link(target, "linked.txt")):
                try:
                    attempt()
                except OSError:
                    refused.append(True)
                else:
                    refused.append(False)
        assert all(refused) and (refused or not os.environ.get("EXPECT_BASE")), refused
""")


def _base(root):
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "core.py").write_text("VALUE = 'original'\n")
    (root / "pkg" / "data.txt").write_text(DATA)
    (root / "pkg" / "other.py").write_text("X = 1\n")
    (root / "test_hostile.py").write_text(HOSTILE)
    return root


def _snapshot(root):
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module", params=backend_params(["bwrap-warm", "bwrap", "landlock", "landlock-warm"]))
def sandbox(request):
    box = registry.sandbox(request.param)
    yield box
    box.close()


def test_no_run_can_change_the_shared_base_and_each_starts_pristine(sandbox, tmp_path):
    repo = _base(tmp_path / "repo")
    before = _snapshot(repo)
    (task,) = tasks_from_paths([repo], by_reference="always")
    tree = with_base(task).files.tree
    spec = RunSpec(
        files={"pkg/core.py": "VALUE = 'changed'\n"},
        command="python -m pytest -q",
        timeout_s=60,
        base=tree,
        env={"EXPECT_BASE": "1"} if sandbox.name.startswith("bwrap") else {},
    )
    for _ in range(3):  # the same worker / pooled copy serves the next run
        ev = judge(sandbox.run(spec), 60)
        out = ev.outcome
        assert ev.status == "passed", (ev.summary, out.error, out.notes, out.stdout[-2000:], out.stderr[-1500:])
        assert _snapshot(repo) == before
    if sandbox.name.startswith("bwrap"):  # no copy: the base, read-only, under an overlay workspace
        assert out.isolation.get("workspace") == "overlay of the read-only base", out.isolation


def test_a_big_self_contained_task_runs_as_a_base_of_links_and_no_run_changes_its_source(sandbox, tmp_path):
    """A task of >= 500 files carried inline: under bubblewrap its files become a base once per process,
    linked from the directory they came from where that holds the same bytes; runs cannot write through the
    links, and a source file written in place outside chain is never what a run sees."""
    repo = _base(tmp_path / "repo")
    for i in range(inline_base.MIN_FILES):
        (repo / "pkg" / f"m{i}.py").write_text(f"X = {i}\n")
    (task,) = tasks_from_paths([repo], by_reference="never")
    assert task.base is None and len(task.files) > inline_base.MIN_FILES
    files = {**task.files, "pkg/core.py": "VALUE = 'changed'\n"}  # what a stage changed: not on disk
    before = _snapshot(repo)
    env = {"EXPECT_BASE": "1"} if sandbox.name.startswith("bwrap") else {}
    for _ in range(2):
        ev = judge(
            sandbox.run(RunSpec(files=files, command="python -m pytest -q", timeout_s=60, env=env, source=str(repo))),
            60,
        )
        out = ev.outcome
        assert ev.status == "passed", (ev.summary, out.error, out.notes, out.stdout[-2000:], out.stderr[-1500:])
        assert _snapshot(repo) == before
    if sandbox.name.startswith("bwrap"):
        assert out.isolation.get("workspace") == "overlay of the read-only base", out.isolation
    with open(repo / "pkg" / "data.txt", "r+") as fh:  # the user edits a file in place: the task still says DATA
        fh.write("EDIT")
    ev = judge(
        sandbox.run(RunSpec(files=files, command="python -m pytest -q", timeout_s=60, env=env, source=str(repo))), 60
    )
    assert ev.status == "passed", (ev.summary, ev.outcome.stdout[-2000:])


def test_a_package_pytest_itself_imports_is_the_workspace_copy(sandbox):
    """pytest imports pygments (and packaging, iniconfig) itself, so a warm template has them loaded from the
    environment; a task that is such a project must still test its own copy, as `python -m pytest` does."""
    import pygments

    installed = os.path.dirname(pygments.__file__)  # its submodules, which pytest's own highlighting imports
    files = {
        "pygments/__init__.py": f"MARK = 'the workspace copy'\n__path__.append({installed!r})\n",
        "test_mark.py": "import pygments\n\ndef test_mark():\n    assert pygments.MARK == 'the workspace copy'\n",
    }
    ev = judge(sandbox.run(RunSpec(files=files, command="python -m pytest -q", timeout_s=60)), 60)
    assert ev.status == "passed", (ev.summary, ev.outcome.stdout[-2000:], ev.outcome.stderr[-1000:])
