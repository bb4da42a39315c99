"""Reading and writing NDJSON streams.

`read_items` reads the input in chunks and turns each raw line into an `Item`: a chain task to work on,
something to pass through byte-for-byte, or an `error` event for a malformed line. Nothing is ever dropped.

Writing (`StreamWriter`) buffers and flushes whenever the producer is about to wait, so a downstream reader
sees every event as soon as it exists, while a fast stream still gets written in large blocks.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

import orjson
from pydantic import ValidationError

from .protocol import ErrorEvent, Result, Task

CHUNK_SIZE = 1 << 16
MAX_LINE_BYTES = int(os.environ.get("CHAIN_MAX_LINE_BYTES", 64 << 20))
RAW_PREVIEW = 4096  # how much of an oversized or undecodable line an error event carries


class Flush:
    """Marker yielded by a processor right before it may block: the writer flushes on it."""


FLUSH = Flush()


@dataclass(slots=True)
class Item:
    """One input line, classified.

    kind: "task" (work for the stage; `task` set), "pass" (emit `raw` unchanged), "error" (emit `event`).
    `source` is the parsed object when the line came as a chain `result` (the stage continues its task).
    """

    kind: str
    lineno: int
    raw: bytes
    task: Task | None = None
    event: Any = None
    source: dict | None = None


def is_chain_event(obj: dict, kind: str) -> bool:
    return obj.get("type") == kind and "chain" in obj


def _preview(raw: bytes) -> str:
    text = raw[:RAW_PREVIEW].decode("utf-8", errors="backslashreplace").rstrip("\r\n")
    if len(raw) > RAW_PREVIEW:
        text += f"... [{len(raw)} bytes]"
    return text


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)


def classify(raw: bytes, lineno: int, stage: str | None = None) -> Item:
    """Turn one raw line (with its newline) into an Item. Never raises."""
    if len(raw) > MAX_LINE_BYTES:
        msg = f"line {lineno} is {len(raw)} bytes, over the {MAX_LINE_BYTES}-byte limit (CHAIN_MAX_LINE_BYTES)"
        return Item("error", lineno, raw, event=ErrorEvent(message=msg, line=lineno, raw=_preview(raw), stage=stage))
    stripped = raw.strip()
    if not stripped:
        return Item("pass", lineno, raw)
    try:
        obj = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        msg = f"line {lineno} is not valid JSON: {exc}"
        return Item("error", lineno, raw, event=ErrorEvent(message=msg, line=lineno, raw=_preview(raw), stage=stage))
    if not isinstance(obj, dict):
        return Item("pass", lineno, raw)
    kind = obj.get("type")
    # A task without the version key is accepted (hand-written with jq); a `result` must carry it, since
    # Claude Code's own `result` lines share the type name.
    if kind == "task" or is_chain_event(obj, "result"):
        try:
            if kind == "task":
                task = Task.model_validate(obj)
            else:
                task = Result.model_validate(obj).task
        except ValidationError as exc:
            msg = f"line {lineno}: invalid chain {kind}: {_validation_message(exc)}"
            return Item("error", lineno, raw, event=ErrorEvent(message=msg, line=lineno, raw=_preview(raw), stage=stage))
        return Item("task", lineno, raw, task=task, source=obj if kind == "result" else None)
    return Item("pass", lineno, raw, source=obj)


def read_items(stream: BinaryIO, stage: str | None = None) -> Iterator[Item | Flush]:
    """Classified input lines, numbered from 1, with a FLUSH after each chunk read (where the next read may
    block). Lines are read in chunks straight from the descriptor; a runaway line is cut to a preview."""
    fd = stream.fileno() if _has_fd(stream) else None

    def read() -> bytes:
        if fd is not None:
            return os.read(fd, CHUNK_SIZE)
        return stream.read1(CHUNK_SIZE) if hasattr(stream, "read1") else stream.read(CHUNK_SIZE)

    pending = b""
    lineno = 0
    while True:
        chunk = read()
        if not chunk:
            if pending:
                yield classify(pending, lineno + 1, stage)
            return
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            # No newline yet; keep at most a preview's worth beyond the limit so memory stays bounded.
            pending = data if len(data) <= MAX_LINE_BYTES else data[: MAX_LINE_BYTES + 1]
            continue
        pending = data[cut + 1 :]
        for raw in data[:cut].split(b"\n"):  # lines travel without their newline
            lineno += 1
            yield classify(raw, lineno, stage)
        yield FLUSH


def _has_fd(stream: Any) -> bool:
    try:
        stream.fileno()
        return True
    except (OSError, ValueError, AttributeError):
        return False


def iter_items(stream: BinaryIO, stage: str | None = None) -> Iterator[Item]:
    """Synchronous item iterator (for library use and tests); stages use the threaded reader."""
    for lineno, raw in enumerate(stream, 1):
        yield classify(raw.rstrip(b"\n"), lineno, stage)


def dump(event: Any) -> bytes:
    """Serialize a model or dict as one NDJSON line."""
    if hasattr(event, "model_dump"):
        event = event.model_dump(mode="json")
    return orjson.dumps(event) + b"\n"


class StreamWriter:
    """Buffered NDJSON writer: `write_raw` lines (without newline) or `write_event`s; `flush` when the
    producer is about to wait."""

    def __init__(self, stream: BinaryIO):
        if _has_fd(stream):
            # Our own large buffer over the descriptor: one write(2) per 64 KiB on a fast stream.
            stream.flush()
            stream = io.BufferedWriter(io.FileIO(stream.fileno(), "wb", closefd=False), CHUNK_SIZE)
        self._stream = stream
        self._write = stream.write

    def write_raw(self, raw: bytes) -> None:
        self._write(raw)
        self._write(b"\n")

    def write_event(self, event: Any) -> None:
        self._write(dump(event))

    def flush(self) -> None:
        self._stream.flush()
