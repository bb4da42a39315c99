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
                    elif body:  # "\ No newline at end of file": the line before it ends the file without one
                        body[-1] = body[-1].rstrip("\n")
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


def _eol(line: str) -> str:
    return line if line.endswith("\n") else line + "\n"


def _apply_hunks(text: str, hunks: list[tuple[int, list[str]]], path: str) -> str:
    # Lines are matched with their newlines; the last line's missing one is decided at the end: what the patch
    # says ("\ No newline at end of file" after a line it adds), else what the file had (a patch written
    # without the marker, as people and models often write them, leaves it as it was).
    src = [_eol(line) for line in text.splitlines(keepends=True)]
    ends_bare = bool(text) and not text.endswith("\n")
    offset = 0
    for start, body in hunks:
        old = [_eol(line[1:]) for line in body if line[0] in " -"]
        new = [_eol(line[1:]) for line in body if line[0] in " +"]
        if any(line[0] in " -" and not line.endswith("\n") for line in body):
            ends_bare = False  # the patch speaks of the old end: its new side says what the end is
        if any(line[0] in " +" and not line.endswith("\n") for line in body):
            ends_bare = True
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
    out = "".join(src)
    return out[:-1] if ends_bare and out.endswith("\n") else out


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
    """The change from `before` to `after` as one unified diff, files in path order, as `git diff` writes it: a/
    and b/ prefixes, /dev/null for a file created or deleted, "\\ No newline at end of file" after a last line
    without one. It applies back with `apply_unified_diff` (and with `patch -p1` / `git apply`)."""
    chunks: list[str] = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        if a == b:
            continue
        old = f"a/{path}" if a is not None else "/dev/null"
        new = f"b/{path}" if b is not None else "/dev/null"
        lines = list(difflib.unified_diff(_lines(a or ""), _lines(b or ""), old, new))
        chunks.extend(lines or [f"--- {old}\n", f"+++ {new}\n"])  # an empty file created or deleted
    return "".join(chunks)


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines
