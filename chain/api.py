"""The Python API: run a stage over events without a subprocess or a CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from . import registry
from .context import StageContext
from .pipeline import StageProcessor, stage_events
from .profiles import load_profile
from .protocol import Task
from .store import ProfileStore
from .claude import harvest
from .stream import Batch, batches, classify_batch, dump


def _as_batches(events: Iterable[Any]) -> Iterable[Batch]:
    lines = (event if isinstance(event, bytes) else dump(event).rstrip(b"\n") for event in events)
    lineno = 1
    for group in batches(lines):
        yield classify_batch(list(group), lineno)
        lineno += len(group)


def make_context(stage: str, profile: str = "balanced", sandbox: str = "local", timeout: float | None = None,
                 log=lambda msg: None, verbose=None, seed: int = 0) -> StageContext:
    return StageContext(
        stage=stage, profile=load_profile(profile), sandbox=registry.sandbox(sandbox, verbose=verbose),
        timeout_s=timeout, log=log, seed=seed,
    )


def run_stage_on(
    stage: str,
    events: Iterable[Task | dict | bytes],
    *,
    profile: str = "balanced",
    sandbox: str = "local",
    state: str | Path | None = None,
    concurrency: int | None = None,
    ordered: bool = True,
    timeout: float | None = None,
    learn: bool = True,
) -> list[Any]:
    """Run `stage` over `events` (tasks, chain results or any other lines) and return what it emits:
    Result / ErrorEvent models for chain events and raw bytes for lines passed through."""
    spec = registry.stage(stage)
    ctx = make_context(stage, profile, sandbox, timeout)
    store = ProfileStore(state) if learn else None
    processor = StageProcessor(spec, ctx, store=store, concurrency=concurrency or os.cpu_count() or 1,
                               ordered=ordered)
    try:
        return [out if out.__class__ is bytes else out.event if out.event is not None else out.raw for out in stage_events(processor(harvest(_as_batches(events))))]
    finally:
        ctx.sandbox.close()
        if store:
            store.close()
