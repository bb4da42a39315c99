"""Claude Code interop.

Input: Claude's stream-json lines pass through untouched; at each Claude `result` line (the end of one run)
the code Claude wrote in that run becomes a chain task, emitted right after the `result` line. Code is
harvested from fenced blocks in assistant text and from Write/Edit-style `tool_use` inputs; snapshots of the
same assistant message (same `message.id`) count once, the last one winning.

Output: `to_claude_input` turns a chain result into the user-message line `claude -p --input-format
stream-json` reads.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .protocol import DEFAULT_TEST_COMMAND, Result, Task
from .stream import CLAUDE_TYPES, Batch, Item

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
FILE_MARKER = re.compile(r"^\s*#\s*(?:file(?:name)?|path)\s*:\s*(?P<name>\S+)\s*$", re.I)
PY_INFO = {"python", "py", "python3", ""}


def _safe_name(name: str) -> str | None:
    name = name.strip().strip("`'\"")
    norm = posixpath.normpath(name.replace("\\", "/")).lstrip("/")
    if not norm or norm.startswith("..") or norm == ".":
        return None
    return norm


def code_blocks(text: str) -> list[tuple[str | None, str, str]]:
    """(file name or None, info string, code) for each fenced block in `text`."""
    blocks = []
    for m in FENCE.finditer(text):
        info, body = m.group("info").strip(), m.group("body")
        lines = body.splitlines(keepends=True)
        name = None
        marker = FILE_MARKER.match(lines[0]) if lines else None
        if marker:
            name = _safe_name(marker.group("name"))
            body = "".join(lines[1:])
        else:
            # Fence info like "python title=foo.py", "py:foo.py" or just "foo.py".
            for token in re.split(r"[\s:]+", info):
                token = token.split("=", 1)[-1]
                if ("." in token and "/" not in token.strip("./")) or token.endswith(".py"):
                    name = _safe_name(token)
                    break
        blocks.append((name, info.split()[0].lower() if info else "", body))
    return blocks


def _is_test_code(code: str) -> bool:
    return bool(re.search(r"^\s*(def test_|class Test|import pytest)", code, re.M))


def files_from_blocks(blocks: list[tuple[str | None, str, str]]) -> dict[str, str]:
    """Name each Python block: its own name if it has one, else test_*.py / solution.py defaults."""
    files: dict[str, str] = {}
    counters = {"test": 0, "solution": 0}
    for name, info, code in blocks:
        lang = info.split(":")[0].split("=")[0]
        if name is None and lang not in PY_INFO:
            continue  # a shell snippet or JSON example is not a source file
        if name is None:
            kind = "test" if _is_test_code(code) else "solution"
            counters[kind] += 1
            n = counters[kind]
            name = f"test_solution{'' if n == 1 else n}.py" if kind == "test" else f"solution{'' if n == 1 else n}.py"
        files[name] = code
    return files


class ClaudeHarvester:
    """Follows one interleaved stream of Claude runs and builds a task at each run's `result` line."""

    WRITE_TOOLS = frozenset({"Write", "write_file", "create_file"})

    def __init__(self) -> None:
        self._reset()
        self.runs = 0

    def _reset(self) -> None:
        self.messages: dict[str, list[dict]] = {}  # message.id -> content blocks (last snapshot wins)
        self.order: list[str] = []
        self.session: str | None = None

    def see(self, obj: dict) -> Task | None:
        kind = obj.get("type")
        if kind == "system" and obj.get("subtype") == "init":
            self._reset()
            self.session = obj.get("session_id")
        elif kind == "assistant":
            msg = obj.get("message") or {}
            mid = msg.get("id") or f"anon-{len(self.order)}"
            if mid not in self.messages:
                self.order.append(mid)
            self.messages[mid] = msg.get("content") or []
            self.session = self.session or obj.get("session_id")
        elif kind == "result" and "chain" not in obj:
            task = self._task(obj)
            self._reset()
            return task
        return None

    def _task(self, result: dict) -> Task | None:
        self.runs += 1
        blocks: list[tuple[str | None, str, str]] = []
        written: dict[str, str] = {}
        for mid in self.order:
            for block in self.messages[mid]:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "text":
                    blocks.extend(code_blocks(block.get("text") or ""))
                elif block.get("type") == "tool_use" and block.get("name") in self.WRITE_TOOLS:
                    args = block.get("input") or {}
                    name = _safe_name(posixpath.basename(str(args.get("file_path") or args.get("path") or "")))
                    if name and isinstance(args.get("content"), str):
                        written[name] = args["content"]
        if isinstance(result.get("result"), str):
            blocks.extend(code_blocks(result["result"]))
        files = {**files_from_blocks(blocks), **written}
        if not any(name.endswith(".py") for name in files):
            return None
        session = result.get("session_id") or self.session or "run"
        return Task(
            id=f"claude-{str(session)[:8]}-{self.runs}",
            files=files,
            test=DEFAULT_TEST_COMMAND,
            metadata={"source": "claude", "session_id": session, "claude_subtype": result.get("subtype")},
        )


def harvest(batches: Iterable[Batch]) -> Iterator[Batch]:
    """Pass every line through; after each Claude `result` line, add the task its run produced (if any).

    A stage downstream of another chain stage sees the same Claude lines again, followed by the upstream's
    event for the task it harvested (same deterministic id). The harvested task is therefore held until the
    next line: if that line already carries the task, the upstream did the work and nothing is added.
    """
    harvester = ClaudeHarvester()
    pending: Item | None = None
    for batch in batches:
        if not batch.n_items and pending is None:
            yield batch
            continue
        out = Batch(n_items=batch.n_items)
        for item in batch:
            is_item = item.__class__ is Item
            if pending is not None:
                if not (is_item and item.kind == "task" and item.task.id == pending.task.id):  # type: ignore[union-attr]
                    out.append(pending)
                    out.n_items += 1
                pending = None
            out.append(item)
            if is_item and item.source is not None and item.source.get("type") in CLAUDE_TYPES:
                task = harvester.see(item.source)
                if task is not None:
                    pending = Item("task", item.lineno, b"", task=task)
        yield out
    if pending is not None:
        yield Batch([pending], n_items=1)


def to_claude_input(result: Result) -> dict[str, Any]:
    """A user-message line for `claude -p --input-format stream-json` describing one chain result."""
    lines = [f"chain {result.stage} ({result.profile}) on task {result.task_id}: {result.status} — {result.result}"]
    failing = [c for c in result.cases if c.outcome in ("failed", "error")]
    for case in failing[:10]:
        lines.append(f"- {case.outcome}: {case.nodeid}")
        if case.message:
            lines.append("  " + case.message.strip().splitlines()[-1][:300])
    entry = result.task.history[-1] if result.task.history else None
    if entry and entry.data.diff:
        lines.append("Change made:\n```diff\n" + entry.data.diff + "\n```")
    for path, content in sorted(result.task.files.items()):
        lines.append(f"```python\n# file: {path}\n{content.rstrip()}\n```")
    return {"type": "user", "message": {"role": "user", "content": "\n".join(lines)}, "parent_tool_use_id": None}
