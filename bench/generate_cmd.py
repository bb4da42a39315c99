"""`chain generate`: write a deterministic task suite (NDJSON) and its hidden ground truth."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from chain.errors import ConfigError

from .generate import DEFAULT_MIX, DIFFICULTIES, MAX_TASKS, generate_suite, parse_mix, write_suite

DEFAULT_MIX_SPEC = ",".join(f"{k}={v:g}" for k, v in DEFAULT_MIX.items())


def _mix(_ctx, _param, value: str) -> dict[str, float]:
    try:
        return parse_mix(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Same seed (and options) -> byte-identical suite.",
)
@click.option(
    "--tasks", "-n", type=click.IntRange(1, MAX_TASKS), default=20, show_default=True, help="Number of tasks."
)
@click.option(
    "--mix",
    callback=_mix,
    default=DEFAULT_MIX_SPEC,
    show_default=True,
    metavar="CATEGORY[=SHARE],...",
    help="Share of each category: bugs, slow, correct ('bugs,slow' = equal shares).",
)
@click.option(
    "--difficulty",
    type=click.Choice(DIFFICULTIES),
    default="mixed",
    show_default=True,
    help="easy: one small module; medium: more code or two modules; hard: more code still, the bug "
    "caught by a single test, sometimes two bugs. mixed: drawn per task.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the suite here and its ground truth beside it (X.ndjson -> X.truth.json).",
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Where the ground truth goes (default with -o: beside the suite; without -o: nowhere).",
)
def generate(seed, tasks, mix, difficulty, output, truth_path):
    """Generate a task suite: small Python projects with pytest tests, some with one seeded bug, some
    correct but slow, some fine as they are. The category, the bug's location and operator, the expected
    speedup and the correct code go only to the ground truth file, which `chain bench` reads to score.

    \b
    chain generate --seed 7 --tasks 20 -o suite.ndjson          # suite.ndjson + suite.truth.json
    chain generate --seed 7 --tasks 5 --mix bugs --truth t.json | chain analyze | chain process
    """
    if output is not None and truth_path is not None and output.resolve() == truth_path.resolve():
        raise click.BadParameter("the ground truth cannot overwrite the suite", param_hint="'--truth'")
    suite = generate_suite(seed, tasks, mix, difficulty)
    counts = suite.truth_document()["counts"]
    summary = f"{len(suite.tasks)} tasks ({counts['bug']} bug, {counts['slow']} slow, {counts['correct']} correct)"
    if output is not None:
        written, truth_written = write_suite(suite, output, truth_path)  # ConfigError: message, exit 4
        click.echo(f"chain generate: {summary} -> {written}; ground truth -> {truth_written}", err=True)
        return
    if truth_path is not None:
        try:
            truth_path.write_bytes(suite.truth_json())
        except OSError as exc:
            raise ConfigError(f"cannot write {truth_path}: {exc.strerror or exc}") from None
    sys.stdout.buffer.write(suite.ndjson())
    sys.stdout.buffer.flush()
    if truth_path is None:
        click.echo(
            "chain generate: warning: no ground truth is written (use -o PATH or --truth PATH); "
            "chain bench cannot score optimality without it",
            err=True,
        )
    else:
        click.echo(f"chain generate: {summary}; ground truth -> {truth_path}", err=True)
