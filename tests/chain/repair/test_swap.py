"""Candidates validated by swapping their code into a collected session (chain.repair.batch_collector and
batch_swap), in real sandboxes and real pytest runs: the same verdicts as importing each candidate fresh, a
fresh import whenever the swap cannot be shown equal to one, limits that still stop loops, and nothing of one
candidate seen by the next."""

import pytest

from chain.api import make_context
from chain.repair import batch
from chain.repair.batch_swap import Refused, same_shape
from chain.repair.limits import CandidateLimits

CODE = '''\
"""Shapes and a counter."""

import sys

SCALE = 2
CALLS = []


def area(w, h):
    return w * h * SCALE // 2


def clamp(x, lo=0, hi=10):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


class Counter:
    def __init__(self, start=0):
        self.n = start

    def bump(self, by=1):
        CALLS.append(by)
        self.n += by
        return self.n

    @property
    def double(self):
        return self.n * 2
'''
TESTS = """\
import sys

import pytest

from mod import Counter, area, clamp
import helpers


def test_area():
    assert area(3, 4) == 12


@pytest.mark.parametrize("x,want", [(-1, 0), (5, 5), (11, 10)])
def test_clamp(x, want):
    assert clamp(x) == want


def test_counter():
    c = Counter()
    assert c.bump() == 1 and c.bump(2) == 3 and c.double == 6


def test_nothing_leaked():
    import mod
    assert mod.CALLS == [1, 2] and mod.SCALE == 2 and "leaked" not in sys.modules
    assert helpers.TABLE == [0, 1, 4]
"""
HELPERS = "from mod import clamp\n\nTABLE = [clamp(i * i) for i in range(3)]\n"
CONFTEST = "def pytest_configure(config):\n    config.addinivalue_line('markers', 'edge: configuration only')\n"
FILES = {"mod.py": CODE, "test_mod.py": TESTS, "helpers.py": HELPERS, "conftest.py": CONFTEST}
LIMITS = CandidateLimits(test_cpu_s=0.5, run_cpu_s=60, wall_s=20.0)
TEST = "python -m pytest -q"


def mutant(old, new, text=CODE):
    assert old in text
    return {"mod.py": text.replace(old, new, 1)}


SWAPPABLE = [
    mutant("return w * h * SCALE // 2", "return w + h * SCALE // 2"),  # area wrong
    mutant("return w * h * SCALE // 2", "return w * h"),  # still right
    mutant("self.n += by", "self.n -= by"),  # a method, through a class the test imported
    mutant("return self.n * 2", "return self.n * 3"),  # a property's getter
    mutant("        CALLS.append(by)\n", "        CALLS.append(by)\n        CALLS.append(by)\n"),  # moves lines
    mutant("def area(w, h):\n", "def area(w, h):\n    # every def below moves a line, clamp too (it ran at import)\n"),
]


@pytest.fixture(scope="module")
def ctx():
    context = make_context("process", "balanced", "auto", None)
    yield context
    context.sandbox.close()


def run(ctx, cands, collect=True):
    return batch.run_batch(ctx, FILES, cands, TEST, LIMITS, "swap", collect=collect)


def outcome(v):
    return (v.screened, v.passed, v.fixed, v.first_failure, v.cpu_limited)


def test_swapped_candidates_get_the_fresh_verdicts(ctx):
    screen = ["test_mod.py::test_counter", "test_mod.py::test_area"]
    cands = [(c, None) for c in SWAPPABLE] + [(c, screen) for c in SWAPPABLE]
    swapped, fresh = run(ctx, cands), run(ctx, cands, collect=False)
    assert [v.via for v in swapped] == ["swap"] * len(cands)
    assert all(v.via == "fresh" for v in fresh)
    assert [outcome(v) for v in swapped] == [outcome(v) for v in fresh]
    # The test module took `area` by `from mod import area` before the swap: it ran the candidate's code.
    assert [v.passed for v in swapped[: len(SWAPPABLE)]] == [False, True, False, False, False, True]
    assert swapped[0].first_failure == "test_mod.py::test_area"
    assert swapped[len(SWAPPABLE) + 2].first_failure == "test_mod.py::test_counter"  # screening order kept


FALLBACKS = {
    "a module-level value": mutant("SCALE = 2", "SCALE = 3"),
    # clamp ran at import (helpers' TABLE): swapped, TABLE would keep the original's values and pass
    "a function that ran at import": mutant("    if x > hi:\n", "    if x > hi or x == 4:\n"),
    "a default argument": mutant("def clamp(x, lo=0, hi=10)", "def clamp(x, lo=0, hi=9)"),
    "a function added": {"mod.py": CODE + "\n\ndef extra():\n    return 1\n"},
    "the test module": {"test_mod.py": TESTS.replace("== 12", "== 13")},
    "conftest.py": {"conftest.py": CONFTEST + "\nimport sys\nsys.modules['leaked'] = sys\n"},
    "a closure's free variables": mutant(
        "        return self.n * 2", "        return super().__hash__() * 0 + self.n * 2"
    ),
}


def test_what_the_swap_cannot_cover_is_imported_fresh_with_the_same_verdict(ctx):
    cands = [(c, None) for c in FALLBACKS.values()]
    served, fresh = run(ctx, cands), run(ctx, cands, collect=False)
    for why, v in zip(FALLBACKS, served):
        assert v.via.startswith("fresh: "), (why, v.via)
    assert [outcome(v) for v in served] == [outcome(v) for v in fresh]
    assert [v.passed for v in served] == [False, False, False, True, False, False, True]


def test_the_shape_check_refuses_changes_outside_function_bodies():
    same_shape(CODE, CODE.replace("self.n * 2", "self.n * 4"))
    for changed in (
        CODE.replace("SCALE = 2", "SCALE = 4"),
        CODE.replace("@property\n", ""),
        CODE.replace("class Counter:", "class Counter(object):"),
        CODE + "\nx = 1\n",
    ):
        with pytest.raises(Refused):
            same_shape(CODE, changed)


def test_loops_are_stopped_by_cpu_limits_on_both_paths(ctx):
    in_test = mutant("        self.n += by\n", "        while by:\n            pass\n        self.n += by\n")
    at_import = mutant("SCALE = 2\n", "SCALE = 2\nwhile SCALE:\n    pass\n")
    looping, importing, right = run(ctx, [(in_test, None), (at_import, None), (SWAPPABLE[1], None)])
    # In a test: the per-test CPU limit stops it in the swapped child, and the session goes on (-x: ends).
    assert looping.via == "swap" and looping.cpu_limited == 1 and not looping.passed and looping.ended == "exit"
    # At import: the fresh child's import runs under a CPU limit from the collector's, far below the run's
    # RLIMIT_CPU (60 s here, beyond the wall clock's 20 s: "wall" would mean no limit stopped it).
    assert importing.via.startswith("fresh: ") and importing.ended == "cpu" and not importing.passed
    assert right.passed and right.via == "swap"


def test_state_one_candidate_changes_never_reaches_the_next(ctx):
    leaky = mutant(
        "        CALLS.append(by)\n",
        "        CALLS.append(by)\n        global SCALE\n        SCALE = 5\n"
        "        sys.modules['leaked'] = sys\n        sys.modules.pop('helpers', None)\n",
    )
    cands = [(leaky, None), (SWAPPABLE[1], None), (leaky, ["test_mod.py::test_counter"]), (SWAPPABLE[1], None)]
    first, clean, screened, again = run(ctx, cands)
    assert all(v.via == "swap" for v in (first, clean, screened, again))
    assert not first.passed and first.first_failure == "test_mod.py::test_nothing_leaked"
    assert screened.screened and not screened.passed
    assert clean.passed and again.passed  # the collected session's globals and sys.modules, untouched


def test_an_original_that_loops_still_gets_its_fix_through_the_swap(ctx):
    looping = mutant("        self.n += by\n", "        while by > 1:\n            pass\n        self.n += by\n")
    files = {**FILES, "mod.py": looping["mod.py"]}
    cands = [({"mod.py": CODE}, ["test_mod.py::test_counter"]), ({"mod.py": looping["mod.py"]}, None)]
    fixed, still = batch.run_batch(ctx, files, cands, TEST, LIMITS, "loop")
    fresh = batch.run_batch(ctx, files, cands, TEST, LIMITS, "loop", collect=False)
    assert fixed.via == "swap" and fixed.passed
    assert still.via == "swap" and not still.passed and still.cpu_limited == 1
    assert [outcome(v) for v in (fixed, still)] == [outcome(v) for v in fresh]
