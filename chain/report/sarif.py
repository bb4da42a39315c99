"""`chain report sarif`: SARIF 2.1.0 for code scanning (GitHub's upload-sarif, GitLab, Azure DevOps, IDEs).

Three rules, one per kind of finding chain makes from real runs:
- `chain/suspicious-line`: a line analyze ranked by spectrum-based fault localization (Ochiai); the score is
  the result's `rank` (0-100) and property `ochiai`, with how many failing / passing tests covered it.
- `chain/repaired-line`: lines process changed to make the tests pass; the edit is a SARIF `fix` (replacement
  of the old lines by the new) and the whole unified diff is in the message and `properties.diff`.
- `chain/faster-rewrite`: a rewrite optimize kept because it was measurably faster (speedup and its
  confidence interval), also as a `fix`.
Paths are relative to the directory chain ran in (`%SRCROOT%`); a line chain could not read from the stream
becomes a tool execution notification, so an upload still says that something was lost.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..protocol import HistoryEntry, Result
from .reading import StreamReport, changed_runs, finding, source_path

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

RULES: list[dict[str, Any]] = [
    {
        "id": "chain/suspicious-line",
        "name": "SuspiciousLine",
        "shortDescription": {"text": "Line ranked suspicious by spectrum-based fault localization (Ochiai)"},
        "fullDescription": {
            "text": "chain analyze ran the tests with line coverage and ranked each line by the Ochiai "
            "coefficient of the failing and passing tests that executed it."
        },
        "defaultConfiguration": {"level": "warning"},
        "properties": {"tags": ["correctness", "fault-localization"]},
    },
    {
        "id": "chain/repaired-line",
        "name": "RepairedLine",
        "shortDescription": {"text": "Line changed by an automated repair that makes the failing tests pass"},
        "fullDescription": {
            "text": "chain process searched for an edit and verified it by running the task's tests "
            "in a sandbox; the fix is the verified edit."
        },
        "defaultConfiguration": {"level": "warning"},
        "properties": {"tags": ["correctness", "repair"]},
    },
    {
        "id": "chain/faster-rewrite",
        "name": "FasterRewrite",
        "shortDescription": {"text": "Rewrite measured faster with the tests still passing"},
        "fullDescription": {
            "text": "chain optimize timed the task's tests before and after the rewrite; the rewrite is "
            "kept only when faster beyond the profile's margin at its confidence."
        },
        "defaultConfiguration": {"level": "note"},
        "properties": {"tags": ["performance"]},
    },
]
RULE_INDEX = {rule["id"]: i for i, rule in enumerate(RULES)}


def _location(path: str, start: int, end: int | None = None, snippet: str | None = None) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(1, start)}
    if end is not None and end > start:
        region["endLine"] = end
    if snippet:
        region["snippet"] = {"text": snippet}
    return {"physicalLocation": {"artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"}, "region": region}}


def _fix_results(result: Result, entry: HistoryEntry, rule: str, message: str, properties: dict) -> list[dict]:
    diff = finding(entry, "diff", "")
    out = []
    for path, first, count, old, new in changed_runs(diff):
        uri = source_path(result.task, path)
        deleted = (
            {"startLine": first, "endLine": first + count - 1}
            if count
            else {"startLine": first, "startColumn": 1, "endColumn": 1}
        )  # a pure insertion before line `first`
        out.append(
            {
                "ruleId": rule,
                "ruleIndex": RULE_INDEX[rule],
                "level": RULES[RULE_INDEX[rule]]["defaultConfiguration"]["level"],
                "message": {"text": f"{message}\n\n```diff\n{diff}```"},
                "locations": [_location(uri, first, first + count - 1 if count else None, old.rstrip("\n") or None)],
                "fixes": [
                    {
                        "description": {"text": message},
                        "artifactChanges": [
                            {
                                "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                                "replacements": [{"deletedRegion": deleted, "insertedContent": {"text": new}}],
                            }
                        ],
                    }
                ],
                "properties": {**properties, "diff": diff},
            }
        )
    return out


def _suspicious(result: Result, entry: HistoryEntry) -> list[dict]:
    out = []
    for line in finding(entry, "suspicious", []):
        score = float(line.get("score", 0))
        out.append(
            {
                "ruleId": "chain/suspicious-line",
                "ruleIndex": RULE_INDEX["chain/suspicious-line"],
                "level": "warning" if score >= 0.5 else "note",
                "rank": round(100 * score, 2),
                "message": {
                    "text": f"Suspicious line (Ochiai {score:.2f}): executed by {line.get('failed', 0)} failing "
                    f"and {line.get('passed', 0)} passing test(s) of task {result.task_id}."
                },
                "locations": [
                    _location(source_path(result.task, line["file"]), int(line["line"]), snippet=line.get("code"))
                ],
                "properties": {
                    "ochiai": score,
                    "failed": line.get("failed"),
                    "passed": line.get("passed"),
                    "task": result.task_id,
                    "stage": entry.stage,
                    "profile": entry.profile,
                },
            }
        )
    return out


def _results(result: Result, entry: HistoryEntry) -> list[dict]:
    common = {"task": result.task_id, "stage": entry.stage, "profile": entry.profile}
    if entry.stage == "analyze":
        return _suspicious(result, entry)
    if entry.stage == "process" and entry.status == "passed" and finding(entry, "diff"):
        edits = finding(entry, "repair", {}).get("edits", [])
        how = "; ".join(f"{e.get('operator')}: {e.get('before')!r} -> {e.get('after')!r}" for e in edits)
        message = f"Repaired by chain process ({entry.summary})" + (f": {how}" if how else "")
        return _fix_results(result, entry, "chain/repaired-line", message, {**common, "edits": edits})
    speedup = finding(entry, "speedup")
    if entry.stage == "optimize" and speedup and finding(entry, "diff"):
        rewrites = ", ".join(a.get("rewrite", "?") for a in finding(entry, "applied", []))
        message = (
            f"{speedup['ratio']:.2f}x faster ({speedup.get('ci_low', 0):.2f}-{speedup.get('ci_high', 0):.2f}x "
            f"at {speedup.get('confidence', 0):.0%}) by {rewrites or 'a rewrite'}, tests still passing"
        )
        return _fix_results(result, entry, "chain/faster-rewrite", message, {**common, "speedup": speedup})
    return []


def render_log(report: StreamReport) -> dict[str, Any]:
    results = [item for result, entry in report.entries() for item in _results(result, entry)]
    notifications = [
        {
            "level": "error",
            "message": {"text": error.message},
            "properties": {
                k: v
                for k, v in (("line", error.line), ("task", error.task_id), ("stage", error.stage))
                if v is not None
            },
        }
        for error in report.errors
    ]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "chain", "version": __version__, "rules": RULES}},
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The directory chain ran in."}}},
                "invocations": [
                    {"executionSuccessful": not report.errors, "toolExecutionNotifications": notifications}
                ],
                "results": results,
            }
        ],
    }


def render(report: StreamReport) -> bytes:
    import orjson

    return orjson.dumps(render_log(report), option=orjson.OPT_INDENT_2) + b"\n"
