"""Running one stage over a stream: concurrency, ordering, bounded memory, learning, cancellation.

`StageProcessor` is a plain iterator -> iterator processor over batches of lines. Its input is pulled by a
feeder thread one batch at a time (a batch ends wherever the upstream might block), so finished results are
emitted even while the input is idle. Tasks run on a thread pool (each one mostly waits on a
sandboxed subprocess); lines the stage does not handle are passed through untouched and in order.

Memory is bounded: at most `task_window` tasks and `line_window` items are held at once, and the feeder
reads ahead by at most one batch.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .context import StageContext
from .errors import ChainError, ExitStatus, exit_status_of
from .execute import TaskRunner
from .protocol import ErrorEvent, Result
from .registry import StageSpec
from .store import ProfileStore
from .stream import FLUSH, Batch, Flush, Item

BATCH_MAX = 4096


@dataclass
class Counters:
    lines: int = 0
    tasks: int = 0
    bad_lines: int = 0
    internal_errors: int = 0  # tasks that became an `error` event instead of a result
    statuses: dict[str, int] = field(default_factory=dict)
    # What task threads and the input reader raised, as exit statuses (`exit_status_of`), in output order.
    errors: list[ExitStatus] = field(default_factory=list)


class _Slot:
    __slots__ = ("error_status", "is_task", "item", "notices", "output")

    def __init__(self, item: Item | None, output: Any = None, is_task: bool = False):
        self.item, self.output, self.is_task = item, output, is_task
        self.notices: list = []
        self.error_status: ExitStatus | None = None  # set when the task raised instead of giving a result


class _Feeder:
    """Pulls the upstream iterator of Batches on its own thread, one batch per credit."""

    def __init__(self, source: Iterable[Batch], inbox: queue.SimpleQueue):
        self._source, self._inbox = source, inbox
        self._credit = threading.Semaphore(0)
        threading.Thread(target=self._run, name="chain-feeder", daemon=True).start()

    def request(self) -> None:
        self._credit.release()

    def _run(self) -> None:
        try:
            for batch in self._source:
                if batch:
                    self._credit.acquire()
                    self._inbox.put(("batch", batch))
        except BaseException as exc:  # reported, then the input counts as ended
            self._inbox.put(("feed-error", exc))
        self._inbox.put(("eof", None))


class StageProcessor:
    def __init__(
        self,
        spec: StageSpec,
        ctx: StageContext,
        *,
        store: ProfileStore | None = None,
        concurrency: int = 1,
        ordered: bool = True,
        log: Callable[[str], None] = lambda msg: None,
        on_result: Callable[[Result], None] | None = None,
        runner: TaskRunner | None = None,
    ):
        self.spec, self.ctx, self.store = spec, ctx, store
        self.runner = runner or TaskRunner(spec, ctx, store, log=log)
        self.concurrency = max(1, concurrency)
        self.ordered = ordered
        self.log = log
        self.on_result = on_result
        self.task_window = 4 * self.concurrency
        self.line_window = max(1024, 8 * self.concurrency)
        self.counters = Counters()
        self.cancel_reason: str | None = None
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    # -- cancellation (safe to call from a signal handler: only C-level, reentrant operations) ---------------
    def cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.ctx.cancel.set()
        self.ctx.sandbox.kill_all()
        self._inbox.put(("cancel", reason))

    # -- per-task work, on a pool thread ----------------------------------------------------------------------
    def _cancelled_output(self, item: Item | None, why: str) -> Item:
        assert item is not None and item.task is not None  # a task slot always holds its task
        return Item("result", item.lineno, b"", event=self.runner.cancelled(item.task, why))

    def _work(self, slot: _Slot) -> None:
        item = slot.item
        assert item is not None and item.task is not None  # a task slot always holds its task
        if self.ctx.cancel.is_set():
            slot.output = self._cancelled_output(item, f"cancelled ({self.cancel_reason}) before it ran")
            return
        try:
            out = self.runner.run(item.task)
        except Exception as exc:
            self._failed(slot, exc)
            return
        slot.notices = [Item("notice", item.lineno, b"", event=n) for n in out.notices]
        slot.output = Item("result", item.lineno, b"", event=out.result)

    def _failed(self, slot: _Slot, exc: BaseException) -> None:
        """The task raised: it becomes an `error` event naming it, and its exit status is kept for the end."""
        item = slot.item
        assert item is not None and item.task is not None
        # A ChainError's message is written for a user; anything else is a bug, shown with its type.
        why = str(exc) if isinstance(exc, ChainError) else repr(exc)
        event = ErrorEvent(
            message=f"{self.spec.name} failed on task {item.task.id}: {why}",
            task_id=item.task.id,
            stage=self.spec.name,
            line=item.lineno,
        )
        slot.output = Item("error", item.lineno, b"", event=event)
        slot.error_status = exit_status_of(exc)

    def _done(self, slot: _Slot, future: Future) -> None:
        if future.cancelled():
            slot.output = self._cancelled_output(slot.item, f"cancelled ({self.cancel_reason}) before it ran")
        elif (exc := future.exception()) is not None:  # a BaseException that is not an Exception (SystemExit)
            self._failed(slot, exc)
        self._inbox.put(("done", slot))

    def _account(self, slot: _Slot) -> None:
        out = slot.output
        if slot.error_status is not None:
            self.counters.errors.append(slot.error_status)
        if out.kind == "result":
            status = out.event.status
            self.counters.statuses[status] = self.counters.statuses.get(status, 0) + 1
            if self.on_result:
                self.on_result(out.event)
        elif out.kind == "error" and out.event.task_id is not None:
            self.counters.internal_errors += 1

    # -- the stream loop ---------------------------------------------------------------------------------------
    def __call__(self, source: Iterable[Batch]) -> Iterator[Any]:
        """Yields, in order: `list[bytes]` runs of lines passed through, single `bytes` lines, `Item`s (results,
        error events, passed-through items) and FLUSH whenever it is about to wait."""
        inbox = self._inbox
        feeder = _Feeder(source, inbox)
        feeder.request()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"chain-{self.spec.name}")
        batch: Batch = Batch()
        pos = 0
        window: deque[_Slot] = deque()  # ordered mode: everything not yet emitted, in input order
        finished: deque[_Slot] = deque()  # unordered mode: completed tasks waiting to be emitted
        tasks_open = 0
        requested, eof, stopping = True, False, False
        counters = self.counters
        ordered = self.ordered
        try:
            while True:
                # 1. Emit whatever is ready, in order.
                if ordered:
                    while window and window[0].output is not None:
                        slot = window.popleft()
                        if slot.is_task:
                            tasks_open -= 1
                            self._account(slot)
                            yield from slot.notices
                        yield slot.output
                else:
                    while finished:
                        slot = finished.popleft()
                        tasks_open -= 1
                        self._account(slot)
                        yield from slot.notices
                        yield slot.output
                # 2. Take input while there is room.
                if pos < len(batch) and not stopping:
                    if pos == 0 and not batch.n_items and not (ordered and window):
                        # Fast path: a batch of plain lines with nothing ahead of it goes out whole.
                        counters.lines += len(batch)
                        pos = len(batch)
                        yield batch
                    while pos < len(batch):
                        item = batch[pos]
                        if item.__class__ is bytes:
                            if ordered and window:
                                if len(window) >= self.line_window:
                                    break
                                window.append(_Slot(None, item))
                            else:
                                yield item
                        elif item.kind == "task":
                            if tasks_open >= self.task_window or (ordered and len(window) >= self.line_window):
                                break
                            counters.tasks += 1
                            slot = _Slot(item, is_task=True)
                            tasks_open += 1
                            if ordered:
                                window.append(slot)
                            future = pool.submit(self._work, slot)
                            future.add_done_callback(partial(self._done, slot))
                        else:
                            if item.kind == "error":
                                counters.bad_lines += 1
                            if ordered and window:
                                if len(window) >= self.line_window:
                                    break
                                window.append(_Slot(item, item))
                            else:
                                yield item
                        pos += 1
                        counters.lines += 1
                if pos >= len(batch) and not eof and not requested and not stopping:
                    feeder.request()
                    requested = True
                if (eof or stopping) and pos >= len(batch) and tasks_open == 0 and not window:
                    break
                if stopping and not tasks_open and not window:
                    break
                if ordered and window and window[0].output is not None:
                    continue
                # 3. Nothing to do until input or a result arrives: let the writer flush, then wait.
                yield FLUSH
                kind, payload = inbox.get()
                if kind == "batch":
                    batch, pos = payload, 0
                    requested = False
                elif kind == "eof":
                    eof = True
                elif kind == "done":
                    if not ordered:
                        finished.append(payload)
                elif kind == "cancel":
                    stopping = True
                    batch, pos = Batch(), 0
                    pool.shutdown(wait=False, cancel_futures=True)
                elif kind == "feed-error":  # said on stderr, and the exit status says the input was cut short
                    self.log(f"{self.spec.name}: input ended early: {payload}")
                    counters.errors.append(exit_status_of(payload))
        finally:
            if tasks_open or not eof:
                self.ctx.cancel.set()
                self.ctx.sandbox.kill_all()
            pool.shutdown(wait=True, cancel_futures=True)


def stage_events(outputs: Iterable[Any]) -> Iterator[Any]:
    """Library helper: one entry per output line (Item or raw bytes), without flush markers."""
    for out in outputs:
        if out.__class__ is list or out.__class__ is Batch:
            yield from out
        elif not isinstance(out, Flush):
            yield out
