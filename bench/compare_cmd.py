"""`chain compare A.json B.json`: gate CI on bench regressions (see bench/compare.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson
from pydantic import ValidationError

from chain.errors import ConfigError, RegressionFound

from .compare import METRICS, compare
from .results import BenchResults


def _load(path: Path) -> BenchResults:
    if path.is_dir():
        path = path / "results.json"
    try:
        return BenchResults.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path} is not a chain bench results.json: {where}: {first['msg']}") from None


def _fmt(delta) -> tuple[str, str]:
    unit = "%" if delta.relative else ""
    scale = 100 if delta.relative else 1
    ci = "" if delta.ci_low is None else f"[{delta.ci_low * scale:+.1f}{unit}, {delta.ci_high * scale:+.1f}{unit}]"
    return f"{delta.change * scale:+.1f}{unit}", ci or delta.note


@click.command()
@click.argument("a", type=click.Path(exists=True, path_type=Path))
@click.argument("b", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--threshold",
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help="Relative worsening (0.1 = 10%) that counts as a regression when it is also significant.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.999),
    default=0.95,
    show_default=True,
    help="Confidence level of the bootstrap intervals.",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    type=click.Choice(list(METRICS)),
    help="Compare only these metrics (repeatable). Default: all.",
)
@click.option(
    "--iterations",
    type=click.IntRange(min=100),
    default=2000,
    show_default=True,
    help="Bootstrap resamples per metric.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap (same seed, same CIs).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: aligned text; json: one JSON object per metric per configuration.",
)
def compare_command(a, b, threshold, confidence, metrics, iterations, seed, fmt):
    """Per-metric change from bench report A (baseline) to B, with bootstrap confidence intervals.

    A and B are results.json files (or the --report directories holding them). Exits 7 when any metric
    regressed beyond --threshold, so a CI job can gate on it:

    \b
    chain compare baseline/results.json new/results.json --threshold 0.1
    """
    deltas, warnings = compare(
        _load(a),
        _load(b),
        threshold=threshold,
        confidence=confidence,
        iterations=iterations,
        seed=seed,
        metrics=list(metrics) or None,
    )
    for warning in warnings:
        click.echo(f"chain compare: warning: {warning}", err=True)
    if fmt == "json":
        for delta in deltas:
            sys.stdout.buffer.write(orjson.dumps({"type": "compare", **delta.as_dict()}) + b"\n")
    else:
        rows = [("configuration", "metric", "A", "B", "change", f"{confidence:.0%} CI", "verdict")]
        rows += [(d.config, d.metric, f"{d.a:g}", f"{d.b:g}", *_fmt(d), d.verdict) for d in deltas]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    regressions = [d for d in deltas if d.verdict == "regression"]
    if regressions:
        names = ", ".join(f"{d.config} {d.metric}" for d in regressions[:3])
        more = f" and {len(regressions) - 3} more" if len(regressions) > 3 else ""
        raise RegressionFound(f"{len(regressions)} regression(s) beyond {threshold:.0%}: {names}{more}")
    if not deltas:
        click.echo("chain compare: warning: no configuration is in both reports; nothing compared", err=True)
