"""Reading chain's stream for a report: every chain `result`, every `error`, and each malformed line.

A report is a stream consumer like any stage: with a tee it copies every input line through to its output
byte for byte (so `chain analyze | chain report junit --tee -o junit.xml | chain process` leaves the pipe
unchanged), and it names in the report what it could not read instead of dropping it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson
from pydantic import BaseModel, ValidationError

from ..patching import PatchError, parse
from ..protocol import ErrorEvent, HistoryEntry, Result, Task
from ..stream import RAW_PREVIEW


@dataclass
class StreamReport:
    """What a report is made from: the results in stream order and what went wrong on the way."""

    results: list[Result] = field(default_factory=list)
    errors: list[ErrorEvent] = field(default_factory=list)
    lines: int = 0
    malformed: int = 0  # lines that were not JSON or not a valid chain event (each is also in `errors`)

    def entries(self) -> Iterator[tuple[Result, HistoryEntry]]:
        """Each stage's history entry once, with the latest result that carries it: a stream holding
        `analyze` and `optimize` results of one task (e.g. two tee'd reports concatenated) repeats the
        analyze entry in the optimize result's history."""
        latest: dict[tuple[str, str, str], tuple[Result, HistoryEntry]] = {}
        for result in self.results:
            for entry in result.task.history:
                latest[(result.task_id, entry.stage, entry.at)] = (result, entry)
        return iter(latest.values())


def tee_lines(stream: BinaryIO, tee: BinaryIO | None = None, chunk_size: int = 1 << 16) -> Iterator[bytes]:
    """The lines of `stream` (with their newline); with `tee`, each chunk read is first copied to `tee`
    unchanged and flushed, so a reader downstream of the report sees the stream as soon as it arrives."""
    read = getattr(stream, "read1", stream.read)
    pending = b""
    while chunk := read(chunk_size):
        if tee is not None:
            tee.write(chunk)
            tee.flush()
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def _preview(raw: bytes) -> str:
    text = raw[:RAW_PREVIEW].decode("utf-8", errors="backslashreplace")
    return text + (f"... [{len(raw)} bytes]" if len(raw) > RAW_PREVIEW else "")


def read(lines: Iterable[bytes], tee: BinaryIO | None = None) -> StreamReport:
    """Collect a report's input; with `tee`, write every line to it unchanged as it is read."""
    report = StreamReport()
    for lineno, raw in enumerate(lines, 1):
        report.lines = lineno
        if tee is not None:
            tee.write(raw)
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            report.malformed += 1
            report.errors.append(
                ErrorEvent(
                    message=f"line {lineno} is not valid JSON: {exc}",
                    line=lineno,
                    raw=_preview(line),
                    task_id=None,
                    stage="report",
                )
            )
            continue
        if not isinstance(obj, dict) or "chain" not in obj:
            continue  # another tool's line (e.g. Claude Code's own events): not chain's to report
        try:
            if obj.get("type") == "result":
                report.results.append(Result.model_validate(obj))
            elif obj.get("type") == "error":
                report.errors.append(ErrorEvent.model_validate(obj))
        except ValidationError as exc:
            report.malformed += 1
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
            report.errors.append(
                ErrorEvent(
                    message=f"line {lineno}: invalid chain {obj.get('type')}: {where}: {first.get('msg')}",
                    line=lineno,
                    raw=_preview(line),
                    task_id=None,
                    stage="report",
                )
            )
    return report


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def finding(entry: HistoryEntry, key: str, default: Any = None) -> Any:
    """A stage's finding by name (typed, like `suspicious`, or stage-specific, like `speedup`), as plain JSON
    values: the reports read every finding the same way, whichever of them the model types."""
    value = entry.data.get(key)
    return default if value is None else _plain(value)


def source_path(task: Task, file: str) -> str:
    """Where a task file lives relative to the directory chain ran in, as CI wants it for annotations:
    `chain task DIR` records DIR as the task's `source`; `chain task FILE...` records the files."""
    source = task.metadata.get("source")
    if isinstance(source, str) and source:
        path = posixpath.normpath(posixpath.join(source.replace("\\", "/"), file))
    elif isinstance(source, list):
        path = next((s for s in source if isinstance(s, str) and (s == file or s.endswith("/" + file))), file)
    else:
        path = file
    return path[2:] if path.startswith("./") else path


# The last line of a pytest failure: "test_stats.py:20: AssertionError" (where the test failed).
_WHERE = re.compile(r"^(?P<file>[^\s:][^:\n]*\.py):(?P<line>\d+): (?P<exc>\S.*)$", re.M)


def failure_location(message: str | None) -> tuple[str, int] | None:
    """The file and line the traceback of a failed test ends in (pytest's `path:line: Exception`)."""
    found = list(_WHERE.finditer(message or ""))
    return (found[-1]["file"], int(found[-1]["line"])) if found else None


def crash_message(text: str | None) -> str:
    """pytest's short failure message (its `reprcrash.message`, what `--junitxml` puts in `message=`), from
    the long text chain carries: the last block of `E` lines with the marker column removed."""
    if not text:
        return ""
    blocks: list[list[str]] = []
    previous_was_e = False
    for line in text.splitlines():
        is_e = line.startswith("E ") or line == "E"
        if is_e and not previous_was_e:
            blocks.append([])
        if is_e:
            blocks[-1].append(line)
        previous_was_e = is_e
    if not blocks:
        return text.strip().splitlines()[0] if text.strip() else ""
    block = blocks[-1]
    width = len(block[0]) - len(block[0][1:].lstrip(" "))  # "E" plus the indent of the first line
    return "\n".join(line[width:] for line in block)


def changed_runs(diff: str) -> list[tuple[str, int, int, str, str]]:
    """Each run of changed lines in a unified diff: (old path, first old line, old line count, old, new)."""
    try:
        files = parse(diff)
    except PatchError:
        return []
    out = []
    for old_path, new_path, hunks in files:
        path = new_path if old_path == "/dev/null" else old_path
        for start, body in hunks:
            line, run_start = start, None
            removed: list[str] = []
            added: list[str] = []
            for text in [*body, " \n"]:  # a trailing context line closes the last run
                mark, content = text[:1], text[1:]
                if mark in "-+":
                    if run_start is None:
                        run_start = line
                    (removed if mark == "-" else added).append(content)
                    line += mark == "-"
                    continue
                if run_start is not None:
                    out.append((path, run_start, len(removed), "".join(removed), "".join(added)))
                    run_start, removed, added = None, [], []
                line += 1
    return out
