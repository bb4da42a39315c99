"""`chain <stage>` and `chain run`: the options every stage shares, turned into `StageRun`s for
`chain.driver`. A new shared option is one entry in STAGE_OPTIONS and one field of `StageFlags`; an option a
stage itself reads is also a field of `chain.context.StageOptions`, which stages see as `ctx.options`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click

from ..agents import make_agent
from ..api import open_sandbox, prepare_run
from ..context import StageOptions
from ..driver import OUTPUT_FORMATS, StageRun, drive
from ..registry import StageSpec
from ..registry import stage as lookup_stage
from ..sandbox import Sandbox
from ..store import ProfileStore, default_state_path
from .log import Reporter

STATUSES = ("passed", "failed", "error", "timeout", "cancelled")


def _fail_on(_ctx, _param, value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    chosen = {v.strip() for v in value.split(",") if v.strip()}
    bad = chosen - set(STATUSES)
    if bad:
        raise click.BadParameter(f"unknown status {sorted(bad)[0]!r}; choose from {', '.join(STATUSES)}")
    return frozenset(chosen)


def _race(_ctx, _param, value: str | None) -> list[str]:
    names = [v.strip() for v in (value or "").split(",") if v.strip()]
    if len(names) == 1:
        raise click.BadParameter("a race needs at least two profiles, e.g. --race conservative,aggressive")
    return names


STAGE_OPTIONS = [
    click.option(
        "--profile",
        "-p",
        default="balanced",
        show_default=True,
        help="Strategy profile (`chain profiles`), or `auto` to let the learned stats choose per task.",
    ),
    click.option(
        "--race",
        callback=_race,
        default=None,
        metavar="P1,P2,...",
        help="Run each task under these profiles at once; the first to pass wins, the rest are stopped.",
    ),
    click.option(
        "--race-deadline",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="With --race: stop waiting after this many seconds and take the best finished result.",
    ),
    click.option(
        "--concurrency",
        "-j",
        type=click.IntRange(min=1),
        default=None,
        help=f"Tasks run at once [default: this machine's CPUs ({os.cpu_count() or 1}); with "
        "--sandbox ray, the cluster's CPUs].",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Wall-clock seconds per sandbox run (default: the profile's).",
    ),
    click.option(
        "--sandbox",
        default="auto",
        show_default=True,
        help="Sandbox backend: auto (bwrap if it works, else landlock, else local; warm pool), auto-cold, "
        "bwrap, landlock, local and their -warm forms, e2b, ray (see docs/sandbox.md, docs/ray.md "
        "and `chain doctor`).",
    ),
    click.option(
        "--sandbox-ro",
        "sandbox_ro",
        multiple=True,
        metavar="PATH",
        type=click.Path(exists=True, resolve_path=True),
        help="Show PATH read-only inside the sandbox, beyond the minimal view (repeatable; recorded in "
        "each result's isolation).",
    ),
    click.option(
        "--e2b-template",
        envvar="CHAIN_E2B_TEMPLATE",
        default=None,
        help="With --sandbox e2b: the E2B template to start [env CHAIN_E2B_TEMPLATE; default base].",
    ),
    click.option(
        "--ray-address",
        envvar="RAY_ADDRESS",
        default=None,
        metavar="HOST:PORT|auto",
        help="With --sandbox ray: the cluster to join [env RAY_ADDRESS]; chain never starts one.",
    ),
    click.option(
        "--python",
        type=click.Path(dir_okay=False),
        default=None,
        help="The project's interpreter the tests run with (its installed packages, not chain's) "
        "[default: $VIRTUAL_ENV/bin/python, else chain's own]. chain need not be installed there.",
    ),
    click.option(
        "--state",
        type=click.Path(dir_okay=False),
        default=None,
        help=f"State database [env CHAIN_STATE; default {default_state_path()}].",
    ),
    click.option("--no-learn", is_flag=True, help="Do not update the profile statistics."),
    click.option("--unordered", is_flag=True, help="Emit results as they finish instead of in input order."),
    click.option(
        "--output-format",
        type=click.Choice(OUTPUT_FORMATS),
        default="stream-json",
        show_default=True,
        help="claude-input: one user message per result, for `claude -p --input-format stream-json`.",
    ),
    click.option(
        "--fail-on",
        callback=_fail_on,
        default=None,
        help="Exit 6 at the end if any result has one of these statuses, e.g. failed,error,timeout.",
    ),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed for any randomized choice."),
    click.option(
        "--agent",
        default="builtin",
        show_default=True,
        metavar="builtin|cmd:'CMD'|openai:URL",
        help="Who proposes changes: chain's built-in search, a command (prompt on stdin, reply on "
        "stdout, e.g. cmd:'claude -p'), or an OpenAI-compatible server.",
    ),
    click.option("--model", default=None, help="Model name for --agent openai:URL."),
    click.option(
        "--time-budget",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="SECONDS",
        help="process: seconds of repair search per task (default: the profile's [search] time_budget_s).",
    ),
    click.option(
        "--verbose",
        "-v",
        count=True,
        help="-v: log each result on stderr; -vv: also mirror the sandboxed commands' output.",
    ),
]


def stage_options(func):
    for option in reversed(STAGE_OPTIONS):
        func = option(func)
    return func


@dataclass(frozen=True)
class StageFlags:
    """The shared options as click parsed them (one field per entry of STAGE_OPTIONS)."""

    profile: str
    race: list[str]
    race_deadline: float | None
    concurrency: int | None  # None: the machine's CPUs, or the cluster's with --sandbox ray
    timeout: float | None
    sandbox: str
    sandbox_ro: tuple[str, ...]
    e2b_template: str | None
    ray_address: str | None
    python: str | None
    state: str | None
    no_learn: bool
    unordered: bool
    output_format: str
    fail_on: frozenset[str]
    seed: int
    agent: str
    model: str | None
    time_budget: float | None
    verbose: int

    def stage_options(self) -> StageOptions:
        """The part a stage reads while it runs (`ctx.options`)."""
        return StageOptions(agent=self.agent, model=self.model, time_budget_s=self.time_budget)


def build_run(
    spec: StageSpec,
    flags: StageFlags,
    store: ProfileStore | None,
    reporter: Reporter,
    profile: str | None = None,
    sandbox: Sandbox | None = None,
) -> StageRun:
    make_agent(flags.agent, flags.model)  # a bad --agent is a usage error before any work
    return prepare_run(
        spec,
        profile=profile or flags.profile,
        race=flags.race,
        race_deadline=flags.race_deadline,
        sandbox=sandbox or flags.sandbox,
        e2b_template=flags.e2b_template,
        ray_address=flags.ray_address,
        sandbox_ro=flags.sandbox_ro,
        python=flags.python,
        timeout=flags.timeout,
        seed=flags.seed,
        store=store,
        concurrency=flags.concurrency,
        ordered=not flags.unordered,
        output_format=flags.output_format,
        fail_on=flags.fail_on,
        log=reporter.log,
        mirror=reporter.mirror if flags.verbose >= 2 else None,
        on_result=reporter.result,
        options=flags.stage_options(),
    )


def execute(specs: list[tuple[StageSpec, str | None]], flags: StageFlags) -> int:
    store = None if flags.no_learn else ProfileStore(flags.state)
    reporters = [Reporter(spec.name, verbose=flags.verbose) for spec, _ in specs]
    runs: list[StageRun] = []
    shared: Sandbox | None = None
    try:
        if len(specs) > 1 and flags.verbose < 2:
            # `chain run`: one sandbox, so one warm pool, serves every stage (-vv keeps one per stage, so each
            # stage's mirrored output is labelled with its own name).
            shared = open_sandbox(
                flags.sandbox,
                e2b_template=flags.e2b_template,
                ray_address=flags.ray_address,
                sandbox_ro=flags.sandbox_ro,
                python=flags.python,
            )
        for (spec, profile), reporter in zip(specs, reporters):
            runs.append(build_run(spec, flags, store, reporter, profile, sandbox=shared))
        return int(drive(runs, sys.stdin.buffer, sys.stdout.buffer))
    finally:
        for box in {id(b): b for b in [*(run.ctx.sandbox for run in runs), shared] if b is not None}.values():
            box.close()
        for run, reporter in zip(runs, reporters):
            reporter.close(run.counters)
        if store:
            store.close()


def make_stage_command(spec: StageSpec) -> click.Command:
    @click.command(name=spec.name, help=f"{spec.help}\n\nReads NDJSON on stdin, writes NDJSON on stdout.")
    @stage_options
    def command(**options):
        click.get_current_context().exit(execute([(spec, None)], StageFlags(**options)))

    return command


@click.command(name="run")
@click.argument("stages", nargs=-1, required=True, metavar="STAGE[:PROFILE]...")
@stage_options
def run_command(stages, **options):
    """Run several stages chained in one process, with exactly the events and learning of the shell pipe.

    \b
    chain run analyze process:aggressive optimize < tasks.ndjson
    # same as: chain analyze | chain process --profile aggressive | chain optimize

    Options apply to every stage; `stage:profile` overrides --profile for one stage.
    """
    specs = []
    for arg in stages:
        name, _, profile = arg.partition(":")
        specs.append((lookup_stage(name), profile or None))
    click.get_current_context().exit(execute(specs, StageFlags(**options)))
