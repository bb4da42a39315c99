"""`chain generate`: a deterministic suite of small Python projects with hidden ground truth.

    suite = generate_suite(seed=7, tasks=20, mix={"bugs": 0.6, "slow": 0.2, "correct": 0.2})
    write_suite(suite, Path("suite.ndjson"))   # also writes suite.truth.json

Every task is a chain `task` event (modules, pytest tests, a benchmark.py run by the task's `bench` command)
carrying nothing of its ground truth; the truth (category, seeded bugs, the expected rewrite and speedup
class, the correct files) goes to a separate file that only `chain bench` reads to score optimality.

The same (seed, tasks, mix, difficulty) and GENERATOR_VERSION give byte-identical files on any machine: every
draw comes from `random.Random` seeded with strings (never `hash()`, the clock or set order) and the output is
orjson with sorted keys. Bump GENERATOR_VERSION whenever a change alters what a seed produces.

Speedup classes of slow tasks: exponential->linear (memoized 1-D recursion), exponential->polynomial
(memoized 2-D recursion), linear->constant (a scan of a list literal per lookup becomes a set lookup),
constant-factor (`len()` hoisted out of a loop condition, string building with `join`). The truth also
carries `min_speedup`: a floor for what optimize measures on `python benchmark.py` once rewritten, wall clock
in the sandbox, whose start-up caps the ratio (3x for the exponential classes, whose code gets ~10x faster).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import orjson

from chain.errors import ConfigError
from chain.protocol import Task

from .families import registry, slow_capable
from .gen_task import GENERATOR_VERSION, build_task

CATEGORIES = ("bugs", "slow", "correct")  # mix keys, as on the command line
CATEGORY_OF = {"bugs": "bug", "slow": "slow", "correct": "correct"}  # the truth's `category`
ALIASES = {"bug": "bugs", "bugs": "bugs", "slow": "slow", "correct": "correct"}
DEFAULT_MIX = {"bugs": 0.6, "slow": 0.2, "correct": 0.2}
DIFFICULTIES = ("easy", "medium", "hard", "mixed")
MAX_TASKS = 100_000

__all__ = ["GENERATOR_VERSION", "Suite", "generate_suite", "parse_mix", "truth_path_for", "write_suite"]


@dataclass(frozen=True)
class Suite:
    seed: int
    mix: dict[str, float]
    difficulty: str
    tasks: list[Task]
    truth: dict[str, dict]  # task id -> its ground truth

    def ndjson(self) -> bytes:
        return b"".join(
            orjson.dumps(t.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS) + b"\n" for t in self.tasks
        )

    def truth_document(self) -> dict:
        counts = {c: sum(1 for t in self.truth.values() if t["category"] == c) for c in CATEGORY_OF.values()}
        return {
            "generator_version": GENERATOR_VERSION,
            "seed": self.seed,
            "tasks": len(self.tasks),
            "mix": self.mix,
            "difficulty": self.difficulty,
            "counts": counts,
            "suite_sha256": hashlib.sha256(self.ndjson()).hexdigest(),
            "truth": self.truth,
        }

    def truth_json(self) -> bytes:
        return orjson.dumps(self.truth_document(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def parse_mix(spec: str) -> dict[str, float]:
    """`bugs=0.6,slow=0.2,correct=0.2`, or `bugs,slow` for equal shares, as normalized shares."""
    shares: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, has_value, value = (s.strip() for s in part.partition("="))
        try:
            shares[_category(name)] = float(value) if has_value else 1.0
        except ValueError:
            raise ConfigError(f"mix share {part!r} is not a number") from None
    return normalize_mix(shares)


def _category(name: str) -> str:
    if name.lower() not in ALIASES:
        raise ConfigError(f"unknown task category {name!r} in the mix (choose from {', '.join(CATEGORIES)})")
    return ALIASES[name.lower()]


def normalize_mix(mix: dict[str, float] | None) -> dict[str, float]:
    if mix is None:
        return dict(DEFAULT_MIX)
    shares: dict[str, float] = {}
    for name, value in mix.items():
        share = float(value)
        if not share >= 0 or share == float("inf"):
            raise ConfigError(f"mix share for {name!r} must be a finite number >= 0, not {value!r}")
        key = _category(name)
        shares[key] = shares.get(key, 0.0) + share
    total = sum(shares.values())
    if total <= 0:
        raise ConfigError("the mix gives no task category a share above 0")
    return {c: shares.get(c, 0.0) / total for c in CATEGORIES}


def _counts(mix: dict[str, float], tasks: int) -> dict[str, int]:
    """Tasks per category: largest remainders, ties in CATEGORIES order (so the shares add up to `tasks`)."""
    exact = {c: mix[c] * tasks for c in CATEGORIES}
    counts = {c: int(exact[c]) for c in CATEGORIES}
    by_remainder = sorted(CATEGORIES, key=lambda c: (-(exact[c] - counts[c]), CATEGORIES.index(c)))
    for c in by_remainder[: tasks - sum(counts.values())]:
        counts[c] += 1
    return counts


def _plan(rng: random.Random, tasks: int, mix: dict[str, float], difficulty: str) -> list[tuple[str, str, str]]:
    """(category, family, difficulty) per task index: categories interleaved at random, each category cycling
    through its families in a shuffled order so a suite of a dozen tasks covers every family."""
    families = list(registry())
    eligible = {"bugs": families, "correct": families, "slow": slow_capable(registry())}
    counts = _counts(mix, tasks)
    order = [c for c in CATEGORIES for _ in range(counts[c])]
    rng.shuffle(order)
    cycles: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    plan = []
    for category in order:
        if not cycles[category]:
            cycles[category] = rng.sample(eligible[category], len(eligible[category]))
        family = cycles[category].pop(0)
        level = difficulty if difficulty != "mixed" else ("easy", "medium", "hard")[rng.randrange(3)]
        plan.append((CATEGORY_OF[category], family, level))
    return plan


def generate_suite(seed: int, tasks: int, mix: dict[str, float] | None = None, difficulty: str = "mixed") -> Suite:
    """`tasks` generated tasks and their ground truth; the same arguments always give the same suite."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, not {seed!r}")
    if isinstance(tasks, bool) or not isinstance(tasks, int) or not 1 <= tasks <= MAX_TASKS:
        raise ConfigError(f"tasks must be an integer from 1 to {MAX_TASKS}, not {tasks!r}")
    if difficulty not in DIFFICULTIES:
        raise ConfigError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}")
    shares = normalize_mix(mix)
    rng = random.Random(f"chain-generate/{GENERATOR_VERSION}/{seed}")
    built, truth = [], {}
    for index, (category, family, level) in enumerate(_plan(rng, tasks, shares, difficulty)):
        task, task_truth = build_task(seed, index, category, family, level)
        built.append(task)
        truth[task.id] = task_truth
    return Suite(seed, shares, difficulty, built, truth)


def truth_path_for(suite_path: Path) -> Path:
    """`X.ndjson` -> `X.truth.json` (any other name gets `.truth.json` appended), where `chain bench` looks."""
    name = suite_path.name[: -len(".ndjson")] if suite_path.name.endswith(".ndjson") else suite_path.name
    return suite_path.with_name(name + ".truth.json")


def write_suite(suite: Suite, out_path: Path, truth_path: Path | None = None) -> tuple[Path, Path]:
    """Write the tasks to `out_path` and the ground truth beside it (or to `truth_path`)."""
    out_path = Path(out_path)
    truth_path = Path(truth_path) if truth_path is not None else truth_path_for(out_path)
    if truth_path.resolve() == out_path.resolve():
        raise ConfigError(f"the ground truth cannot overwrite the suite itself: {out_path}")
    for path, data in ((out_path, suite.ndjson()), (truth_path, suite.truth_json())):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # `-o out/suite.ndjson` in a fresh checkout
            path.write_bytes(data)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return out_path, truth_path
