"""Prompts built from what chain knows: failing tests and their tracebacks, suspicious lines, the code."""

from __future__ import annotations

from ..context import Evaluation
from ..protocol import Task


def _files(task_files: dict[str, str]) -> str:
    return "\n\n".join(
        f"```python\n# file: {path}\n{text.rstrip()}\n```"
        for path, text in sorted(task_files.items())
        if path.endswith(".py")
    )


def _not_shown(task: Task) -> str:
    """Binary files are never put in a prompt; the agent is told they exist and must not be rewritten."""
    if not task.blobs:
        return ""
    names = ", ".join(sorted(task.blobs)[:20]) + (" ..." if len(task.blobs) > 20 else "")
    return f"\n(Binary files, not shown and not to be edited: {names})"


def repair_prompt(
    task: Task, files: dict[str, str], ev: Evaluation, suspicious: list[dict], feedback: str | None = None
) -> str:
    parts = [
        f"The tests of task {task.id!r} fail ({ev.summary}). Fix the code so that every test passes.",
        "Failing tests:",
    ]
    for case in ev.failing[:10]:
        parts.append(f"- {case.nodeid}\n{(case.message or '').strip()[-1500:]}")
    if suspicious:
        parts.append("Most suspicious lines (Ochiai over per-test coverage):")
        parts += [f"- {s['file']}:{s['line']} ({s['score']}): {s.get('code', '')}" for s in suspicious[:8]]
    if feedback:
        parts.append(f"Your previous answer did not pass: {feedback}")
    parts.append(f"Test command: {task.test}\nFiles:\n{_files(files)}{_not_shown(task)}")
    parts.append(
        "Reply with the complete corrected source files (not the tests) in fenced python blocks whose "
        "first line is `# file: <path>`, or with a unified diff."
    )
    return "\n\n".join(parts)


def optimize_prompt(task: Task, files: dict[str, str], timing: dict) -> str:
    return "\n\n".join(
        [
            f"Make task {task.id!r} faster without changing its behaviour; its tests must still pass.",
            f"Measured: median {timing.get('median_ms')} ms over {timing.get('runs')} runs of "
            f"{task.bench or task.test}.",
            f"Files:\n{_files(files)}{_not_shown(task)}",
            "Reply with the complete faster source files in fenced python blocks whose first line is "
            "`# file: <path>`, or with a unified diff.",
        ]
    )
