"""One coverage run of the original for repair: the suspicious-line ranking (Ochiai, as analyze computes it)
and which tests ran each line, so screening a candidate runs only the tests that can see its edit.

The run loads the per-test CPU limit plugin, so an original whose bug loops forever still yields a ranking:
the looping tests fail at their limit instead of holding the whole run until its wall-clock timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analysis.spectrum import COVERAGERC, COVERAGERC_TEXT, _context_key, coverage_command, ochiai, parse_spectrum
from ..context import Evaluation, StageContext
from ..protocol import TestCase
from .limits import PLUGIN_FILE, CandidateLimits, with_plugin


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
    resolved: dict[str, list[str]] = {}
    cmap = CoverageMap()
    for path, lines in spectrum.items():
        for line, contexts in lines.items():
            ids: dict[str, None] = {}
            for context in contexts:
                if context not in resolved:
                    resolved[context] = _nodeids_of(context, keys)
                ids.update(dict.fromkeys(resolved[context]))
            if ids:
                cmap.by_line[(path, line)] = list(ids)
    return cmap


def _spectrum_of(run: Evaluation) -> dict[str, dict[int, list[str]]] | None:
    # analyze's parser takes the run's stdout today; the spectrum may move to the report file (realrun).
    try:
        return parse_spectrum(run.outcome.report)  # type: ignore[arg-type]
    except (AttributeError, TypeError):
        return parse_spectrum(run.outcome.stdout)


def localize_with_map(files: dict[str, str], test: str, ev: Evaluation, ctx: StageContext, label: str,
                      limits: CandidateLimits) -> tuple[list[dict], CoverageMap, str | None]:
    """(ranking as analyze's `suspicious` dicts, coverage map, reason when coverage was unavailable)."""
    command = with_plugin(test)
    command = coverage_command(command) if command else None
    if command is None:
        return [], CoverageMap(), "fault localization needs a pytest test command"
    workspace = {**files, COVERAGERC: COVERAGERC_TEXT, PLUGIN_FILE: limits.plugin_source()}
    run = ctx.run_tests(workspace, command, label=f"{label} coverage")
    spectrum = _spectrum_of(run)
    if spectrum is None:
        return [], CoverageMap(), f"no coverage data ({run.summary})"
    cases = run.cases or ev.cases
    ranking = [s.as_dict() for s in ochiai(spectrum, cases, files)]
    return ranking, build_map(spectrum, cases), None
