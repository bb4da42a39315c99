"""The repair search: candidates from the mutation operators at the most suspicious lines, validated in the
sandbox, the plausible patches ranked and the best one verified by the task's own test command.

Profiles set the search (profiles/*.toml [search]): how many suspicious lines, how many candidate
evaluations, how many seconds (`time_budget_s`, overridden by the stage's --time-budget), how many edits may be
combined (1: single edits; 2: then pairs; 3: then triples), whether to stop at the first plausible patch and
otherwise how many to keep. Candidates are tried most promising first: the line's suspiciousness times what
the operator has been worth in this context (chain.repair.learning), a seeded shuffle breaking ties, so the
same seed gives the same order and the same result.

Validation (chain.repair.batch): a batch of candidates per sandbox run, each screened on the original's
failing tests first, then the tests whose coverage touches its edited lines, stopping at the first failure;
only a candidate that passes screening runs the whole suite. CPU-time limits from the original's cost
(chain.repair.limits) stop a looping mutant within a fraction of a second.

Verification: the best plausible patches, in rank order, run the task's own command in a fresh sandbox run;
with an `equivalence` check (chain.equivalence, scope "inputs where the original was right") a patch that
passes but changes what a function returned on a call of a test the original passed is rejected, and the next
one is tried.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ..context import Evaluation, StageContext
from ..findings import Equivalence
from . import batch
from .coverage import CoverageMap
from .learning import OperatorPriors, line_shapes
from .limits import CandidateLimits
from .mutate import Edit, apply, mutations

PARALLEL = max(1, min(4, os.cpu_count() or 1))
BATCH_SIZE = 16  # candidates per sandbox run: a run costs about what 8 swapped candidates do
PROMISING_PER_ROUND = 12  # singles kept to combine into pairs / triples
WITHIN_OPERATOR_DECAY = 0.8
VERIFY_AT_MOST = 3  # plausible patches tried in turn by the task's own command
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass
class Candidate:
    edits: tuple[Edit, ...]
    files: dict[str, str]
    order: int
    priority: float = 0.0
    context: str = ""  # failing-test shape / statement kind at the first edit: what learning is keyed on
    covering: int = 0  # tests whose coverage touches the edited lines
    line_score: float = 0.0  # suspiciousness of the (least suspicious) edited line

    @property
    def size(self) -> tuple[int, int]:
        return len(self.edits), sum(abs(len(e.text) - len(e.before)) + 1 for e in self.edits)

    @property
    def changed_tokens(self) -> int:
        total = 0
        for e in self.edits:
            a, b = _TOKEN.findall(e.before), _TOKEN.findall(e.text)
            common = sum(1 for x, y in zip(a, b) if x == y) + sum(1 for x, y in zip(reversed(a), reversed(b)) if x == y)
            total += max(len(a), len(b)) - min(common, min(len(a), len(b)))
        return total

    def rank_key(self) -> tuple:
        """Smallest first: fewest edits, fewest changed tokens, then at the most suspicious line, with the most
        tests covering the change, earliest."""
        return (
            len(self.edits),
            self.changed_tokens,
            -round(self.line_score, 6),
            -self.covering,
            self.size[1],
            self.order,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "edits": [e.describe() for e in self.edits],
            "changed_tokens": self.changed_tokens,
            "covering_tests": self.covering,
        }


@dataclass
class RepairResult:
    fixed: Candidate | None
    evaluation: Evaluation | None
    evaluated: int
    plausible: int
    lines: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""
    alternatives: list[Candidate] = field(default_factory=list)  # other plausible patches, best first
    tried: dict[str, int] = field(default_factory=dict)  # "operator|context" -> candidates evaluated
    seconds: float = 0.0
    verification: str = ""
    equivalence: Equivalence | None = None  # the fix's verdict, when a check was given
    rejected: list[tuple[Candidate, Equivalence]] = field(default_factory=list)  # passed, but changed behaviour


class Searcher:
    def __init__(
        self,
        task_files: dict[str, str],
        test: str,
        failing: list[str],
        ctx: StageContext,
        limits: CandidateLimits,
        coverage: CoverageMap,
        label: str,
        deadline: float,
    ):
        self.files, self.test, self.failing, self.label = task_files, test, failing, label
        self.limits, self.coverage, self.deadline = limits, coverage, deadline
        self.ctx = replace(ctx, timeout_s=min(ctx.run_timeout, limits.wall_s), limits=limits.limits(ctx.limits))
        self.batched = batch.supported(test)
        self.budget = ctx.profile.search.candidate_budget
        self.evaluated = 0
        self.plausible: list[Candidate] = []
        self.partial: list[tuple[int, Candidate]] = []  # (failing tests fixed, candidate): material for pairs
        self.tried: dict[str, int] = {}

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def screen_ids(self, cand: Candidate) -> list[str] | None:
        """The failing tests first, then those that ran the edited lines (original coverage), no repeats."""
        covering = self.coverage.tests_for([(e.file, e.line) for e in cand.edits])
        cand.covering = len(covering)
        ids = list(dict.fromkeys([*self.failing, *covering]))
        return ids or None

    def _changed(self, cand: Candidate) -> dict[str, str]:
        return {p: t for p, t in cand.files.items() if self.files.get(p) != t}

    def _validate(self, chunk: list[Candidate]) -> list[batch.Verdict]:
        if self.ctx.cancel.is_set():
            return [batch.Verdict(False, False, 0, "cancelled", 0.0) for _ in chunk]
        if self.batched:
            return batch.run_batch(
                self.ctx,
                self.files,
                [(self._changed(c), self.screen_ids(c)) for c in chunk],
                self.test,
                self.limits,
                self.label,
            )
        return [self._validate_one(c) for c in chunk]

    def _validate_one(self, cand: Candidate) -> batch.Verdict:
        """A command that is not plain pytest: run it whole, as the task gives it."""
        ev = self.ctx.run_tests(cand.files, self.test, label=self.label)
        return batch.Verdict(ev.status == "passed", ev.status == "passed", 0, ev.status, ev.duration_ms)

    def run_round(self, candidates: list[Candidate], early_stop: bool, keep: int) -> None:
        size = BATCH_SIZE if self.batched else 1
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="chain-repair") as pool:
            for start in range(0, len(candidates), PARALLEL * size):
                if self.evaluated >= self.budget or self.ctx.cancel.is_set() or self.out_of_time():
                    return
                wave = candidates[start : start + min(PARALLEL * size, self.budget - self.evaluated)]
                self.evaluated += len(wave)
                chunks = [wave[i : i + size] for i in range(0, len(wave), size)]
                for chunk, verdicts in zip(chunks, pool.map(self._validate, chunks)):
                    for cand, verdict in zip(chunk, verdicts):
                        key = f"{cand.edits[0].operator}|{cand.context}"
                        self.tried[key] = self.tried.get(key, 0) + 1
                        if verdict.passed:
                            self.plausible.append(cand)
                        elif verdict.fixed and not verdict.screened:
                            self.partial.append((min(verdict.fixed, len(self.failing)), cand))
                if self.plausible and (early_stop or len(self.plausible) >= keep):
                    return


def _line_weight(spot: dict[str, Any], rank: int) -> float:
    score = spot.get("score")
    return float(score) if isinstance(score, (int, float)) and score > 0 else 1.0 / (rank + 1)


def ranked_singles(
    task_files: dict[str, str], lines: list[dict[str, Any]], priors: OperatorPriors, failure_shape: str, seed: str
) -> list[Candidate]:
    """Every single edit at the ranked lines, most promising first (line suspiciousness x operator weight),
    ties in a seeded order."""
    rng = random.Random(seed)
    singles: list[Candidate] = []
    for rank, spot in enumerate(lines):
        path, line = spot["file"], int(spot["line"])
        context = f"{failure_shape}/{line_shapes(task_files[path]).get(line, 'Other')}"
        seen: dict[str, int] = {}
        for edit in mutations(path, task_files[path], line):
            files = apply(task_files, [edit])
            if files is None:
                continue
            # An operator's k-th proposal at a line (they come most alike / nearest first) counts for less:
            # the first proposals of every operator go before the tenth of any one.
            k = seen[edit.operator] = seen.get(edit.operator, -1) + 1
            weight = _line_weight(spot, rank) * priors.weight(edit.operator, context) * WITHIN_OPERATOR_DECAY**k
            singles.append(Candidate((edit,), files, 0, weight, context, line_score=_line_weight(spot, rank)))
    rng.shuffle(singles)  # ties between equally promising candidates: seeded, not by list position
    singles.sort(key=lambda c: -round(c.priority, 9))
    for i, cand in enumerate(singles):
        cand.order = i
    return singles


def search(
    task_files: dict[str, str],
    test: str,
    failing: list[str],
    suspicious: list[dict[str, Any]],
    ctx: StageContext,
    limits: CandidateLimits,
    coverage: CoverageMap | None = None,
    priors: OperatorPriors | None = None,
    failure_shape: str = "",
    label: str = "",
    time_budget_s: float | None = None,
    equivalence: Callable[[dict[str, str]], Equivalence] | None = None,
) -> RepairResult:
    started = time.monotonic()
    settings = ctx.profile.search
    budget_s = time_budget_s if time_budget_s is not None else settings.time_budget_s
    deadline = started + budget_s if budget_s else float("inf")
    priors = priors or OperatorPriors()
    coverage = coverage or CoverageMap()
    lines = [s for s in suspicious if s.get("file") in task_files][: settings.suspicious_lines]
    singles = ranked_singles(task_files, lines, priors, failure_shape, f"{ctx.seed}/{label}")
    order = len(singles)
    searcher = Searcher(task_files, test, failing, ctx, limits, coverage, label, deadline)
    keep = 1 if settings.early_stop else settings.keep_plausible
    searcher.run_round(singles, settings.early_stop, keep)
    for size in range(2, settings.max_edits + 1):
        if searcher.plausible or searcher.evaluated >= searcher.budget or ctx.cancel.is_set() or searcher.out_of_time():
            break
        # Combine the singles that fixed some failing tests; with none, the most promising singles.
        promising = [c for _, c in sorted(searcher.partial, key=lambda fc: (-fc[0], -fc[1].priority, fc[1].order))]
        pool = (promising or singles)[:PROMISING_PER_ROUND]
        combos = []
        for group in itertools.combinations(pool, size):
            edits = tuple(e for c in group for e in c.edits)
            if len({(e.file, e.start) for e in edits}) < len(edits):
                continue
            files = apply(task_files, list(edits))
            if files is not None:
                combos.append(
                    Candidate(
                        edits,
                        files,
                        order,
                        min(c.priority for c in group),
                        group[0].context,
                        line_score=min(c.line_score for c in group),
                    )
                )
                order += 1
        searcher.run_round(combos, settings.early_stop, keep)
    result = RepairResult(None, None, searcher.evaluated, len(searcher.plausible), lines=lines, tried=searcher.tried)
    ranked = sorted(searcher.plausible, key=Candidate.rank_key)
    for cand in ranked[:VERIFY_AT_MOST]:
        # The patch chain reports passes the task's own command, in a run of its own...
        ev = ctx.run_tests(cand.files, test, label=label)
        if ev.status != "passed":
            result.verification = f"a plausible patch failed verification: {ev.summary}"
            continue
        # ... and, with a check, does what the original did on the calls of the tests the original passed.
        verdict = equivalence(cand.files) if equivalence is not None else None
        if verdict is not None and verdict.equivalent is False:
            result.rejected.append((cand, verdict))
            result.verification = "a plausible patch changes behaviour where the original was right"
            continue
        result.fixed, result.evaluation, result.equivalence = cand, ev, verdict
        result.verification = f"verified by `{test}` in a fresh run"
        if verdict is not None and verdict.checked:
            result.verification += f", equivalent on {verdict.calls_compared} recorded call(s)"
        break
    if result.fixed is not None:
        result.alternatives = [c for c in ranked if c is not result.fixed]
    elif searcher.out_of_time():
        result.stopped = f"time budget of {budget_s:g}s spent"
    elif searcher.evaluated >= searcher.budget:
        result.stopped = "candidate budget spent"
    elif not singles:
        result.stopped = "no candidates at the ranked lines"
    else:
        result.stopped = "candidates exhausted"
    result.seconds = time.monotonic() - started
    return result
