"""The repair search: candidates from the mutation operators at the most suspicious lines, evaluated in the
sandbox in parallel, the smallest edit that passes every test kept.

Profiles set the search (profiles/*.toml [search]): how many suspicious lines, how many candidate
evaluations, how many edits may be combined (1: single edits; 2: then pairs; 3: then triples) and whether to
stop at the first plausible patch. Deterministic for a seed: candidates are evaluated in a fixed order in
fixed-size rounds, and the winner is chosen by (edit count, edit size, order), not by which run finished first.
"""

from __future__ import annotations

import itertools
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ..context import Evaluation, StageContext
from ..pytest_command import narrowed
from .mutate import Edit, apply, mutations

PARALLEL = max(1, min(4, os.cpu_count() or 1))
PROMISING_PER_ROUND = 12  # singles kept to combine into pairs / triples


@dataclass
class Candidate:
    edits: tuple[Edit, ...]
    files: dict[str, str]
    order: int

    @property
    def size(self) -> tuple[int, int]:
        return len(self.edits), sum(abs(len(e.text) - len(e.before)) + 1 for e in self.edits)


@dataclass
class RepairResult:
    fixed: Candidate | None
    evaluation: Evaluation | None
    evaluated: int
    plausible: int
    lines: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""


class Searcher:
    def __init__(self, task_files: dict[str, str], test: str, failing: list[str], ctx: StageContext,
                 baseline_ms: float, label: str):
        self.files, self.test, self.failing, self.label = task_files, test, failing, label
        # A mutant can loop forever: give each candidate run a few times the original's time, within the profile.
        limit = max(2.0, 10 * baseline_ms / 1000)
        self.ctx = replace(ctx, timeout_s=min(ctx.run_timeout, limit))
        # Screening runs only the failing tests, all of them: a candidate that fixes some is material for pairs.
        self.screen = narrowed(test, failing) if failing else None
        self.budget = ctx.profile.search.candidate_budget
        self.evaluated = 0
        self.plausible: list[tuple[Candidate, Evaluation]] = []
        self.partial: list[tuple[int, Candidate]] = []  # (failing tests fixed, candidate): material for pairs

    def _evaluate(self, cand: Candidate) -> tuple[Candidate, Evaluation | None, int]:
        if self.ctx.cancel.is_set():
            return cand, None, 0
        if self.screen:
            quick = self.ctx.run_tests(cand.files, self.screen, label=self.label)
            fixed = sum(c.outcome == "passed" for c in quick.cases)
            if quick.status != "passed":
                return cand, None, fixed
        full = self.ctx.run_tests(cand.files, self.test, label=self.label)
        return cand, full if full.status == "passed" else None, len(self.failing)

    def run_round(self, candidates: list[Candidate], early_stop: bool) -> None:
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="chain-repair") as pool:
            for start in range(0, len(candidates), PARALLEL * 2):
                if self.evaluated >= self.budget or self.ctx.cancel.is_set():
                    return
                chunk = candidates[start : start + min(PARALLEL * 2, self.budget - self.evaluated)]
                self.evaluated += len(chunk)
                for cand, full, fixed in pool.map(self._evaluate, chunk):
                    if full is not None:
                        self.plausible.append((cand, full))
                    elif fixed:
                        self.partial.append((fixed, cand))
                if early_stop and self.plausible:
                    return


def search(task_files: dict[str, str], test: str, failing: list[str], suspicious: list[dict[str, Any]],
           ctx: StageContext, baseline_ms: float, label: str = "") -> RepairResult:
    settings = ctx.profile.search
    lines = [s for s in suspicious if s.get("file") in task_files][: settings.suspicious_lines]
    rng = random.Random(f"{ctx.seed}/{label}")
    singles: list[Candidate] = []
    order = 0
    for rank, spot in enumerate(lines):
        edits = mutations(spot["file"], task_files[spot["file"]], int(spot["line"]))
        rng.shuffle(edits)  # no operator is favoured by its place in the list; same seed, same order
        for edit in edits:
            files = apply(task_files, [edit])
            if files is not None:
                singles.append(Candidate((edit,), files, order))
                order += 1
    searcher = Searcher(task_files, test, failing, ctx, baseline_ms, label)
    result = RepairResult(None, None, 0, 0, lines=lines)
    searcher.run_round(singles, settings.early_stop)
    for size in range(2, settings.max_edits + 1):
        if searcher.plausible or searcher.evaluated >= searcher.budget or ctx.cancel.is_set():
            break
        # Combine the singles that fixed some failing tests; with none, the top-ranked lines' singles.
        promising = [c for _, c in sorted(searcher.partial, key=lambda fc: (-fc[0], fc[1].order))]
        pool = (promising or singles)[:PROMISING_PER_ROUND]
        combos = []
        for group in itertools.combinations(pool, size):
            edits = tuple(e for c in group for e in c.edits)
            if len({(e.file, e.start) for e in edits}) < len(edits):
                continue
            files = apply(task_files, list(edits))
            if files is not None:
                combos.append(Candidate(edits, files, order))
                order += 1
        searcher.run_round(combos, settings.early_stop)
    result.evaluated = searcher.evaluated
    result.plausible = len(searcher.plausible)
    if searcher.plausible:
        best, ev = min(searcher.plausible, key=lambda ce: (ce[0].size, ce[0].order))
        result.fixed, result.evaluation = best, ev
    elif searcher.evaluated >= searcher.budget:
        result.stopped = "candidate budget spent"
    return result
