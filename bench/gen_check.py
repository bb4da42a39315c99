"""Checks the generator runs on what it builds, so every suite holds what its ground truth claims.

* `outcomes` runs a unit's test expressions in-process under a step budget (a mutant may loop forever);
  the generator uses it to compute the expected values from the correct code and to keep only seeded bugs
  that some test detects without hanging.
* `operator_between` names the single chain mutation (chain/repair/mutate.py) that turns one text into the
  other: a seeded bug must be one chain's repair can make, and undo.
* `rewrite_names` lists the optimize rewrites (chain/optimize/rewrites.py) a project offers: exactly the
  expected one for a slow task, none for any other.
"""

from __future__ import annotations

import ast
import builtins
import sys
from dataclasses import dataclass
from typing import Any

from chain.optimize.rewrites import candidates
from chain.repair.mutate import mutations

STEP_LIMIT = 200_000  # traced line/call events per expression: far above what any correct unit needs


class GeneratorError(RuntimeError):
    """A family produced something inconsistent: a bug in the generator, never in the user's input."""


class _OutOfSteps(BaseException):  # BaseException: the traced code's own `except Exception` cannot swallow it
    pass


@dataclass(frozen=True)
class Outcome:
    kind: str  # "value", "raised" or "hung"
    value: Any = None

    def same_as(self, other: Outcome) -> bool:
        if self.kind != other.kind:
            return False
        if self.kind != "value":
            return True
        try:  # what the generated test asserts: `actual == expected`
            return bool(self.value == other.value)
        except Exception:
            return False


def _bounded(call, limit: int) -> Outcome:
    steps = 0

    def tracer(frame, event, arg):
        nonlocal steps
        steps += 1
        if steps > limit:
            raise _OutOfSteps
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return Outcome("value", call())
    except _OutOfSteps:
        return Outcome("hung")
    except RecursionError:
        return Outcome("hung")
    except Exception as exc:  # the test would fail with this exception
        return Outcome("raised", type(exc).__name__)
    finally:
        sys.settrace(previous)


def outcomes(text: str, exprs: list[str], limit: int = STEP_LIMIT) -> list[Outcome]:
    """Each expression's outcome against a fresh namespace holding the module text."""
    namespace: dict[str, Any] = {"__name__": "generated_unit", "__builtins__": builtins}
    loaded = _bounded(lambda: exec(compile(text, "<generated>", "exec"), namespace), limit)
    if loaded.kind != "value":
        return [loaded for _ in exprs]
    return [_bounded(lambda e=expr: eval(e, namespace), limit) for expr in exprs]


def assertion(expr: str, want: Outcome) -> str:
    """The test's assert line for an expected outcome (idiomatic for booleans)."""
    if isinstance(want.value, bool):
        return f"assert {expr}" if want.value else f"assert not {expr}"
    return f"assert {expr} == {literal(want.value)}"


def passes(got: Outcome, want: Outcome) -> bool:
    """Whether the `assertion` for `want` holds when the call's outcome is `got`."""
    if got.kind != "value":
        return False
    try:
        if isinstance(want.value, bool):
            return bool(got.value) is want.value
        return bool(got.value == want.value)
    except Exception:
        return False


LITERAL_TYPES = (int, str, bool, list, tuple, dict, type(None))


def literal(value: Any) -> str:
    """`repr` of a value a test can compare against, checked to read back as the same value."""

    def plain(v: Any) -> bool:
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        if isinstance(v, dict):
            return all(plain(k) and plain(x) for k, x in v.items())
        return type(v) in LITERAL_TYPES

    text = repr(value)
    if not plain(value) or ast.literal_eval(text) != value:
        raise GeneratorError(f"expected value {text[:80]} is not a plain literal")
    return text


def operator_between(path: str, before: str, after: str, line: int) -> str | None:
    """The chain mutation operator that turns `before` into `after` with one edit at `line` (1-based):
    the same text if one does, else the same syntax tree (chain may add parentheses); None when none does."""
    edits = [(e.operator, before[: e.start] + e.text + before[e.end :]) for e in mutations(path, before, line)]
    for operator, candidate in edits:
        if candidate == after:
            return operator
    target = ast.dump(ast.parse(after))
    for operator, candidate in edits:
        if ast.dump(ast.parse(candidate)) == target:
            return operator
    return None


def rewrite_names(files: dict[str, str]) -> list[tuple[str, str]]:
    """(file, rewrite name) for every rewrite chain's optimize would try on these files."""
    return [(r.file, r.name) for r in candidates(files)]


def rewritten(files: dict[str, str], name: str) -> str:
    """The text of the file the named rewrite produces."""
    for r in candidates(files):
        if r.name == name:
            return r.text
    raise GeneratorError(f"rewrite {name!r} not offered")
