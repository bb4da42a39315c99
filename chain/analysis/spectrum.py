"""Spectrum-based fault localization: per-test line coverage (coverage.py dynamic contexts, collected in the
sandbox) and Ochiai suspiciousness per line.

Ochiai(line) = failed(line) / sqrt(total_failed * (failed(line) + passed(line))): lines run by every failing test
and few passing ones rank first.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from typing import Any

from ..context import Evaluation, StageContext
from ..protocol import TestCase
from ..pytest_command import split_pytest

COVERAGERC = ".chain-coveragerc"
# Contexts are switched per test by chain's report plugin (CHAIN_COVERAGE_CONTEXTS): each is a pytest node id,
# so parametrized cases, unittest methods and classes are told apart (coverage's own `test_function` contexts
# give every parametrization of a test one name).
COVERAGERC_TEXT = "[run]\nbranch = false\ndata_file = .chain-coverage\n"
FAILING_OUTCOMES = ("failed", "error", "timeout")


def coverage_command(test: str) -> str | None:
    """The task's pytest command run under coverage with per-test contexts, or None if it is not pytest."""
    parts = split_pytest(test)
    if parts is None:
        return None
    pytest = " ".join(shlex.quote(a) for a in ["-m", "pytest", *parts[1]])
    return (
        f"CHAIN_COVERAGE_CONTEXTS=1 python -m coverage run --rcfile={COVERAGERC} {pytest}; status=$?; "
        f"COVERAGE_FILE=.chain-coverage python -m chain_spectrum; exit $status"
    )


def parse_spectrum(report: dict[str, Any] | None) -> dict[str, dict[int, list[str]]] | None:
    """{file: {line: [test contexts]}} from the `spectrum` chain_spectrum adds to the run's report file (its
    own channel, not stdout: a spectrum of thousands of tests x lines is megabytes), or None when absent."""
    raw = (report or {}).get("spectrum")
    if not isinstance(raw, dict):
        return None
    names = raw.get("contexts", [])
    return {
        f: {int(n): [names[i] for i in idx] for n, idx in lines.items()} for f, lines in raw.get("files", {}).items()
    }


def _context_key(nodeid: str) -> tuple[str, str]:
    """'tests/test_x.py::TestC::test_m[1]' -> ('test_x', 'TestC.test_m'), comparable with coverage contexts."""
    path, _, rest = nodeid.partition("::")
    stem = path.rsplit("/", 1)[-1].removesuffix(".py")
    return stem, re.sub(r"\[.*\]$", "", rest).replace("::", ".")


def _context_of(context: str, keys: dict[tuple[str, str], bool]) -> bool | None:
    """Failed (True) / passed (False) for a coverage context like 'pkg.test_x.TestC.test_m', None if no test."""
    parts = context.split(".")
    for cut in range(1, len(parts)):
        key = (parts[cut - 1], ".".join(parts[cut:]))
        if key in keys:
            return keys[key]
    return None


@dataclass
class Suspicion:
    file: str
    line: int
    score: float
    failed: int
    passed: int
    code: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "score": round(self.score, 4),
            "failed": self.failed,
            "passed": self.passed,
            "code": self.code,
        }


def is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def ochiai(
    spectrum: dict[str, dict[int, list[str]]], cases: list[TestCase], files: dict[str, str], limit: int = 20
) -> list[Suspicion]:
    by_nodeid: dict[str, bool] = {}  # a subtest's verdict counts for the test that ran it
    for case in cases:
        nodeid = (case.model_extra or {}).get("subtest_of") or case.nodeid
        by_nodeid[nodeid] = by_nodeid.get(nodeid, False) or case.outcome in FAILING_OUTCOMES
    by_key: dict[tuple[str, str], bool] = {}  # for contexts named the coverage.py way (module.Class.test)
    for nodeid, failed in by_nodeid.items():
        key = _context_key(nodeid)
        by_key[key] = by_key.get(key, False) or failed
    total_failed = sum(by_nodeid.values())
    if not total_failed:
        return []
    known: dict[str, bool | None] = {}  # a context recurs on every line it ran: resolve each name once

    def verdict(context: str) -> bool | None:
        if context not in known:
            known[context] = by_nodeid[context] if context in by_nodeid else _context_of(context, by_key)
        return known[context]

    ranked = []
    for path, lines in spectrum.items():
        if path not in files or is_test_file(path) or not path.endswith(".py"):
            continue
        source = files[path].splitlines()
        for line, contexts in lines.items():
            verdicts = [v for v in map(verdict, contexts) if v is not None]
            ef, ep = sum(verdicts), len(verdicts) - sum(verdicts)
            if not ef:
                continue
            score = ef / math.sqrt(total_failed * (ef + ep))
            code = source[line - 1].strip() if 0 < line <= len(source) else ""
            ranked.append(Suspicion(path, line, score, ef, ep, code))
    # Ties: fewer passing tests first, then deeper lines (a return's expression more often than a def line).
    ranked.sort(key=lambda s: (-s.score, s.passed, _is_header(s.code), s.file, -s.line))
    return ranked[:limit]


def _is_header(code: str) -> bool:
    return code.startswith(("def ", "class ", "import ", "from ", "@"))


def localize(
    task_files: dict[str, str],
    test: str,
    ev: Evaluation,
    ctx: StageContext,
    label: str,
    env: dict[str, str] | None = None,
) -> tuple[list[Suspicion], str | None]:
    """Run the tests once more under coverage and rank lines. Returns (ranking, reason when unavailable).
    `env` adds to the run's environment (per-test limits: chain.analysis.limits.limits_env)."""
    command = coverage_command(test)
    if command is None:
        return [], "fault localization needs a pytest test command"
    run = ctx.run_tests({**task_files, COVERAGERC: COVERAGERC_TEXT}, command, label=f"{label} coverage", env=env)
    spectrum = parse_spectrum(run.outcome.report)
    if spectrum is None:
        return [], f"no coverage data ({run.summary})"
    cases = run.cases or ev.cases
    return ochiai(spectrum, cases, task_files), None
