"""The Python API: build and run stages without a subprocess; the CLI is a thin layer over `prepare_run`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import registry
from .claude import harvest
from .context import StageContext, StageOptions
from .driver import StageRun
from .errors import ConfigError
from .execute import TaskRunner
from .pipeline import stage_events
from .protocol import Result, Task
from .registry import StageSpec
from .resilience import CircuitBreaker
from .sandbox import Sandbox
from .store import ProfileStore
from .strategy import load_all, load_profile
from .stream import Batch, batches, classify_batch, dump


def open_sandbox(
    name: str,
    *,
    verbose: Callable[[str], None] | None = None,
    e2b_template: str | None = None,
    ray_address: str | None = None,
    sandbox_ro: tuple[str, ...] = (),
    python: str | None = None,
) -> Sandbox:
    """A sandbox backend by name; `e2b_template` reaches only the e2b backend (no other one has templates),
    `ray_address` only the ray backend, `sandbox_ro` (extra read-only paths) only backends with a
    filesystem view of their own making, `python` (the project's interpreter, --python) every local one
    (e2b and ray run their own)."""
    extra: dict[str, Any] = {"template": e2b_template} if name == "e2b" and e2b_template else {}
    if name == "ray" and ray_address:
        extra = {"address": ray_address}
    if sandbox_ro:
        cls = registry.get().sandboxes.get(name)
        if cls is not None and not getattr(cls, "takes_read_only", False):
            raise ConfigError(f"--sandbox-ro: the {name} backend does not take extra read-only paths")
        extra["read_only"] = tuple(sandbox_ro)
    if python and name not in ("e2b", "ray"):
        from .sandbox.environment import inspect

        inspect(python)  # a bad --python is a usage error before any work
        extra["python"] = python
    return registry.sandbox(name, verbose=verbose, **extra)


def make_context(
    stage: str,
    profile: str = "balanced",
    sandbox: str | Sandbox = "auto",
    timeout: float | None = None,
    log: Callable[[str], None] = lambda msg: None,
    verbose: Callable[[str], None] | None = None,
    seed: int = 0,
    options: StageOptions | None = None,
    e2b_template: str | None = None,
    ray_address: str | None = None,
    sandbox_ro: tuple[str, ...] = (),
    python: str | None = None,
) -> StageContext:
    """`sandbox` is a backend name, or a backend instance to share between stages (the bench reuses one warm
    pool across all its runs; the caller then owns closing it)."""
    box = (
        open_sandbox(
            sandbox,
            verbose=verbose,
            e2b_template=e2b_template,
            ray_address=ray_address,
            sandbox_ro=sandbox_ro,
            python=python,
        )
        if isinstance(sandbox, str)
        else sandbox
    )
    return StageContext(
        stage=stage,
        profile=load_profile(profile),
        sandbox=box,
        timeout_s=timeout,
        log=log,
        seed=seed,
        options=options or StageOptions(),
        breaker=CircuitBreaker(f"sandbox {box.name}"),
    )


def prepare_run(
    spec: StageSpec,
    *,
    profile: str = "balanced",
    race: list[str] | None = None,
    race_deadline: float | None = None,
    sandbox: str | Sandbox = "auto",
    timeout: float | None = None,
    seed: int = 0,
    store: ProfileStore | None = None,
    concurrency: int | None = None,
    ordered: bool = True,
    output_format: str = "stream-json",
    fail_on: frozenset[str] = frozenset(),
    log: Callable[[str], None] = lambda msg: None,
    mirror: Callable[[str], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
    options: StageOptions | None = None,
    e2b_template: str | None = None,
    ray_address: str | None = None,
    sandbox_ro: tuple[str, ...] = (),
    python: str | None = None,
) -> StageRun:
    """Everything one stage needs to run: context, profile strategy (fixed / auto / race), learning."""
    race = race or []
    auto = profile == "auto"
    profiles = load_all() if (auto or race) else None
    if race and profiles is not None:
        missing = [n for n in race if n not in profiles]
        if missing:
            raise ConfigError(f"--race: no such profile {missing[0]!r}; available: {', '.join(profiles)}")
    # auto and race decide per task; the base profile only names results of tasks cancelled before they ran.
    ctx = make_context(
        spec.name,
        "balanced" if auto or race else profile,
        sandbox,
        timeout,
        log=log,
        verbose=mirror,
        seed=seed,
        options=options,
        e2b_template=e2b_template,
        ray_address=ray_address,
        sandbox_ro=sandbox_ro,
        python=python,
    )
    runner = TaskRunner(
        spec, ctx, store, profiles=profiles, auto=auto, race=race, race_deadline_s=race_deadline, log=log
    )
    # Without -j, as many tasks at once as the sandbox can run: a cluster backend says (`capacity`). Asked
    # even with -j: a cluster backend joins its cluster then, so one it cannot join is a usage error (exit 4)
    # before any work.
    capacity = getattr(ctx.sandbox, "capacity", None)
    concurrency = concurrency or capacity or os.cpu_count() or 1
    return StageRun(
        spec=spec,
        ctx=ctx,
        store=store,
        concurrency=concurrency,
        ordered=ordered,
        output_format=output_format,
        fail_on=fail_on,
        log=log,
        on_result=on_result,
        runner=runner,
    )


def _as_batches(events: Iterable[Any]) -> Iterable[Batch]:
    lines = (event if isinstance(event, bytes) else dump(event).rstrip(b"\n") for event in events)
    lineno = 1
    for group in batches(lines):
        yield classify_batch(list(group), lineno)
        lineno += len(group)


def run_stage_on(
    stage: str,
    events: Iterable[Task | dict | bytes],
    *,
    state: str | Path | None = None,
    learn: bool = True,
    **kwargs: Any,
) -> list[Any]:
    """Run `stage` over `events` (tasks, chain results or any other lines) and return what it emits:
    Result / ErrorEvent / Notice models for chain events and raw bytes for lines passed through.
    Keyword arguments are those of `prepare_run` (profile="auto", race=[...], sandbox=..., ...)."""
    store = ProfileStore(state) if learn else None
    run = prepare_run(registry.stage(stage), store=store, **kwargs)
    processor = run.processor()
    try:
        return [
            out if out.__class__ is bytes else out.event if out.event is not None else out.raw
            for out in stage_events(processor(harvest(_as_batches(events))))
        ]
    finally:
        run.ctx.sandbox.close()
        if store:
            store.close()
