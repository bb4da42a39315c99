"""One coverage run of the original for repair: the suspicious-line ranking (Ochiai) and which tests ran
each line, so screening a candidate runs only the tests that can see its edit.

Like analyze's run, chain's report plugin switches coverage's context per test item (CHAIN_COVERAGE_CONTEXTS),
so the cases of a parametrized test that pass and the ones that fail are told apart: with one context per
function, every line any case ran is as suspicious as the faulty one.
The run also has the per-test CPU limit, so an original whose bug loops forever still yields a ranking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..analysis.spectrum import COVERAGERC, _context_key, _is_header, coverage_command, is_test_file, parse_spectrum
from ..context import Evaluation, StageContext
from ..protocol import TestCase
from .limits import CandidateLimits, for_coverage


@dataclass
class CoverageMap:
    """nodeids of the tests that executed each (file, line) of the original."""

    by_line: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    def tests_for(self, spots: list[tuple[str, int]]) -> list[str]:
        seen: dict[str, None] = {}
        for spot in spots:
            for nodeid in self.by_line.get(spot, []):
                seen.setdefault(nodeid)
        return list(seen)

    def count(self, spot: tuple[str, int]) -> int:
        return len(self.by_line.get(spot, []))


def _nodeids_by_context(cases: list[TestCase]) -> dict[tuple[str, str], list[str]]:
    keys: dict[tuple[str, str], list[str]] = {}
    for case in cases:
        keys.setdefault(_context_key(case.nodeid), []).append(case.nodeid)
    return keys


def _nodeids_of(context: str, keys: dict[tuple[str, str], list[str]]) -> list[str]:
    """The tests a coverage context like 'pkg.test_x.TestC.test_m' stands for (every parametrization)."""
    parts = context.split(".")
    for cut in range(1, len(parts)):
        found = keys.get((parts[cut - 1], ".".join(parts[cut:])))
        if found:
            return found
    return []


def build_map(spectrum: dict[str, dict[int, list[str]]], cases: list[TestCase]) -> CoverageMap:
    keys = _nodeids_by_context(cases)
    nodeids = {c.nodeid for c in cases}
    resolved: dict[str, list[str]] = {}
    cmap = CoverageMap()
    for path, lines in spectrum.items():
        for line, contexts in lines.items():
            ids: dict[str, None] = {}
            for context in contexts:
                if context not in resolved:
                    resolved[context] = [context] if context in nodeids else _nodeids_of(context, keys)
                ids.update(dict.fromkeys(resolved[context]))
            if ids:
                cmap.by_line[(path, line)] = list(ids)
    return cmap


# No dynamic_context: the plugin names each context after its test item (coverage refuses both at once).
ITEM_COVERAGERC_TEXT = "[run]\nbranch = false\ndata_file = .chain-coverage\n"


def ochiai_by_item(
    spectrum: dict[str, dict[int, list[str]]], cases: list[TestCase], files: dict[str, str], limit: int = 20
) -> list[dict]:
    """Ochiai over per-item contexts (nodeids); ties as analyze breaks them."""
    failed = {c.nodeid for c in cases if c.outcome in ("failed", "error", "timeout", "xpassed")}
    known = {c.nodeid for c in cases}
    if not failed:
        return []
    ranked: list[dict[str, Any]] = []
    for path, lines in spectrum.items():
        if path not in files or is_test_file(path) or not path.endswith(".py"):
            continue
        source = files[path].splitlines()
        for line, contexts in lines.items():
            ef = sum(c in failed for c in contexts)
            ep = sum(c in known and c not in failed for c in contexts)
            if not ef:
                continue
            code = source[line - 1].strip() if 0 < line <= len(source) else ""
            ranked.append(
                {
                    "file": path,
                    "line": line,
                    "score": round(ef / math.sqrt(len(failed) * (ef + ep)), 4),
                    "failed": ef,
                    "passed": ep,
                    "code": code,
                }
            )
    ranked.sort(key=lambda s: (-s["score"], s["passed"], _is_header(s["code"]), s["file"], -s["line"]))
    return ranked[:limit]


def _spectrum_of(run: Evaluation) -> dict[str, dict[int, list[str]]] | None:
    # The spectrum travels in the run's report file (its own channel), never in the capped stdout.
    return parse_spectrum(run.outcome.report)


def localize_with_map(
    files: dict[str, str], test: str, ev: Evaluation, ctx: StageContext, label: str, limits: CandidateLimits
) -> tuple[list[dict], CoverageMap, str | None]:
    """(ranking as analyze's `suspicious` dicts, coverage map, reason when coverage was unavailable)."""
    command = coverage_command(test)
    if command is None:
        return [], CoverageMap(), "fault localization needs a pytest test command"
    workspace = {**files, COVERAGERC: ITEM_COVERAGERC_TEXT}
    run = ctx.run_tests(workspace, command, label=f"{label} coverage", env=for_coverage(limits).env())
    spectrum = _spectrum_of(run)
    if spectrum is None:
        return [], CoverageMap(), f"no coverage data ({run.summary})"
    cases = run.cases or ev.cases
    ranking = ochiai_by_item(spectrum, cases, files)
    return ranking, build_map(spectrum, cases), None
