"""Unified diffs of a task's in-memory files: writing them (`unified_diff`, what stages record as `diff`) and
applying them (as `diff -u`, `git diff` or an LLM write them).

Text only: a patch that changes a binary file (git's "Binary files ... differ" or "GIT binary patch") is
refused as a whole with the file named, rather than applied in part with that file silently left out."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
BINARY = re.compile(r"^(?:Binary files (?:a/)?(?P<a>.+?) and (?:b/)?(?P<b>.+?) differ|GIT binary patch)\s*$")
GIT_HEADER = re.compile(r"^diff --git a/(?P<path>\S+) b/")


class PatchError(ValueError):
    pass


def _strip_prefix(path: str) -> str:
    path = path.split("\t", 1)[0].strip()
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return path


def parse(diff: str) -> list[tuple[str, str, list[tuple[int, list[str]]]]]:
    """[(old path, new path, [(old start, hunk lines)])]."""
    files = []
    lines = diff.splitlines(keepends=True)
    _refuse_binary(lines)
    i = 0
    while i < len(lines):
        if lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = _strip_prefix(lines[i][4:]), _strip_prefix(lines[i + 1][4:])
            hunks = []
            i += 2
            while i < len(lines) and (m := HUNK.match(lines[i])):
                start = int(m.group(1))
                body = []
                i += 1
                while (
                    i < len(lines)
                    and lines[i][:1] in (" ", "+", "-", "\\", "\n")
                    and not (lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "))
                ):
                    if not lines[i].startswith("\\"):
                        body.append(lines[i] if lines[i] != "\n" else " \n")
                    i += 1
                hunks.append((start, body))
            files.append((old, new, hunks))
        else:
            i += 1
    if not files:
        raise PatchError("no file headers (---/+++) found in the patch")
    return files


def _refuse_binary(lines: list[str]) -> None:
    current = None
    for line in lines:
        if m := GIT_HEADER.match(line):
            current = m["path"]
        elif m := BINARY.match(line.rstrip("\n")):
            path = m["b"] if m["b"] and m["b"] != "/dev/null" else (m["a"] or current or "?")
            raise PatchError(
                f"the patch changes binary file {path!r}; chain applies text patches only "
                "(nothing of this patch was applied)"
            )


def _apply_hunks(text: str, hunks: list[tuple[int, list[str]]], path: str) -> str:
    src = text.splitlines(keepends=True)
    if src and not src[-1].endswith("\n"):
        src[-1] += "\n"
    offset = 0
    for start, body in hunks:
        old = [line[1:] for line in body if line[0] in " -"]
        new = [line[1:] for line in body if line[0] in " +"]
        want = max(0, start - 1 + offset)
        # Search outward from where the hunk says it is, as `patch` does with its fuzz-free offset search.
        for delta in sorted(range(-len(src) - 1, len(src) + 2), key=abs):
            at = want + delta
            if 0 <= at <= len(src) - len(old) and src[at : at + len(old)] == old:
                break
        else:
            raise PatchError(f"{path}: hunk at line {start} does not match the file")
        src[at : at + len(old)] = new
        offset += len(new) - len(old) + (at - want)
    return "".join(src)


def apply_unified_diff(files: dict[str, str], diff: str, binary: Collection[str] = ()) -> dict[str, str]:
    """Return a new dict with the patch applied; raises PatchError when a hunk does not fit or the patch
    edits one of the `binary` paths (a task's blobs) as if it were text."""
    out = files.copy()  # a by-reference task's files keep reading through to its base
    for old, new, hunks in parse(diff):
        for path in (old, new):
            if path in binary:
                raise PatchError(
                    f"the patch edits {path!r} as text, but it is a binary file in this task; "
                    "nothing of this patch was applied"
                )
        if new == "/dev/null":
            _delete(out, old)
            continue
        base = "" if old == "/dev/null" else out.get(old)
        if base is None:
            raise PatchError(f"patch touches {old!r}, which the task does not have")
        out[new] = _apply_hunks(base, hunks, new)
        if old not in ("/dev/null", new):
            _delete(out, old)
    return out


def _delete(files: dict[str, str], path: str) -> None:
    if path not in dict.keys(files) and path in files:  # only in a by-reference task's base
        raise PatchError(
            f"the patch deletes or renames {path!r}, a file of the task's by-reference base, which "
            "chain cannot remove; nothing of this patch was applied"
        )
    files.pop(path, None)


def unified_diff(before: dict[str, str], after: dict[str, str]) -> str:
    """The change from `before` to `after` as one unified diff (a/ and b/ prefixes, files in path order): what
    the stages record as a history entry's `diff`. For files on both sides it applies back with
    `apply_unified_diff`; a file only on one side is written as a diff from/to an empty file."""
    chunks: list[str] = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path, ""), after.get(path, "")
        if a != b:
            chunks.extend(
                difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True), f"a/{path}", f"b/{path}")
            )
    return "".join(chunks)
