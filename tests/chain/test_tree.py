"""Big repositories by reference: a task names its base directory (and digest) instead of carrying it; stages
read its files from disk, only changed files travel, and a base that changed under the task is refused."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import CHAIN, ROOT, parse_lines

BUGGY = "def add(a, b):\n    return a - b\n"


def _repo(root, modules=30):
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "core.py").write_text(BUGGY)
    (root / "pkg" / "logo.bin").write_bytes(b"\x00\xff" * 100)
    for i in range(modules):
        (root / "pkg" / f"m{i}.py").write_text(f"X = {i}\n")
    (root / "test_core.py").write_text(
        "import pathlib\nfrom pkg import core, m7\n\n"
        "def test_add():\n    assert core.add(2, 3) == 5\n\n"
        "def test_base_files_arrive():\n"
        "    assert m7.X == 7 and (pathlib.Path(__file__).parent / 'pkg/logo.bin').read_bytes() == b'\\x00\\xff' * 100\n")
    return root


def _chain(args, stdin=b"", **kw):
    return subprocess.run([*CHAIN, *args], input=stdin, capture_output=True, cwd=ROOT, timeout=300, **kw)


@pytest.mark.parametrize("sandbox", ["auto", "auto-cold"])
def test_a_task_by_reference_is_analyzed_and_repaired_and_only_the_fix_travels(tmp_path, sandbox, isolated_state):
    repo = _repo(tmp_path / "repo")
    task = _chain(["task", "--by-reference", "always", str(repo)])
    (line,) = parse_lines(task.stdout)
    assert line["files"] == {} and "blobs" not in line
    assert line["base"]["path"] == str(repo) and line["base"]["files"] == 34
    analyzed = _chain(["analyze", "--sandbox", sandbox], task.stdout)
    (result,) = parse_lines(analyzed.stdout)
    assert result["tests"]["failed"] == 1 and result["tests"]["passed"] == 1, result["result"]
    assert result["task"]["history"][0]["data"]["suspicious"][0]["file"] == "pkg/core.py"  # read from the base
    processed = _chain(["process", "--sandbox", sandbox], analyzed.stdout)
    (fixed,) = parse_lines(processed.stdout)
    assert fixed["status"] == "passed", fixed["result"]
    assert set(fixed["task"]["files"]) == {"pkg/core.py"} and "a + b" in fixed["task"]["files"]["pkg/core.py"]
    assert len(processed.stdout) < 20_000  # the tree never rides the stream
    assert (repo / "pkg" / "core.py").read_text() == BUGGY  # the base is read, never written


def test_a_big_tree_goes_by_reference_by_default_and_never_keeps_it_self_contained(tmp_path):
    repo = _repo(tmp_path / "repo", modules=5000)
    (auto,) = parse_lines(_chain(["task", str(repo)]).stdout)
    assert auto["base"]["files"] == 5004 and auto["files"] == {}
    (inline,) = parse_lines(_chain(["task", "--by-reference", "never", str(repo)]).stdout)
    assert "base" not in inline and len(inline["files"]) == 5003 and "pkg/logo.bin" in inline["blobs"]


def test_a_base_that_changed_since_chain_task_is_an_error_naming_it(tmp_path, isolated_state):
    repo = _repo(tmp_path / "repo")
    task = _chain(["task", "--by-reference", "always", str(repo)])
    (repo / "pkg" / "m3.py").write_text("X = 'changed'\n")
    out = _chain(["analyze", "--sandbox", "local"], task.stdout)
    (event,) = parse_lines(out.stdout)
    assert event["type"] == "error" and event["task_id"] == "repo"
    assert str(repo) in event["message"] and "changed since `chain task`" in event["message"]


def test_a_reused_base_copy_is_pristine_whatever_the_last_run_did(tmp_path):
    from chain.sandbox.workspace import RunDir
    from chain.tasks import tasks_from_paths
    from chain.tree import with_base

    repo = _repo(tmp_path / "repo")
    (task,) = tasks_from_paths([repo], by_reference="always")
    tree = with_base(task).files.tree
    run = RunDir.create({"pkg/core.py": "changed = 1\n"}, base=tree)
    ws = run.workspace
    assert (ws / "pkg" / "core.py").read_text() == "changed = 1\n" and (ws / "pkg" / "m7.py").read_text() == "X = 7\n"
    # What hostile code might leave behind: a rewrite with its mtime put back, a symlink out, an extra file,
    # a deleted file, a read-only directory.
    m1 = ws / "pkg" / "m1.py"
    st = m1.stat()
    m1.write_text("X = 'evil'\n")
    os.utime(m1, ns=(st.st_atime_ns, st.st_mtime_ns))
    (ws / "pkg" / "escape").symlink_to("/etc")
    (ws / "extra.txt").write_text("left over")
    (ws / "pkg" / "m2.py").unlink()
    os.chmod(ws / "pkg", 0o500)
    run.remove()
    again = RunDir.create({}, base=tree)
    try:
        got = {p.relative_to(again.workspace).as_posix(): p.read_bytes()
               for p in again.workspace.rglob("*") if p.is_file() or p.is_symlink()}
        want = {p.relative_to(repo).as_posix(): p.read_bytes() for p in repo.rglob("*") if p.is_file()}
        assert got == want
        assert again.pooled is not None and again.pooled.restored >= 5  # reset, not copied again
    finally:
        again.remove()
