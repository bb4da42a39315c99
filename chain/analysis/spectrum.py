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

import orjson

from ..context import Evaluation, StageContext
from ..protocol import TestCase
from ..pytest_command import split_pytest

COVERAGERC = ".chain-coveragerc"
COVERAGERC_TEXT = "[run]\ndynamic_context = test_function\nbranch = false\ndata_file = .chain-coverage\n"
MARK = "CHAIN-SPECTRUM "


def coverage_command(test: str) -> str | None:
    """The task's pytest command run under coverage with per-test contexts, or None if it is not pytest."""
    parts = split_pytest(test)
    if parts is None:
        return None
    pytest = " ".join(shlex.quote(a) for a in ["-m", "pytest", *parts[1]])
    return (
        f"python -m coverage run --rcfile={COVERAGERC} {pytest}; status=$?; "
        f"COVERAGE_FILE=.chain-coverage python -m chain_spectrum; exit $status"
    )


def parse_spectrum(stdout: str) -> dict[str, dict[int, list[str]]] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            raw = orjson.loads(line[len(MARK) :])
            return {f: {int(n): ctx for n, ctx in lines.items()} for f, lines in raw.items()}
    return None


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
    outcome: dict[tuple[str, str], bool] = {}
    for case in cases:
        key = _context_key(case.nodeid)
        failed = case.outcome in ("failed", "error", "xpassed")
        outcome[key] = outcome.get(key, False) or failed
    total_failed = sum(outcome.values())
    if not total_failed:
        return []
    ranked = []
    for path, lines in spectrum.items():
        if path not in files or is_test_file(path) or not path.endswith(".py"):
            continue
        source = files[path].splitlines()
        for line, contexts in lines.items():
            verdicts = [v for v in (_context_of(c, outcome) for c in contexts) if v is not None]
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
    task_files: dict[str, str], test: str, ev: Evaluation, ctx: StageContext, label: str
) -> tuple[list[Suspicion], str | None]:
    """Run the tests once more under coverage and rank lines. Returns (ranking, reason when unavailable)."""
    command = coverage_command(test)
    if command is None:
        return [], "fault localization needs a pytest test command"
    run = ctx.run_tests({**task_files, COVERAGERC: COVERAGERC_TEXT}, command, label=f"{label} coverage")
    spectrum = parse_spectrum(run.outcome.stdout)
    if spectrum is None:
        return [], f"no coverage data ({run.summary})"
    cases = run.cases or ev.cases
    return ochiai(spectrum, cases, task_files), None
