"""`chain bench`: run real stages over a suite under several configurations and measure them.

Every configuration (pattern x profile x concurrency) runs the suite `runs` times through the same code paths
as `chain <stage>` and `chain run` (prepare_run + StageProcessor, chained with `as_input` exactly like a shell
pipe), on one shared sandbox backend, with a fresh learning state per configuration (its runs share it, so
`auto` learns across them). Patterns:

* fanout   - each stage runs over the whole suite before the next starts (`chain a > x; chain b < x`), the
             tasks of a stage fanned out `concurrency` at a time;
* pipeline - the stages stream into each other and work at the same time (`chain a | chain b`);
* race     - the pipeline with every stage racing the `--race` profiles per task (scatter-gather).

Latency of a task = from the start of its first stage execution to the end of its last (queueing between
stages included, queueing at the input not: the whole suite is offered at once). Throughput = tasks / wall
time of the run. Efficiency = T(N) / (N * T(1)) against the same pattern and profile at concurrency 1.
"""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain import __version__, registry
from chain.api import prepare_run
from chain.claude import harvest
from chain.driver import as_input, chained
from chain.errors import ConfigError
from chain.protocol import Result, Task, utc_now
from chain.store import ProfileStore
from chain.strategy import load_all
from chain.stream import Item, classify_batch, dump

from .generate import truth_path_for  # noqa: F401  (where bench looks for the ground truth)
from .results import Action, BenchResults, Config, EmaPoint, Metrics, Samples, Suite, TaskOutcome
from .scoring import score_task

PATTERNS = ("fanout", "pipeline", "race")


@dataclass
class BenchPlan:
    suite: Path
    stages: list[tuple[str, str | None]]  # (stage, profile override) as in `chain run analyze process:aggressive`
    profiles: list[str] = field(default_factory=lambda: ["balanced"])
    concurrency: list[int] = field(default_factory=lambda: [1, 2])
    runs: int = 1
    patterns: list[str] = field(default_factory=lambda: ["pipeline"])
    race: list[str] = field(default_factory=list)
    sandbox: str = "auto"
    timeout: float | None = None
    seed: int = 0
    truth: dict[str, Any] | None = None
    warmup: bool = True


def load_suite(path: Path) -> tuple[list[Task], str]:
    """The suite's tasks and the sha256 of its bytes. Non-task lines are an error: a suite is tasks only."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read suite {path}: {exc.strerror or exc}") from None
    tasks = []
    for lineno, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        item = classify_batch([raw], lineno)[0]
        if getattr(item, "kind", None) != "task":
            raise ConfigError(f"{path}:{lineno}: not a chain task line")
        tasks.append(item.task)
    if not tasks:
        raise ConfigError(f"{path}: no tasks")
    return tasks, hashlib.sha256(data).hexdigest()


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class _Recorder:
    """Collects every stage result of one run as it is emitted (the action timeline)."""

    def __init__(self, clock0: float, config: str, run: int, store: ProfileStore | None):
        self.clock0, self.config, self.run = clock0, config, run
        self.actions: list[Action] = []
        self.ema: list[EmaPoint] = []
        self.lock = threading.Lock()
        self.store = store  # the run's own store (None: learning off, nothing to sample)

    def on_result(self, result: Result) -> None:
        end = time.monotonic() - self.clock0
        start = max(0.0, end - result.duration_ms / 1000)
        with self.lock:
            self.actions.append(
                Action(
                    config=self.config,
                    run=self.run,
                    task_id=result.task_id,
                    stage=result.stage,
                    profile=result.profile,
                    status=result.status,
                    start_s=round(start, 4),
                    end_s=round(end, 4),
                )
            )
            self._sample_ema(result.stage, result.profile, end)

    def _sample_ema(self, stage: str, profile: str, t: float) -> None:
        # The result's outcome was recorded (on its task thread) before the result is emitted, so the row
        # read here already includes it.
        row = self.store.profile_stat(stage, profile) if self.store is not None else None
        if row:
            self.ema.append(
                EmaPoint(
                    t_s=round(t, 4),
                    config=self.config,
                    stage=stage,
                    profile=profile,
                    ema_success=round(row["ema_success"], 4),
                    executions=row["executions"],
                )
            )


def _task_lines(tasks: list[Task]) -> list[bytes]:
    return [dump(t).rstrip(b"\n") for t in tasks]


def _stage_runs(plan: BenchPlan, pattern: str, profile: str, concurrency: int, box, store, recorder):
    runs = []
    for name, override in plan.stages:
        spec = registry.stage(name)
        race = plan.race if pattern == "race" else None
        runs.append(
            prepare_run(
                spec,
                profile=override or profile,
                race=race,
                sandbox=box,
                timeout=plan.timeout,
                seed=plan.seed,
                store=store,
                concurrency=concurrency,
                ordered=False,
                on_result=recorder.on_result,
            )
        )
    return runs


def _drain(outputs: Iterable[Any], sink: list) -> None:
    for out in outputs:
        if out.__class__ is Item:
            sink.append(out)


def _run_once(
    plan: BenchPlan,
    tasks: list[Task],
    pattern: str,
    profile: str,
    concurrency: int,
    box,
    store: ProfileStore | None,
    recorder: _Recorder,
) -> tuple[float, dict[str, Any]]:
    """One pass of the suite through the stages; returns (wall seconds, final event per task id)."""
    runs = _stage_runs(plan, pattern, profile, concurrency, box, store, recorder)
    source = [classify_batch(_task_lines(tasks), 1)]
    finals: list[Item] = []
    started = time.monotonic()
    if pattern == "fanout":
        # Each stage drains completely before the next one starts, as with files between commands.
        stream: Iterable[Any] = harvest(iter(source))
        for i, run in enumerate(runs):
            collected = list(run.processor()(stream))
            if i == len(runs) - 1:
                _drain(collected, finals)
            else:
                stream = harvest(as_input(collected, run.spec.name))
    else:
        _drain(chained(runs, [run.processor() for run in runs], harvest(iter(source))), finals)
    wall = time.monotonic() - started
    by_task: dict[str, Any] = {}
    for item in finals:
        event = item.event
        task = getattr(item, "task", None)
        task_id = getattr(event, "task_id", None) or (task.id if task is not None else None)
        if task_id is not None:
            by_task[task_id] = event
    return wall, by_task


def _metrics(
    throughputs: list[float], latencies: list[float], successes: list[int], optimality: list[float], hits: list[bool]
) -> Metrics:
    lat = latencies or [0.0]
    return Metrics(
        throughput=round(statistics.fmean(throughputs), 4) if throughputs else 0.0,
        latency_p50_ms=round(percentile(lat, 50), 2),
        latency_p95_ms=round(percentile(lat, 95), 2),
        latency_p99_ms=round(percentile(lat, 99), 2),
        success_rate=round(sum(successes) / len(successes), 4) if successes else 0.0,
        optimality=round(statistics.fmean(optimality), 4) if optimality else None,
        location_accuracy=round(sum(hits) / len(hits), 4) if hits else None,
    )


def configurations(plan: BenchPlan) -> list[tuple[str, str, int]]:
    """(pattern, profile, concurrency) in run order; race runs once per concurrency with the race list."""
    out = []
    for pattern in plan.patterns:
        profiles = [",".join(plan.race)] if pattern == "race" else plan.profiles
        for profile in profiles:
            for concurrency in plan.concurrency:
                out.append((pattern, profile, concurrency))
    return out


def config_id(pattern: str, stages: list[tuple[str, str | None]], profile: str, concurrency: int) -> str:
    pipeline = "|".join(f"{s}:{p}" if p else s for s, p in stages)
    return f"{pattern}:{pipeline}:{profile}:c{concurrency}"


def validate(plan: BenchPlan) -> None:
    for name, _ in plan.stages:
        registry.stage(name)  # raises UnknownStage with the list of stages
    known = load_all()
    for name in [*plan.profiles, *plan.race, *(p for _, p in plan.stages if p)]:
        if name != "auto" and name not in known:
            raise ConfigError(f"no such profile {name!r}; available: auto, {', '.join(known)}")
    bad = [p for p in plan.patterns if p not in PATTERNS]
    if bad:
        raise ConfigError(f"unknown pattern {bad[0]!r}; choose from {', '.join(PATTERNS)}")
    if "race" in plan.patterns and len(plan.race) < 2:
        raise ConfigError("the race pattern needs --race with at least two profiles")


def run_bench(
    plan: BenchPlan,
    progress: Callable[[str, int, int], None] = lambda label, done, total: None,
    log: Callable[[str], None] = lambda msg: None,
    state_dir: Path | None = None,
) -> BenchResults:
    validate(plan)
    tasks, sha = load_suite(plan.suite)
    truth = (plan.truth or {}).get("truth", {})
    box = registry.sandbox(plan.sandbox)
    clock0 = time.monotonic()
    configs: list[Config] = []
    outcomes: list[TaskOutcome] = []
    ema: list[EmaPoint] = []
    timeline: list[Action] = []
    plan_configs = configurations(plan)
    total = len(plan_configs) * plan.runs * len(tasks)
    done = 0
    own_dir = tempfile.TemporaryDirectory(prefix="chain-bench-") if state_dir is None else None
    states = Path(own_dir.name) if own_dir else state_dir
    assert states is not None
    try:
        if plan.warmup:
            # Start the warm pool and import every stage before timing anything; learn nothing from it.
            warm = _Recorder(clock0, "warmup", 0, None)
            _run_once(
                plan,
                tasks[:1],
                "pipeline",
                plan.profiles[0] if plan.profiles[0] != "auto" else "balanced",
                max(plan.concurrency),
                box,
                None,
                warm,
            )
        for index, (pattern, profile, concurrency) in enumerate(plan_configs):
            cid = config_id(pattern, plan.stages, profile, concurrency)
            state = states / f"config-{index}.db"
            store = ProfileStore(state)
            samples = Samples()
            hits: list[bool] = []
            wall_total = 0.0
            log(f"bench: {cid} ({plan.runs} run(s) of {len(tasks)} tasks)")
            try:
                for run in range(plan.runs):
                    recorder = _Recorder(clock0, cid, run, store)
                    wall, finals = _run_once(plan, tasks, pattern, profile, concurrency, box, store, recorder)
                    wall_total += wall
                    samples.throughput.append(round(len(tasks) / wall, 4) if wall > 0 else 0.0)
                    spans: dict[str, list[float]] = {}
                    for action in recorder.actions:
                        span = spans.setdefault(action.task_id, [action.start_s, action.end_s])
                        span[0], span[1] = min(span[0], action.start_s), max(span[1], action.end_s)
                    for task in tasks:
                        event = finals.get(task.id)
                        status = getattr(event, "status", None) or "error"
                        extent = spans.get(task.id)
                        latency = round((extent[1] - extent[0]) * 1000, 2) if extent else 0.0
                        scored = score_task(task, event if isinstance(event, Result) else None, truth.get(task.id))
                        samples.latency_ms.append(latency)
                        samples.success.append(int(status == "passed"))
                        if scored.optimality is not None:
                            samples.optimality.append(scored.optimality)
                        if scored.location_hit is not None:
                            hits.append(scored.location_hit)
                        outcomes.append(
                            TaskOutcome(
                                config=cid,
                                run=run,
                                task_id=task.id,
                                category=scored.category,
                                status=status,
                                profile=getattr(event, "profile", "") or "",
                                latency_ms=latency,
                                optimality=scored.optimality,
                                location_hit=scored.location_hit,
                            )
                        )
                        done += 1
                    progress(cid, done, total)
                    ema.extend(recorder.ema)
                    timeline.extend(recorder.actions)
            finally:
                store.close()
            configs.append(
                Config(
                    id=cid,
                    pattern=pattern,
                    pipeline=[s for s, _ in plan.stages],
                    profile=profile,
                    concurrency=concurrency,
                    runs=plan.runs,
                    wall_s=round(wall_total, 4),
                    metrics=_metrics(samples.throughput, samples.latency_ms, samples.success, samples.optimality, hits),
                    samples=samples,
                )
            )
        _add_efficiency(configs)
        isolation = box.describe()
    finally:
        box.close()
        if own_dir:
            own_dir.cleanup()
    return BenchResults(
        chain_version=__version__,
        created=utc_now(),
        machine={
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "sandbox": isolation.get("backend", plan.sandbox),
            "isolation": isolation,
        },
        suite=Suite(
            path=str(plan.suite),
            tasks=len(tasks),
            sha256=sha,
            generator={k: plan.truth[k] for k in ("seed", "mix", "difficulty", "generator_version") if k in plan.truth}
            if plan.truth
            else None,
        ),
        configs=configs,
        tasks=outcomes,
        ema=ema,
        timeline=timeline,
    )


def _add_efficiency(configs: list[Config]) -> None:
    """T(N) / (N * T(1)) against the concurrency-1 configuration of the same pattern and profile."""
    base = {(c.pattern, c.profile): c.metrics.throughput for c in configs if c.concurrency == 1}
    for c in configs:
        t1 = base.get((c.pattern, c.profile))
        if t1:
            c.metrics.efficiency = round(c.metrics.throughput / (c.concurrency * t1), 4)
