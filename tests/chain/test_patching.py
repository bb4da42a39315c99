import difflib

import pytest

from chain.patching import PatchError, apply_unified_diff, unified_diff

BEFORE = "def f(x):\n    y = x + 1\n    return y\n\n\ndef g():\n    return 2\n"
AFTER = "def f(x):\n    y = x - 1\n    return y\n\n\ndef g():\n    return 3\n"


def diff(a, b, path="m.py"):
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), f"a/{path}", f"b/{path}"))


def test_applies_a_difflib_patch():
    assert apply_unified_diff({"m.py": BEFORE}, diff(BEFORE, AFTER)) == {"m.py": AFTER}


def test_hunk_found_at_an_offset():
    shifted = "import os\nimport sys\n" + BEFORE
    out = apply_unified_diff({"m.py": shifted}, diff(BEFORE, AFTER))
    assert out["m.py"] == "import os\nimport sys\n" + AFTER


def test_new_and_deleted_files():
    patch = ("--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+a = 1\n+b = 2\n"
             "--- a/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n")
    assert apply_unified_diff({"old.py": "x\n"}, patch) == {"new.py": "a = 1\nb = 2\n"}


def test_mismatch_and_garbage_are_patch_errors():
    with pytest.raises(PatchError, match="does not match"):
        apply_unified_diff({"m.py": "something else\n"}, diff(BEFORE, AFTER))
    with pytest.raises(PatchError, match="no file headers"):
        apply_unified_diff({"m.py": BEFORE}, "not a diff")
    with pytest.raises(PatchError, match="does not have"):
        apply_unified_diff({}, diff(BEFORE, AFTER))


def test_unified_diff_of_changed_files_applies_back():
    before = {"m.py": BEFORE, "same.py": "x = 1\n"}
    after = {"m.py": AFTER, "same.py": "x = 1\n"}
    patch = unified_diff(before, after)
    assert "same.py" not in patch  # unchanged files are left out
    assert apply_unified_diff(before, patch) == after
    assert unified_diff(before, before) == ""


def test_a_binary_patch_is_refused_whole_with_the_file_named():
    both = ("--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
            "diff --git a/logo.png b/logo.png\nindex 1..2 100644\nBinary files a/logo.png and b/logo.png differ\n")
    with pytest.raises(PatchError, match="binary file 'logo.png'"):
        apply_unified_diff({"m.py": "x = 1\n"}, both)
    as_text = "--- a/logo.png\n+++ b/logo.png\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(PatchError, match="'logo.png' as text, but it is a binary file"):
        apply_unified_diff({"m.py": "x = 1\n"}, as_text, binary={"logo.png"})


# (before, after) pairs a stage's change can be: last lines without a newline, files created and deleted.
CHANGES = [
    ({"m.py": "a\nb"}, {"m.py": "a\nc"}),
    ({"m.py": "a\nb"}, {"m.py": "a\nb\n"}),
    ({"m.py": "a\nb\n"}, {"m.py": "a\nb"}),
    ({"x.py": "1\n", "keep.py": "k\n"}, {"y.py": "2", "keep.py": "k\n"}),
    ({"m.py": "x\n" * 5 + "y"}, {"m.py": "z\n" + "x\n" * 4 + "y"}),
]


@pytest.mark.parametrize("before, after", CHANGES)
def test_unified_diff_applies_back_at_the_end_of_files_and_for_created_or_deleted_ones(before, after):
    patch = unified_diff(before, after)
    assert apply_unified_diff(before, patch) == after


@pytest.mark.parametrize("before, after", CHANGES)
def test_unified_diff_is_what_git_apply_accepts(tmp_path, before, after):
    # A user applies a result's diff to their checkout with git: it must be a well-formed patch, not only ours.
    import subprocess

    for path, text in before.items():
        (tmp_path / path).write_text(text)
    (tmp_path / "change.diff").write_text(unified_diff(before, after))
    subprocess.run(["git", "apply", "--unsafe-paths", "change.diff"], cwd=tmp_path, check=True)
    (tmp_path / "change.diff").unlink()
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == after


def test_a_patch_without_the_no_newline_marker_keeps_the_files_end_as_it_was():
    # How people and models write patches: the last line's missing newline is not mentioned.
    patch = "--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    assert apply_unified_diff({"m.py": "a\nb"}, patch) == {"m.py": "a\nc"}
    assert apply_unified_diff({"m.py": "a\nb\n"}, patch) == {"m.py": "a\nc\n"}


def test_an_empty_file_created_or_deleted_is_in_the_diff():
    assert apply_unified_diff({}, unified_diff({}, {"__init__.py": ""})) == {"__init__.py": ""}
    assert apply_unified_diff({"e.py": ""}, unified_diff({"e.py": ""}, {})) == {}
