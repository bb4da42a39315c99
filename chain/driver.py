"""Drive one stage from a byte stream to a byte stream: the whole life of `chain analyze` minus argument
parsing. Signals and a closed stdout end the run the documented way (see `ExitStatus`)."""

from __future__ import annotations

import os
import select
import signal
import stat
import sys
import threading
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable

from .claude import harvest, to_claude_input
from .context import StageContext
from .errors import ExitStatus
from .pipeline import Counters, StageProcessor
from .protocol import Result
from .registry import StageSpec
from .store import ProfileStore
from .stream import Batch, Flush, Item, StreamWriter, read_batches

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
    counters: Counters = field(default_factory=Counters)


def _emit(writer: StreamWriter, out: Item | bytes | list, fmt: str) -> None:
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


def drive(run: StageRun, stdin: BinaryIO, stdout: BinaryIO) -> ExitStatus:
    processor = StageProcessor(
        run.spec, run.ctx, store=run.store, concurrency=run.concurrency, ordered=run.ordered,
        log=run.log, on_result=run.on_result,
    )
    run.counters = processor.counters
    restore = _install_signal_handlers(processor)
    _watch_reader(stdout, processor)
    writer = StreamWriter(stdout)
    outputs = processor(harvest(read_batches(stdin, run.spec.name)))
    pipe_closed = False
    try:
        for out in outputs:
            if pipe_closed:
                continue  # drain so sandboxes are reaped, but write nothing more
            try:
                if out.__class__ is Flush:
                    writer.flush()
                else:
                    _emit(writer, out, run.output_format)
            except BrokenPipeError:
                pipe_closed = True
                processor.cancel("stdout closed")
        if not pipe_closed:
            try:
                writer.flush()
            except BrokenPipeError:
                pipe_closed = True
    finally:
        restore()
        if pipe_closed:
            _silence_stdout()
    counters = processor.counters
    if processor.cancel_reason == "SIGINT":
        return ExitStatus.INTERRUPTED
    if processor.cancel_reason == "SIGTERM":
        return ExitStatus.TERMINATED
    if pipe_closed or processor.cancel_reason == "stdout closed":
        return ExitStatus.BROKEN_PIPE
    if counters.bad_lines:
        return ExitStatus.BAD_INPUT
    if any(counters.statuses.get(s) for s in run.fail_on):
        return ExitStatus.TASKS_FAILED
    return ExitStatus.OK


def _watch_reader(stdout: BinaryIO, processor: StageProcessor) -> None:
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


def _install_signal_handlers(processor: StageProcessor) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    seen: list[int] = []

    def handler(signum, _frame):
        if seen:  # a second signal: the user means it
            processor.ctx.sandbox.kill_all()
            os._exit(128 + signum)
        seen.append(signum)
        processor.cancel(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
