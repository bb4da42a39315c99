"""`chain report markdown`: a summary sized for a pull-request comment (and GitHub's job summary).

One table row per task: each stage's verdict in order, the final tests, and what chain found or changed (the
most suspicious line, the verified repair, the measured speedup); below it, the tests still failing with
pytest's short message, the diffs in collapsed blocks, and anything chain could not read. GitHub cuts a
comment at 65,536 characters, so the text stops at `limit` with a line saying how much was left out (the
NDJSON artifact has it all).
"""

from __future__ import annotations

from ..protocol import HistoryEntry, Result
from .reading import StreamReport, crash_message, finding, source_path

COMMENT_LIMIT = 60_000
MARK = {"passed": "✅", "failed": "❌", "error": "💥", "timeout": "⏱️", "cancelled": "⏹️"}


def cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _finding(result: Result, entry: HistoryEntry) -> tuple[str, str]:
    """(kind, text): "suspicious", "repaired" or "faster", with its one-line description; ("", "") if none."""
    if entry.stage == "analyze" and (lines := finding(entry, "suspicious", [])):
        top = lines[0]
        where = f"{source_path(result.task, top['file'])}:{top['line']}"
        return "suspicious", f"most suspicious `{where}` (Ochiai {top['score']:.2f})"
    if entry.stage == "process" and entry.status == "passed" and finding(entry, "diff"):
        edits = finding(entry, "repair", {}).get("edits", [])
        where = ", ".join(f"`{source_path(result.task, e['file'])}:{e['line']}` ({e.get('operator')})" for e in edits)
        return "repaired", "repaired " + (where or "(see diff)")
    if entry.stage == "optimize" and (speedup := finding(entry, "speedup")) and finding(entry, "diff"):
        rewrites = ", ".join(a.get("rewrite", "?") for a in finding(entry, "applied", []))
        interval = f"{speedup.get('ci_low', 0):.2f}–{speedup.get('ci_high', 0):.2f}x"
        return "faster", (
            f"{speedup['ratio']:.2f}x faster ({interval} at {speedup.get('confidence', 0):.0%}) "
            f"by {rewrites or 'a rewrite'}"
        )
    return "", ""


def _by_task(report: StreamReport) -> dict[str, tuple[Result, list[HistoryEntry]]]:
    tasks: dict[str, tuple[Result, list[HistoryEntry]]] = {}
    for result, entry in report.entries():
        latest, entries = tasks.get(result.task_id, (result, []))
        entries.append(entry)
        tasks[result.task_id] = (result if len(result.task.history) >= len(latest.task.history) else latest, entries)
    return tasks


def render_text(report: StreamReport, limit: int = COMMENT_LIMIT, title: str = "chain") -> str:
    tasks = _by_task(report)
    final = [result for result, _ in tasks.values()]
    failing = sum(r.status != "passed" for r in final)
    kinds = [{_finding(r, e)[0] for e in es} for r, es in tasks.values()]
    repaired, faster = sum("repaired" in k for k in kinds), sum("faster" in k for k in kinds)
    head = [
        f"### {title}: {len(final)} task(s), {len(final) - failing} passing, {failing} failing"
        + (f", {repaired} repaired" if repaired else "")
        + (f", {faster} faster" if faster else "")
        + (f", {len(report.errors)} error(s)" if report.errors else ""),
        "",
    ]
    rows = ["| task | stages | tests | found / changed |", "|---|---|---|---|"]
    for result, entries in tasks.values():
        stages = " → ".join(f"{e.stage} {MARK.get(e.status, e.status)}" for e in entries)
        found = "; ".join(f for e in entries if (f := _finding(result, e)[1]))
        rows.append(f"| `{cell(result.task_id)}` | {stages} | {cell(result.result.split(';')[0])} | {cell(found)} |")
    sections = [head + rows]
    fails = [(r, c) for r in final for c in r.cases if c.outcome in ("failed", "error")]
    if fails:
        lines = ["", "#### Failing tests", ""]
        for result, case in fails:
            message = cell(crash_message(case.message).splitlines()[0] if case.message else case.outcome)
            lines.append(f"- `{cell(result.task_id)}`: `{cell(case.nodeid)}` — {message}")
        sections.append(lines)
    for result, entries in tasks.values():
        for entry in entries:
            diff = finding(entry, "diff", "")
            kind, text = _finding(result, entry)
            if diff and kind in ("repaired", "faster"):
                sections.append(
                    [
                        "",
                        f"<details><summary>{entry.stage}: {cell(result.task_id)} — {cell(text)}</summary>",
                        "",
                        "```diff",
                        diff.rstrip("\n"),
                        "```",
                        "",
                        "</details>",
                    ]
                )
    if report.errors:
        sections.append(
            ["", "#### Not reported (input chain could not read, or errors)", ""]
            + [f"- {cell(e.message)}" for e in report.errors]
        )
    out: list[str] = []
    size = 0
    for n, section in enumerate(sections):
        text = "\n".join(section)
        if size + len(text) > limit and n == 0:  # the table alone is too long: keep the rows that fit
            kept = [line for i, line in enumerate(section) if len("\n".join(section[: i + 1])) <= limit]
            out.append(
                "\n".join(kept) + f"\n\n_… {len(section) - len(kept)} more row(s) left out to fit a comment; "
                "the NDJSON has all._"
            )
            break
        if size + len(text) > limit:
            out.append(f"\n_… {len(sections) - n} more section(s) left out to fit a comment; the NDJSON has all._")
            break
        out.append(text)
        size += len(text) + 1
    return "\n".join(out) + "\n"


def render(report: StreamReport) -> bytes:
    return render_text(report).encode()
