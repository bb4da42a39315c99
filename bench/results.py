"""The data model of a bench report (`results.json`): the single source of truth for the JSON, the CSVs,
the HTML charts and `chain compare`.

Every summary figure in `Metrics` is computed from the raw samples kept next to it, so `chain compare` can
bootstrap confidence intervals from the same file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RESULTS_VERSION = 1

Pattern = Literal["fanout", "pipeline", "race"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metrics(_Model):
    """Summary figures of one configuration over all its runs."""

    throughput: float = Field(description="Tasks finished per second (mean over runs).")
    latency_p50_ms: float = Field(description="Median task latency (see TaskOutcome.latency_ms).")
    latency_p95_ms: float
    latency_p99_ms: float
    success_rate: float = Field(ge=0, le=1, description="Fraction of tasks whose final result passed.")
    optimality: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Mean optimality against ground truth over tasks that have one (1 = the minimal fix at "
        "the seeded location, or the expected speedup class reached); None without ground truth.",
    )
    location_accuracy: float | None = Field(
        None, ge=0, le=1, description="Fraction of bug tasks whose fix touched the seeded line."
    )
    efficiency: float | None = Field(
        None, description="Coordination efficiency T(N) / (N * T(1)) against the same pattern/profile at N=1."
    )


class Samples(_Model):
    """Raw measurements the metrics are computed from (what `chain compare` resamples)."""

    throughput: list[float] = Field(default_factory=list, description="Tasks/s, one per run.")
    latency_ms: list[float] = Field(
        default_factory=list, description="One per task per run: first input to final result."
    )
    success: list[int] = Field(default_factory=list, description="1/0 per task per run.")
    optimality: list[float] = Field(default_factory=list, description="Per task per run, where ground truth applies.")


class Config(_Model):
    """One measured configuration: a pattern, a pipeline, a profile and a concurrency."""

    id: str = Field(
        description="Stable key used to match configurations across reports, e.g. 'fanout:analyze|process:balanced:c2'."
    )
    pattern: Pattern
    pipeline: list[str] = Field(description="Stage names in order.")
    profile: str = Field(description="Profile spec given to the stages ('auto', 'balanced', or a race list 'a,b').")
    concurrency: int = Field(ge=1)
    runs: int = Field(ge=1)
    wall_s: float = Field(ge=0, description="Sum of the runs' wall-clock time.")
    metrics: Metrics
    samples: Samples


class TaskOutcome(_Model):
    """One task's end in one run of one configuration (the per-task table)."""

    config: str = Field(description="Id of the configuration.")
    run: int = Field(description="Run number within the configuration, from 0.")
    task_id: str
    category: str = Field(description="Ground-truth category: bug, slow, correct; 'unknown' without ground truth.")
    status: str = Field(description="Status of the final stage's result ('error' when it produced none).")
    profile: str = Field(description="Concrete profile of the final stage's result.")
    latency_ms: float = Field(description="Start of the task's first stage execution to the end of its last.")
    optimality: float | None = Field(None, description="See Metrics.optimality; None without ground truth.")
    location_hit: bool | None = Field(None, description="Bug tasks: the edit touched every seeded line.")


class EmaPoint(_Model):
    """The EMA success of one (stage, profile) after one learning step."""

    t_s: float = Field(description="Seconds since the bench started.")
    config: str
    stage: str
    profile: str
    ema_success: float
    executions: int


class Action(_Model):
    """One stage execution on one task (the action timeline)."""

    config: str
    run: int
    task_id: str
    stage: str
    profile: str
    status: str
    start_s: float = Field(description="Seconds since the bench started.")
    end_s: float


class Suite(_Model):
    """The suite the bench ran."""

    path: str = Field(description="As given on the command line.")
    tasks: int = Field(description="Number of tasks in it.")
    sha256: str = Field(description="Of the suite file, so compare can warn when two reports ran different suites.")
    generator: dict[str, Any] | None = Field(None, description="seed, mix, difficulty when made by `chain generate`.")


class BenchResults(_Model):
    chain_bench: int = Field(RESULTS_VERSION, description="Version of this format.")
    chain_version: str = Field(description="chain version that measured it.")
    created: str = Field(description="UTC time the report was written (ISO 8601).")
    machine: dict[str, Any] = Field(description="cores, python, platform, sandbox backend and its isolation.")
    suite: Suite
    configs: list[Config] = Field(description="One entry per measured configuration, in run order.")
    tasks: list[TaskOutcome] = Field(default_factory=list, description="Every task's end in every run.")
    ema: list[EmaPoint] = Field(default_factory=list, description="The learned EMAs after each result.")
    timeline: list[Action] = Field(default_factory=list, description="Every stage execution.")
