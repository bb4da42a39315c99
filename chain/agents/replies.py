"""Turning an agent's reply into candidate files: fenced blocks naming their file, or a unified diff."""

from __future__ import annotations

import re

from ..claude import code_blocks
from ..patching import PatchError, apply_unified_diff

DIFF_BLOCK = re.compile(r"```(?:diff|patch)?\s*\n(?P<body>---\s.*?)```", re.S)


def candidate_files(reply: str, files: dict[str, str]) -> dict[str, str] | None:
    """The task's files with the reply applied, or None when the reply holds no usable change."""
    diffs = [m["body"] for m in DIFF_BLOCK.finditer(reply)]
    if not diffs and reply.lstrip().startswith("--- "):
        diffs = [reply]
    for diff in diffs:
        try:
            return apply_unified_diff(files, diff)
        except PatchError:
            continue
    out = dict(files)
    sources = [p for p in files if p.endswith(".py") and not p.rsplit("/", 1)[-1].startswith("test_")]
    changed = False
    for name, info, code in code_blocks(reply):
        lang = info.split(":")[0]
        if name is None and lang in ("python", "py", "") and len(sources) == 1:
            name = sources[0]  # one unnamed block and one source file: that file
        if name is None or name.rsplit("/", 1)[-1].startswith("test_"):
            continue  # agents must not rewrite the tests that judge them
        match = next((p for p in files if p == name or p.endswith("/" + name)), name)
        out[match] = code
        changed = True
    return out if changed and out != files else None
