"""process: change the code, then prove the change by running the tests again in the sandbox.

This version applies two honest, mechanical edits: a unified diff carried in the task (metadata "patch"),
then whitespace normalization of Python sources (CRLF -> LF, tabs in indentation -> 4 spaces, no trailing
whitespace, one final newline). A change that makes the tests worse than the original code is rejected and
the original files are kept.
"""

from __future__ import annotations

import difflib

from chain.context import StageContext
from chain.patching import PatchError, apply_unified_diff
from chain.protocol import Result, Task, make_result

HELP = "Apply the task's patch and normalize formatting; rerun the tests to verify the change."


def normalize(source: str) -> str:
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out = []
    for line in lines:
        stripped = line.lstrip(" \t")
        indent = line[: len(line) - len(stripped)].expandtabs(4)
        out.append((indent + stripped).rstrip())
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def unified_diff(before: dict[str, str], after: dict[str, str]) -> str:
    chunks = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path, ""), after.get(path, "")
        if a != b:
            chunks.extend(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                               f"a/{path}", f"b/{path}"))
    return "".join(chunks)


def run(task: Task, ctx: StageContext) -> Result:
    files = dict(task.files)
    notes = []
    patch = task.metadata.get("patch")
    if patch:
        try:
            files = apply_unified_diff(files, patch)
            notes.append("patch applied")
        except PatchError as exc:
            notes.append(f"patch rejected: {exc}")
    files = {p: normalize(c) if p.endswith(".py") else c for p, c in files.items()}
    changed = files != task.files
    ev = ctx.run_tests(files, task.test, label=task.id)
    kept = True
    if changed and ev.status != "passed":
        baseline = ctx.run_tests(task.files, task.test, label=task.id)
        if baseline.score > ev.score:
            kept = False
            notes.append("change rejected: the original code tests better")
            ev = baseline
    final = files if (changed and kept) else task.files
    diff = unified_diff(task.files, final)
    updated = task.model_copy(update={"files": final})
    summary = ev.summary + (f" ({'; '.join(notes)})" if notes else "") + ("" if diff else " (no change)")
    return make_result(
        task=updated, stage=ctx.stage, profile=ctx.profile.name, status=ev.status, tests=ev.tests,
        duration_ms=ev.duration_ms, sandbox=ctx.sandbox.name, summary=summary, cases=ev.cases,
        isolation=ev.outcome.isolation, data={"diff": diff, "changed_files": sorted(
            p for p in set(task.files) | set(final) if task.files.get(p) != final.get(p)), "notes": notes},
    )
