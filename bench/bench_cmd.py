"""`chain bench SUITE`: measure real pipelines on a task suite (see bench/runner.py for what is measured)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table

from chain.errors import ConfigError

from .runner import PATTERNS, BenchPlan, run_bench, truth_path_for


def _int_list(_ctx, _param, value: str) -> list[int]:
    try:
        values = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not values or min(values) < 1:
        raise click.BadParameter("concurrency levels must be integers >= 1")
    return sorted(set(values))


def _names(value: str | tuple[str, ...] | None) -> list[str]:
    items = value if isinstance(value, tuple) else (value or "",)
    return [n.strip() for item in items for n in item.split(",") if n.strip()]


def _pipeline(_ctx, _param, value: str) -> list[tuple[str, str | None]]:
    stages = []
    for part in value.split("|"):
        name, _, profile = part.strip().partition(":")
        if not name:
            raise click.BadParameter(f"empty stage in {value!r}; write e.g. 'analyze|process|optimize'")
        stages.append((name, profile or None))
    return stages


def _load_truth(path: Path | None, suite: Path) -> dict | None:
    path = path or truth_path_for(suite)
    if not path.exists():
        return None
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read ground truth {path}: {exc}") from None


@click.command()
@click.argument("suite", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--pipeline",
    "stages",
    callback=_pipeline,
    default="analyze|process|optimize",
    show_default=True,
    help="Stages in order, '|'-separated; 'stage:profile' pins one stage's profile.",
)
@click.option(
    "--profile",
    "-p",
    "profiles",
    multiple=True,
    default=("balanced",),
    show_default=True,
    help="Profile(s) to measure (repeat or comma-separate; 'auto' learns).",
)
@click.option(
    "--concurrency",
    "-j",
    callback=_int_list,
    default="1,2",
    show_default=True,
    help="Concurrency levels to sweep, e.g. 1,2,4,8.",
)
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Passes over the suite per configuration (learning carries over between them).",
)
@click.option(
    "--pattern",
    "patterns",
    default=None,
    metavar="fanout,pipeline,race",
    help=f"Patterns to measure: {', '.join(PATTERNS)}. Default: pipeline (plus race with --race).",
)
@click.option("--race", default=None, metavar="P1,P2,...", help="Profiles the race pattern races per task.")
@click.option("--sandbox", default="auto", show_default=True, help="Sandbox backend (as for every stage).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Wall-clock seconds per sandbox run (default: the profile's).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for `auto` and search order.")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ground truth file (default: SUITE's sibling .truth.json from `chain generate`).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write results.json, one CSV per table and index.html here.",
)
@click.option("--no-warmup", is_flag=True, help="Do not start the sandbox pool before timing.")
def bench(
    suite, stages, profiles, concurrency, runs, patterns, race, sandbox, timeout, seed, truth, report_dir, no_warmup
):
    """Run the stages over SUITE under each configuration and measure throughput, latency (P50/P95/P99),
    success, optimality against ground truth and coordination efficiency.

    \b
    chain generate --seed 7 --tasks 20 -o suite.ndjson
    chain bench suite.ndjson --profile balanced,auto --concurrency 1,2,4 --report out/

    stdout: one JSON line per configuration (its metrics); stderr: progress and a summary table.
    """
    race_list = _names(race)
    chosen = _names(patterns) or (["pipeline", "race"] if race_list else ["pipeline"])
    plan = BenchPlan(
        suite=suite,
        stages=stages,
        profiles=_names(profiles) or ["balanced"],
        concurrency=concurrency,
        runs=runs,
        patterns=chosen,
        race=race_list,
        sandbox=sandbox,
        timeout=timeout,
        seed=seed,
        truth=_load_truth(truth, suite),
        warmup=not no_warmup,
    )
    console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)
    if plan.truth is None:
        console.print("chain bench: no ground truth found; optimality is not scored", style="yellow")
    results = _run_with_progress(plan, console)
    out = sys.stdout.buffer
    for config in results.configs:
        out.write(orjson.dumps({"type": "bench", **config.model_dump(mode="json", exclude={"samples"})}) + b"\n")
    out.flush()
    console.print(summary_table(results))
    if report_dir is not None:
        from .report import write_report

        paths = write_report(results, report_dir)
        console.print(f"chain bench: report written to {paths.get('index.html', report_dir)}")


def _run_with_progress(plan: BenchPlan, console: Console):
    log = lambda msg: console.print(msg, style="dim")  # noqa: E731
    if not sys.stderr.isatty():
        return run_bench(plan, log=log)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        handle = bar.add_task("bench", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(handle, description=label, completed=done, total=total)

        return run_bench(plan, progress=progress, log=log)


def summary_table(results) -> Table:
    table = Table(
        title=f"chain bench: {results.suite.path} ({results.suite.tasks} tasks, "
        f"sandbox {results.machine.get('sandbox')})"
    )
    for col in ("configuration", "tasks/s", "P50 ms", "P95 ms", "P99 ms", "success", "optimality", "efficiency"):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    pct = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
    for c in results.configs:
        m = c.metrics
        table.add_row(
            c.id,
            f"{m.throughput:.2f}",
            f"{m.latency_p50_ms:.0f}",
            f"{m.latency_p95_ms:.0f}",
            f"{m.latency_p99_ms:.0f}",
            pct(m.success_rate),
            pct(m.optimality),
            pct(m.efficiency),
        )
    return table
