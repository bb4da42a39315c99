"""The behavioural equivalence check with real sandbox runs: calls recorded while the original's tests run,
replayed on the candidate; a candidate that passes weak tests but changes what a function does is rejected."""

import pytest

from chain.api import make_context
from chain.equivalence.check import ALL, RIGHT, EquivalenceCheck
from chain.equivalence.targets import changed_functions

CODE = """\
def total(n):
    s = 0
    for i in range(n):
        s += i
    return s


def parse(text):
    if not text.strip():
        raise ValueError("empty")
    return int(text)


class Basket:
    def __init__(self):
        self.items = []

    def add(self, item):
        self.items.append(item)
        return len(self.items)
"""
# Weak tests: they run every function but check little of what it returns.
TESTS = """\
import pytest
from mod import Basket, parse, total


def test_total():
    assert total(1000) > 0
    assert total(0) == 0


def test_parse():
    assert parse(" 7 ") == 7
    with pytest.raises(Exception):
        parse("  ")


def test_basket():
    b = Basket()
    assert b.add("pear") >= 1
"""
FILES = {"mod.py": CODE, "test_mod.py": TESTS}
LOOP = "    s = 0\n    for i in range(n):\n        s += i\n    return s\n"


def _with(old: str, new: str) -> dict[str, str]:
    assert old in CODE
    return {**FILES, "mod.py": CODE.replace(old, new)}


@pytest.fixture(scope="module")
def ctx():
    context = make_context("optimize", "balanced", "auto", None)
    yield context
    context.sandbox.close()


def test_a_rewrite_that_passes_the_tests_but_changes_a_recorded_return_value_is_rejected(ctx):
    dishonest = _with(LOOP, "    return n * (n + 1) // 2\n")  # off by n: total(0) is still 0
    assert ctx.run_tests(dishonest, "python -m pytest -q").status == "passed"  # the tests cannot tell
    check = EquivalenceCheck(ctx, FILES, "python -m pytest -q", ALL, "eq")
    verdict = check.check(dishonest)
    assert verdict.checked and verdict.equivalent is False
    assert verdict.functions == ["mod.py:total"] and verdict.calls_compared == 2
    (diff,) = verdict.differences
    assert (diff.function, diff.call, diff.expected, diff.actual) == ("mod.py:total", "total(1000)", "499500", "500500")
    assert diff.why == "returns a different value"
    honest = check.check(_with(LOOP, "    return n * (n - 1) // 2 if n > 0 else 0\n"))
    assert honest.checked and honest.equivalent is True and honest.calls_compared == 2 and not honest.differences
    assert check.runs == 4  # one recording and one replay of the original serve both candidates


def test_exceptions_and_argument_mutation_are_compared(ctx):
    check = EquivalenceCheck(ctx, FILES, "python -m pytest -q", ALL, "eq")
    swallowed = check.check(_with('        raise ValueError("empty")\n', "        return 0\n"))
    assert swallowed.equivalent is False
    assert swallowed.differences[0].why == "returns where the original raised"
    assert swallowed.differences[0].expected == "raise builtins.ValueError"
    other_error = check.check(_with('        raise ValueError("empty")\n', '        raise TypeError("empty")\n'))
    assert other_error.equivalent is False and other_error.differences[0].why == "raises differently"
    # Same return value, but the basket it was given ends up holding the item twice.
    doubled = check.check(_with("        self.items.append(item)\n        return len(self.items)\n",
                                "        self.items += [item, item]\n        return len(self.items) - 1\n"))
    assert doubled.equivalent is False
    assert doubled.differences[0].why == "leaves its arguments changed differently"


BUGGY = """\
def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return lo
    return x
"""
BUGGY_TESTS = """\
from mod import clamp


def test_inside():
    assert clamp(5, 0, 10) == 5


def test_below():
    assert clamp(-3, 0, 10) >= 0


def test_above():
    assert clamp(12, 0, 10) == 10
"""


def test_a_repair_must_keep_what_the_original_got_right_and_may_change_the_rest(ctx):
    files = {"mod.py": BUGGY, "test_mod.py": BUGGY_TESTS}
    check = EquivalenceCheck(ctx, files, "python -m pytest -q", RIGHT, "eq", test_cpu_s=1.0)
    fix = check.check({**files, "mod.py": BUGGY.replace("        return lo\n    return x", "        return hi\n    return x")})
    # The failing test's call clamp(12, 0, 10) is the one a repair must change: out of scope, not compared.
    assert fix.equivalent is True and fix.scope == RIGHT
    assert fix.calls_recorded == 3 and fix.calls_out_of_scope == 1 and fix.calls_compared == 2
    # This one passes all three tests too, but changes clamp(-3, 0, 10), which a passing test made.
    overfit = {**files, "mod.py": BUGGY.replace("        return lo\n    if x > hi", "        return 1\n    if x > hi")
               .replace("        return lo\n    return x", "        return hi\n    return x")}
    assert ctx.run_tests(overfit, "python -m pytest -q").status == "passed"
    verdict = check.check(overfit)
    assert verdict.equivalent is False and verdict.differences[0].call == "clamp(-3, 0, 10)"


def test_only_changed_functions_of_the_code_under_test_are_compared():
    changed, skipped = changed_functions(FILES, _with(LOOP, "    return sum(range(n))\n"))
    assert [f.qualname for f in changed] == ["total"] and skipped == []
    # A changed module-level constant can change any function of the module: all of them are compared.
    constant = {**FILES, "mod.py": "LIMIT = 3\n" + CODE}
    assert {f.qualname for f in changed_functions(FILES, constant)[0]} == {"total", "parse", "Basket.__init__",
                                                                           "Basket.add"}
    gen = {"g.py": "def evens(n):\n    yield from range(0, n, 2)\n"}
    assert changed_functions(gen, {"g.py": gen["g.py"].replace("0, n", "2, n")}) == ([], ["g.py:evens (a generator)"])
    assert changed_functions(FILES, {**FILES, "test_mod.py": TESTS + "\n"}) == ([], [])
