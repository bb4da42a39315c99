"""`chain report junit|sarif|github|markdown`: the reports CI systems read, from chain's stream.

A thin layer over `chain.report`. The report goes to stdout, or to `-o FILE`; with `--tee` every input line
goes through to stdout untouched (the report then needs `-o`), so a report can sit in the middle of a pipe.
Exit status: 0, or 3 when some input lines were not valid chain events (each is named in the report).
"""

from __future__ import annotations

import os
import sys

import click

from .. import report as reports
from ..errors import ExitStatus
from ..report import github

OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write the report here [default: stdout].",
)
TEE = click.option(
    "--tee", is_flag=True, help="Pass every input line through to stdout unchanged; the report goes to --output."
)
INPUT = click.argument("source", type=click.File("rb"), default="-")


@click.group()
def report():
    """Reports CI systems read, made from chain's NDJSON (results of any stage).

    \b
    chain task . | chain analyze | chain report junit -o junit.xml
    chain analyze < tasks.ndjson | chain report sarif --tee -o chain.sarif | chain process
    """


def _run(fmt: str, source, output: str, tee: bool) -> reports.StreamReport:
    if tee and output == "-":
        raise click.UsageError("--tee writes the stream to stdout: give the report a file with -o")
    stream = reports.reading.tee_lines(source, sys.stdout.buffer if tee else None)
    parsed = reports.read(stream)
    data = reports.FORMATS[fmt](parsed)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with open(output, "wb") as fh:
            fh.write(data)
    return parsed


def _done(ctx: click.Context, parsed: reports.StreamReport) -> None:
    if parsed.malformed:
        click.echo(
            f"chain report: {parsed.malformed} input line(s) were not valid chain events (named in the report)",
            err=True,
        )
        ctx.exit(int(ExitStatus.BAD_INPUT))


def _format_command(fmt: str, help_text: str) -> click.Command:
    @click.pass_context
    def command(ctx, source, output, tee):
        _done(ctx, _run(fmt, source, output, tee))

    command.__doc__ = help_text
    return report.command(fmt)(INPUT(OUTPUT(TEE(command))))


_format_command(
    "junit", "JUnit XML (as pytest --junitxml writes it): one testcase per test, stage/profile as suite properties."
)
_format_command("sarif", "SARIF 2.1.0: suspicious lines (Ochiai), repaired lines and faster rewrites, with fixes.")
_format_command("markdown", "A Markdown summary sized for a pull-request comment.")


@report.command("github")
@INPUT
@OUTPUT
@TEE
@click.option(
    "--summary",
    type=click.Path(dir_okay=False),
    default=None,
    help="Append the Markdown job summary here [default: $GITHUB_STEP_SUMMARY when set].",
)
@click.pass_context
def github_cmd(ctx, source, output, tee, summary):
    """GitHub Actions workflow commands (::error/::warning/::notice annotations) and the job summary."""
    parsed = _run("github", source, output, tee)
    summary = summary or os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(github.summary(parsed))
    _done(ctx, parsed)
