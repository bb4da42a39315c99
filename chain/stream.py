"""Reading and writing NDJSON streams.

`read_items` reads the input in chunks and turns each raw line into an `Item`: a chain task to work on,
something to pass through byte-for-byte, or an `error` event for a malformed line. Nothing is ever dropped.

Writing (`StreamWriter`) buffers and flushes whenever the producer is about to wait, so a downstream reader
sees every event as soon as it exists, while a fast stream still gets written in large blocks.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

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


# Lines of these types become Items (tasks, chain results to continue from, Claude lines to harvest code from);
# every other valid line stays raw bytes and is passed through without further Python work.
CLAUDE_TYPES = frozenset({"system", "assistant", "user", "result", "stream_event"})
_INTERESTING = CLAUDE_TYPES | {"task"}


class Batch(list):
    """Consecutive input lines: raw `bytes` (pass through unchanged, no newline) or `Item`s.

    `n_items` counts the Items, so a batch of plain lines can be passed on whole without looking at each line.
    """

    __slots__ = ("n_items",)

    def __init__(self, *args, n_items: int = 0):
        super().__init__(*args)
        self.n_items = n_items


def _error(raw: bytes, lineno: int, stage: str | None, message: str) -> Item:
    return Item("error", lineno, raw, event=ErrorEvent(message=message, line=lineno, raw=_preview(raw), stage=stage))


def classify(raw: bytes, lineno: int, stage: str | None = None) -> Item:
    """Turn one raw line (without its newline) into an Item. Never raises."""
    if len(raw) > MAX_LINE_BYTES:
        return _error(
            raw,
            lineno,
            stage,
            f"line {lineno} is {len(raw)} bytes, over the {MAX_LINE_BYTES}-byte limit (CHAIN_MAX_LINE_BYTES)",
        )
    if not raw.strip():
        return Item("pass", lineno, raw)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(raw, lineno, stage, f"line {lineno} is not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return Item("pass", lineno, raw)
    return classify_object(raw, obj, lineno, stage)


def classify_object(raw: bytes, obj: dict, lineno: int, stage: str | None = None) -> Item:
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
            return _error(raw, lineno, stage, f"line {lineno}: invalid chain {kind}: {_validation_message(exc)}")
        return Item("task", lineno, raw, task=task, source=obj if kind == "result" else None)
    return Item("pass", lineno, raw, source=obj)


def classify_batch(lines: list[bytes], first_lineno: int, stage: str | None = None) -> Batch:
    """The hot loop of every stage: parse each line once, keep plain lines as bytes."""
    out = Batch()
    append = out.append
    loads, decode_error, limit, interesting = orjson.loads, orjson.JSONDecodeError, MAX_LINE_BYTES, _INTERESTING
    n_items = 0
    lineno = first_lineno - 1
    for raw in lines:
        lineno += 1
        try:
            if len(raw) > limit:
                raise decode_error("oversized", "", 0)
            obj = loads(raw)
        except decode_error:
            append(classify(raw, lineno, stage))  # blank, oversized or malformed: the slow path says which
            n_items += 1
            continue
        if obj.__class__ is dict and obj.get("type") in interesting:
            append(classify_object(raw, obj, lineno, stage))
            n_items += 1
        else:
            append(raw)
    out.n_items = n_items
    return out


def read_batches(stream: BinaryIO, stage: str | None = None) -> Iterator[Batch]:
    """Classified input lines, numbered from 1, one Batch per chunk read (a batch ends where the next read may
    block). Lines are read in chunks straight from the descriptor; a runaway line is cut to a preview."""
    fd = stream.fileno() if _has_fd(stream) else None

    def read() -> bytes:
        if fd is not None:
            return os.read(fd, CHUNK_SIZE)
        return stream.read1(CHUNK_SIZE) if hasattr(stream, "read1") else stream.read(CHUNK_SIZE)

    # A line longer than a chunk arrives in parts: they are kept in a list and joined once, when its newline
    # comes, and only each new chunk is searched for a newline (joining on every read copied a 40 MB task line
    # ~700 times: 14 s for a task of a 2,700-file project).
    parts: list[bytes] = []
    size = 0
    lineno = 1
    while True:
        chunk = read()
        if not chunk:
            if parts:
                yield classify_batch([b"".join(parts)], lineno, stage)
            return
        cut = chunk.rfind(b"\n")
        if cut < 0:
            if size <= MAX_LINE_BYTES:  # beyond the limit keep no more: a preview is all the error needs
                parts.append(chunk)
                size += len(chunk)
            continue
        data = b"".join([*parts, chunk[:cut]]) if parts else chunk[:cut]
        tail = chunk[cut + 1 :]
        parts, size = ([tail], len(tail)) if tail else ([], 0)
        lines = data.split(b"\n")  # lines travel without their newline
        yield classify_batch(lines, lineno, stage)
        lineno += len(lines)


def batches(items: Iterable[Any], size: int = 1024) -> Iterator[Batch]:
    """Group an iterable of Items / raw lines into Batches (for library callers)."""
    batch = Batch()
    for item in items:
        batch.append(item)
        if item.__class__ is not bytes:
            batch.n_items += 1
        if len(batch) >= size:
            yield batch
            batch = Batch()
    if batch:
        yield batch


def _has_fd(stream: Any) -> bool:
    try:
        stream.fileno()
        return True
    except (OSError, ValueError, AttributeError):
        return False


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

    def write_lines(self, lines: list[bytes]) -> None:
        self._write(b"\n".join(lines))
        self._write(b"\n")

    def write_event(self, event: Any) -> None:
        self._write(dump(event))

    def flush(self) -> None:
        self._stream.flush()
