"""One generated task: a small Python project (modules, pytest tests, benchmark.py) and its ground truth.

The correct project comes first; a `bug` task then gets one seeded bug (two, sometimes, when hard) at a site
its family marked, kept only if a test case detects it and chain's mutation operators can undo it; a `slow`
task gets its family's slow form, kept only if chain's optimize offers exactly the rewrite that fixes it.
Difficulty: easy = the family's own module; medium = one more unit of helpers (same module or a second
one); hard = two more units, the bug detected by a single test, and half the time a second bug in a helper.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass, field

from chain.protocol import DEFAULT_TEST_COMMAND, Task

from .families import Case, Site, Unit, registry, split_markers
from .gen_check import (
    GeneratorError,
    Outcome,
    assertion,
    literal,
    operator_between,
    outcomes,
    passes,
    rewrite_names,
    rewritten,
)

GENERATOR_VERSION = 1
BENCH_FILE = "benchmark.py"
BENCH_COMMAND = f"python {BENCH_FILE}"
HELPER_UNITS = {"easy": 0, "medium": 1, "hard": 2}
SLOW_STEP_LIMIT = 5_000_000  # the slow forms recurse exponentially, on the tests' small inputs too
REWRITE_PREFIX = {
    "memoize": "memoize ",
    "set membership": "list -> set membership",
    "hoist len": "hoist len(",
    "join": "build ",
}


@dataclass
class Part:
    """A unit as it goes into a module: its current text, sites, test cases and their expected values."""

    unit: Unit
    text: str
    sites: list[Site]
    cases: list[Case]
    expected: list[Outcome]
    module: str = ""
    first_line: int = 1  # where the unit starts in its module (1-based)
    bugs: list[tuple[Site, list[int]]] = field(default_factory=list)  # (site, indexes of the cases it fails)


def _prepare(unit: Unit) -> Part:
    text, sites = split_markers(unit.text.strip("\n") + "\n")
    results = outcomes(text, [c.expr for c in unit.cases])
    for case, result in zip(unit.cases, results):
        if result.kind != "value":
            raise GeneratorError(f"{unit.family}: correct code {result.kind} on {case.expr}")
        literal(result.value)
    return Part(unit, text, sites, list(unit.cases), results)


def _mutate(text: str, site: Site) -> str:
    lines = text.split("\n")
    lines[site.line] = lines[site.line].replace(site.old, site.new, 1)
    return "\n".join(lines)


def _detected(part: Part, text: str) -> list[int] | None:
    """Indexes of the cases that fail on `text`; None when any run hangs (tests must not time out)."""
    results = outcomes(text, [c.expr for c in part.cases])
    if any(r.kind == "hung" for r in results):
        return None
    return [i for i, (got, want) in enumerate(zip(results, part.expected)) if not passes(got, want)]


def _viable_sites(rng: random.Random, part: Part) -> list[tuple[Site, list[int]]]:
    order = list(part.sites)
    rng.shuffle(order)
    viable = []
    for site in order:
        failing = _detected(part, _mutate(part.text, site))
        if failing:
            viable.append((site, failing))
    return viable


def _seed_bug(rng: random.Random, part: Part, single_test: bool) -> None:
    viable = _viable_sites(rng, part)
    if not viable:
        raise GeneratorError(f"{part.unit.family}: no seeded bug is detected by its tests")
    if single_test:  # the rarest-detected site, and only one of the tests that detect it is kept
        site, failing = min(viable, key=lambda sf: len(sf[1]))
        keep = failing[rng.randrange(len(failing))]
        dropped = set(failing) - {keep}
        part.cases = [c for i, c in enumerate(part.cases) if i not in dropped]
        part.expected = [e for i, e in enumerate(part.expected) if i not in dropped]
        failing = [keep - sum(1 for d in dropped if d < keep)]
    else:
        site, failing = viable[0]
    part.bugs.append((site, failing))


def _helpers(rng: random.Random, primary: Unit, count: int) -> list[Unit]:
    """`count` units of other families whose module, function and global names clash with nothing."""
    families = registry()
    others = [name for name in families if name != primary.family]
    for _ in range(50):
        units = [families[name](rng) for name in rng.sample(others, count)]
        names = [_top_level_names(u) for u in [primary, *units]]
        modules = [u.module for u in [primary, *units]]
        if len(set(modules)) == len(modules) and sum(map(len, names)) == len(set().union(*names)):
            return units
    raise GeneratorError(f"no helper units without name clashes for {primary.family}")


def _top_level_names(unit: Unit) -> set[str]:
    tree = ast.parse(split_markers(unit.text)[0])
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    return names | {unit.module}


def _layout(rng: random.Random, parts: list[Part]) -> dict[str, list[Part]]:
    """Module name -> its parts. Helpers share the primary's module or get their own, at random."""
    primary, helpers = parts[0], parts[1:]
    if helpers and rng.random() < 0.5:
        modules = {primary.unit.module: [primary]}
        for part in helpers:
            modules[part.unit.module] = [part]
    else:
        together = list(parts)
        rng.shuffle(together)
        modules = {primary.unit.module: together}
    for name, members in modules.items():
        for part in members:
            part.module = name
    return modules


def _number_lines(modules: dict[str, list[Part]]) -> None:
    """Where each part starts in its module, once the texts are final."""
    for members in modules.values():
        line = 1
        for part in members:
            part.first_line = line
            line += part.text.strip("\n").count("\n") + 3  # the unit's lines plus two blank lines


def _module_text(members: list[Part], buggy: bool) -> str:
    texts = []
    for part in members:
        text = part.text
        for site, _ in part.bugs if buggy else ():
            text = _mutate(text, site)
        texts.append(text.strip("\n"))
    return "\n\n\n".join(texts) + "\n"


def _test_name(case: Case) -> str:
    return f"test_{case.function}_{case.label}"


def _test_file(module: str, members: list[Part]) -> str:
    imported = sorted({c.function for p in members for c in p.cases})
    out = [f"from {module} import {', '.join(imported)}\n"]
    for part in members:
        for case, want in zip(part.cases, part.expected):
            out.append(f"\n\ndef {_test_name(case)}():\n    {assertion(case.expr, want)}\n")
    return "".join(out)


def _bench_file(primary: Part) -> str:
    body = "\n".join(primary.unit.bench)
    return f"from {primary.module} import {', '.join(sorted(primary.unit.exports))}\n\n{body}\n"


def _function_at(text: str, line: int) -> str:
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.lineno <= line <= (node.end_lineno or node.lineno):
            return node.name
    return ""


def build_task(seed: int, index: int, category: str, family: str, difficulty: str) -> tuple[Task, dict]:
    """The task (what the stages see) and its ground truth (what they never see)."""
    rng = random.Random(f"chain-generate/{GENERATOR_VERSION}/{seed}/{index}")
    primary_unit = registry()[family](rng)
    if category == "slow" and primary_unit.slow is None:
        raise GeneratorError(f"family {family} has no slow form")
    parts = [_prepare(u) for u in [primary_unit, *_helpers(rng, primary_unit, HELPER_UNITS[difficulty])]]
    primary = parts[0]
    modules = _layout(rng, parts)  # drawn before anything category-specific: the categories look alike
    if category == "slow":
        slow = primary_unit.slow
        assert slow is not None  # checked above
        again = outcomes(slow.text, [c.expr for c in primary.cases], SLOW_STEP_LIMIT)
        if not all(a.kind == "value" and a.same_as(e) for a, e in zip(again, primary.expected)):
            raise GeneratorError(f"{family}: slow form disagrees with the correct one")
        primary.text, primary.sites = split_markers(slow.text.strip("\n") + "\n")[0], []
    elif category == "bug":
        _seed_bug(rng, primary, single_test=difficulty == "hard")
        if difficulty == "hard" and rng.random() < 0.5:
            helper = parts[1 + rng.randrange(len(parts) - 1)]
            _seed_bug(rng, helper, single_test=False)
    _number_lines(modules)
    correct: dict[str, str] = {}
    given: dict[str, str] = {}
    for name, members in modules.items():
        correct[f"{name}.py"] = _module_text(members, buggy=False)
        given[f"{name}.py"] = _module_text(members, buggy=True)
        correct[f"test_{name}.py"] = given[f"test_{name}.py"] = _test_file(name, members)
    correct[BENCH_FILE] = given[BENCH_FILE] = _bench_file(primary)
    task = Task(
        id=f"gen-{seed}-{index:04d}-{family}",
        files=given,
        test=DEFAULT_TEST_COMMAND,
        bench=BENCH_COMMAND,
        metadata={"generated": {"seed": seed, "generator_version": GENERATOR_VERSION}},
    )
    truth: dict = {
        "category": category,
        "family": family,
        "difficulty": difficulty,
        "correct_files": correct,
        "best_action": {"bug": "repair", "slow": "optimize", "correct": "none"}[category],
    }
    offered = rewrite_names(correct)
    if category == "slow":
        truth["slow"] = _slow_truth(primary, correct, offered)
    elif offered:
        raise GeneratorError(f"{family}: correct code offers rewrites {offered}")
    if category == "bug":
        truth["bugs"] = _bug_truth(parts, given)
    return task, truth


def _slow_truth(primary: Part, files: dict[str, str], offered: list[tuple[str, str]]) -> dict:
    slow, path = primary.unit.slow, f"{primary.module}.py"
    assert slow is not None  # only slow tasks have a slow truth
    if len(offered) != 1 or offered[0][0] != path or not offered[0][1].startswith(REWRITE_PREFIX[slow.rewrite_kind]):
        raise GeneratorError(f"{primary.unit.family}: slow form offers {offered}, not one {slow.rewrite_kind}")
    return {
        "file": path,
        "function": slow.function,
        "rewrite": offered[0][1],
        "rewrite_kind": slow.rewrite_kind,
        "speedup_class": slow.speedup_class,
        "min_speedup": slow.min_speedup,
        "optimized": {path: rewritten(files, offered[0][1])},
    }


def _bug_truth(parts: list[Part], given: dict[str, str]) -> list[dict]:
    out = []
    for part in parts:
        path = f"{part.module}.py"
        for site, failing in part.bugs:
            # Checked on the unit's own text (bugs of other units are elsewhere): same operators, less to parse.
            buggy = _mutate(part.text, site)
            fix_operator = operator_between(path, buggy, part.text, site.line + 1)
            operator = operator_between(path, part.text, buggy, site.line + 1)
            if fix_operator is None or operator is None:
                raise GeneratorError(f"{path}: {site.old!r} -> {site.new!r} is outside chain's operators")
            line = part.first_line + site.line
            if given[path].split("\n")[line - 1] != buggy.split("\n")[site.line]:
                raise GeneratorError(f"{path}:{line} is not where the bug went")
            out.append(
                {
                    "file": path,
                    "line": line,
                    "function": _function_at(part.text, site.line + 1),
                    "operator": operator,
                    "fix_operator": fix_operator,
                    "original": part.text.split("\n")[site.line],
                    "mutated": given[path].split("\n")[line - 1],
                    "failing_tests": [f"test_{part.module}.py::{_test_name(part.cases[i])}" for i in failing],
                }
            )
    return sorted(out, key=lambda b: (b["file"], b["line"]))
