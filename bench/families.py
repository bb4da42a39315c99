"""What a project template ("family") produces for `chain generate`, and the registry of families.

A family is a function of a `random.Random` that returns a `Unit`: a few related functions (their source,
with names and constants drawn from the generator), the test cases that exercise them, a benchmark body, and
for some families a slow but correct form of one function that one of chain's optimize rewrites speeds up.

Bug sites are written into the fast source as trailing markers, `#@ OLD ~~ NEW` (several joined by ` ;; `):
on that line, replacing OLD (which occurs there exactly once) by NEW seeds a bug. The generator strips the
markers before anything is written, checks each chosen site against chain's own mutation operators, and keeps
only sites that some test case really detects (see gen_check.py).
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from string import Template
from typing import TypeVar

T = TypeVar("T")

MARKER = "  #@ "


@dataclass(frozen=True)
class Case:
    """One test: `assert EXPR == <value the correct code returns>`."""

    function: str  # the function under test (names the test)
    label: str  # what the case covers (names the test)
    expr: str  # a call of the unit's functions with literal arguments


@dataclass(frozen=True)
class SlowForm:
    """The unit's text with one function replaced by a correct but slow version."""

    function: str
    text: str
    rewrite_kind: str  # "memoize", "set membership", "hoist len" or "join": the rewrite that fixes it
    speedup_class: str  # e.g. "exponential->linear" (see generate.SPEEDUP_CLASSES)
    min_speedup: float  # floor for the benchmark's wall-clock speedup optimize measures once rewritten


@dataclass(frozen=True)
class Unit:
    family: str
    module: str  # suggested module name (not a stdlib name)
    text: str  # efficient, correct source of the functions, bug-site markers included
    exports: tuple[str, ...]  # functions the tests and the benchmark import
    cases: tuple[Case, ...]
    bench: tuple[str, ...]  # body of benchmark.py (after the import line)
    slow: SlowForm | None = None


@dataclass(frozen=True)
class Site:
    line: int  # 0-based line within the unit's clean text
    old: str
    new: str


def render(template: str, **names: object) -> str:
    """Dedent a template and fill its `$name` placeholders (`$` never occurs in the generated Python)."""
    return Template(textwrap.dedent(template).lstrip("\n")).substitute({k: str(v) for k, v in names.items()})


def split_markers(text: str) -> tuple[str, list[Site]]:
    """The text without bug-site markers, and the sites they described, in line order."""
    lines, sites = [], []
    for index, line in enumerate(text.splitlines()):
        code, sep, spec = line.partition(MARKER)
        lines.append(code.rstrip() if sep else line)
        for part in spec.split(" ;; ") if sep else ():
            old, _, new = (s.strip() for s in part.partition(" ~~ "))
            if not old or not new or code.count(old) != 1:
                raise ValueError(f"bad site marker {part!r} on line {line!r}")
            sites.append(Site(index, old, new))
    return "\n".join(lines) + "\n", sites


def pick(rng: random.Random, options: Sequence[T]) -> T:
    return options[rng.randrange(len(options))]


FamilyBuilder = Callable[[random.Random], Unit]


def registry() -> dict[str, FamilyBuilder]:
    """Every family by name, in a fixed order (the generator's draws depend on it)."""
    from . import gen_numeric, gen_structures, gen_textual

    out: dict[str, FamilyBuilder] = {}
    for module in (gen_numeric, gen_textual, gen_structures):
        for builder in module.FAMILIES:
            out[builder.__name__] = builder
    return out


def slow_capable(families: dict[str, FamilyBuilder]) -> list[str]:
    """Families whose unit has a slow form (a property of the family, the same for every seed)."""
    return [name for name, build in families.items() if build(random.Random(0)).slow is not None]
