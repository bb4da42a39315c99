"""`chain report github`: GitHub Actions workflow commands, and the Markdown job summary.

Annotations are `::error file=F,line=L,title=T::message` lines on stdout (the runner reads them there):
an error where each failing test's traceback ends, a warning on analyze's most suspicious lines, a notice on
each line process repaired or optimize made faster. The escaping is the one the runner's own toolkit applies
(@actions/core `command.ts`): in the message `%` -> `%25`, CR -> `%0D`, LF -> `%0A`; in a property value also
`:` -> `%3A` and `,` -> `%2C`. The job summary (Markdown, the same as `chain report markdown`) is appended
to `$GITHUB_STEP_SUMMARY` when the runner sets it, or to `--summary FILE`.
"""

from __future__ import annotations

from .markdown import render_text
from .reading import StreamReport, changed_runs, crash_message, failure_location, finding, source_path

SUSPICIOUS_ANNOTATED = 3  # per task: the top lines only; the SARIF report has the full ranking


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: object) -> str:
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None)
    return f"::{kind}{' ' + props if props else ''}::{escape_data(message)}"


def workflow_commands(report: StreamReport) -> list[str]:
    out = []
    for result, entry in report.entries():
        task = result.task
        if entry.stage == "analyze":
            for line in finding(entry, "suspicious", [])[:SUSPICIOUS_ANNOTATED]:
                out.append(
                    command(
                        "warning",
                        f"Ochiai {line['score']:.2f}: executed by {line.get('failed', 0)} failing and "
                        f"{line.get('passed', 0)} passing test(s) of {result.task_id}",
                        file=source_path(task, line["file"]),
                        line=line["line"],
                        title="chain: suspicious line",
                    )
                )
        kind = {"process": "repaired by chain", "optimize": "made faster by chain"}.get(entry.stage)
        if (
            kind
            and entry.status == "passed"
            and finding(entry, "diff")
            and (entry.stage == "process" or finding(entry, "speedup"))
        ):
            for path, first, count, old, new in changed_runs(finding(entry, "diff")):
                change = [f"-{line}" for line in old.splitlines()] + [f"+{line}" for line in new.splitlines()]
                out.append(
                    command(
                        "notice",
                        "\n".join([entry.summary, *change]),
                        file=source_path(task, path),
                        line=first,
                        endLine=first + count - 1 if count > 1 else None,
                        title=f"chain: {kind}",
                    )
                )
    latest = {}
    for result in report.results:
        latest[result.task_id] = result  # the last verdict on a task is the one that still stands
    for result in latest.values():
        for case in result.cases:
            if case.outcome not in ("failed", "error"):
                continue
            where = failure_location(case.message)
            message = crash_message(case.message) or case.outcome
            out.append(
                command(
                    "error",
                    message,
                    file=source_path(result.task, where[0]) if where else None,
                    line=where[1] if where else None,
                    title=f"{case.nodeid} {case.outcome}",
                )
            )
        if not result.cases and result.status != "passed":
            out.append(command("error", result.result, title=f"chain {result.stage}: {result.task_id} {result.status}"))
    for error in report.errors:
        out.append(command("error", error.message, title=f"chain {error.stage or 'input'}: error"))
    return out


def render(report: StreamReport) -> bytes:
    return "".join(line + "\n" for line in workflow_commands(report)).encode()


def summary(report: StreamReport) -> str:
    return render_text(report, title="chain")
