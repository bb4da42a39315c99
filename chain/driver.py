"""Drive one stage from a byte stream to a byte stream: the whole life of `chain analyze` minus argument
parsing. Signals and a closed stdout end the run the documented way (see `ExitStatus`)."""

from __future__ import annotations

import os
import select
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .claude import harvest, to_claude_input
from .context import StageContext
from .errors import ExitStatus
from .execute import TaskRunner
from .pipeline import Counters, StageProcessor
from .protocol import Result
from .registry import StageSpec
from .store import ProfileStore
from .stream import Batch, Flush, Item, StreamWriter, classify_batch, dump, read_batches

OUTPUT_FORMATS = ("stream-json", "claude-input")


@dataclass
class StageRun:
    spec: StageSpec
    ctx: StageContext
    store: ProfileStore | None
    concurrency: int
    ordered: bool = True
    output_format: str = "stream-json"
    fail_on: frozenset[str] = frozenset()
    log: Callable[[str], None] = lambda msg: None
    on_result: Callable[[Result], None] | None = None
    runner: TaskRunner | None = None
    counters: Counters = field(default_factory=Counters)

    def processor(self) -> StageProcessor:
        proc = StageProcessor(
            self.spec,
            self.ctx,
            store=self.store,
            concurrency=self.concurrency,
            ordered=self.ordered,
            log=self.log,
            on_result=self.on_result,
            runner=self.runner,
        )
        self.counters = proc.counters
        return proc


def _emit(writer: StreamWriter, out: Any, fmt: str) -> None:
    # `out` is an Item, a line (bytes) or a run of lines (Batch/list): told apart by class identity, the
    # cheapest test on the hot path, which a type checker cannot follow, hence Any.
    cls = out.__class__
    if fmt == "claude-input":
        # Claude reads only user messages: each result becomes one; every other line is left out.
        if cls is Item and out.kind == "result":
            writer.write_event(to_claude_input(out.event))
        return
    if cls is Batch or cls is list:
        writer.write_lines(out)
    elif cls is bytes:
        writer.write_raw(out)
    elif out.event is not None:
        writer.write_event(out.event)
    else:
        writer.write_raw(out.raw)


def as_input(outputs: Iterable[Any], stage: str) -> Iterator[Batch]:
    """Turn one stage's output into the next stage's input exactly as a shell pipe would: every emitted line
    is serialized and classified again, batches end where the upstream flushed."""
    lines: list[bytes] = []
    lineno = 1
    for out in outputs:
        cls = out.__class__
        if cls is Flush:
            if lines:
                yield classify_batch(lines, lineno, stage)
                lineno += len(lines)
                lines = []
        elif cls is Batch or cls is list:
            lines.extend(out)
        elif cls is bytes:
            lines.append(out)
        elif out.event is not None:
            lines.append(dump(out.event).rstrip(b"\n"))
        else:
            lines.append(out.raw)
    if lines:
        yield classify_batch(lines, lineno, stage)


def chained(runs: list[StageRun], processors: list[StageProcessor], source: Iterable[Batch]) -> Iterable[Any]:
    """Each stage's output fed to the next exactly as through a shell pipe (see `as_input`)."""
    stream: Iterable[Any] = source
    for i, (r, proc) in enumerate(zip(runs, processors)):
        stream = proc(harvest(as_input(stream, r.spec.name)) if i else stream)
    return stream


def drive(run: StageRun | list[StageRun], stdin: BinaryIO, stdout: BinaryIO) -> ExitStatus:
    """Run one stage, or several chained in-process (`chain run`), from stdin to stdout."""
    runs = run if isinstance(run, list) else [run]
    processors = [r.processor() for r in runs]
    restore = _install_signal_handlers(processors)
    _watch_reader(stdout, processors)
    writer = StreamWriter(stdout)
    stream = chained(runs, processors, harvest(read_batches(stdin, runs[0].spec.name)))
    fmt = runs[-1].output_format
    pipe_closed = False
    try:
        for out in stream:
            if pipe_closed:
                continue  # drain so sandboxes are reaped, but write nothing more
            try:
                if out.__class__ is Flush:
                    writer.flush()
                else:
                    _emit(writer, out, fmt)
            except BrokenPipeError:
                pipe_closed = True
                for proc in processors:
                    proc.cancel("stdout closed")
        if not pipe_closed:
            try:
                writer.flush()
            except BrokenPipeError:
                pipe_closed = True
    finally:
        restore()
        if pipe_closed:
            _silence_stdout()
    reasons = {p.cancel_reason for p in processors}
    if "SIGINT" in reasons:
        return ExitStatus.INTERRUPTED
    if "SIGTERM" in reasons:
        return ExitStatus.TERMINATED
    if pipe_closed or "stdout closed" in reasons:
        return ExitStatus.BROKEN_PIPE
    if any(p.counters.bad_lines for p in processors):
        return ExitStatus.BAD_INPUT
    for p in processors:
        if p.counters.errors:  # a task (or the input reader) raised: the first error's own status
            return p.counters.errors[0]
    last = processors[-1].counters
    if any(last.statuses.get(s) for s in runs[-1].fail_on):
        return ExitStatus.TASKS_FAILED
    return ExitStatus.OK


def _watch_reader(stdout: BinaryIO, processors: list[StageProcessor]) -> None:
    """Notice when the reader of our stdout pipe goes away even while we are not writing (e.g. `| head -1`
    while a long test runs), so in-flight sandboxes are killed at once instead of at the next write."""
    try:
        fd = stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
    except (OSError, ValueError, AttributeError):
        return

    def watch() -> None:
        poller = select.poll()
        poller.register(fd, 0)  # POLLERR/POLLHUP are always reported: the read end was closed
        while True:
            for _, events in poller.poll():
                if events & (select.POLLERR | select.POLLHUP):
                    for processor in processors:
                        processor.cancel("stdout closed")
                    return

    threading.Thread(target=watch, name="chain-stdout-watch", daemon=True).start()


def _silence_stdout() -> None:
    # Python flushes sys.stdout at exit; with the reader gone that would print a BrokenPipeError.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _install_signal_handlers(processors: list[StageProcessor]) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    seen: list[int] = []

    def handler(signum, _frame):
        if seen:  # a second signal: the user means it
            for processor in processors:
                processor.ctx.sandbox.kill_all()
            os._exit(128 + signum)
        seen.append(signum)
        for processor in processors:
            processor.cancel(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
