import ast

from chain.optimize.rewrites import candidates
from chain.optimize.stats import bootstrap_speedup

FIB = 'def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n'


def names(files):
    return [c.name for c in candidates(files)]


def test_memoizes_pure_recursion_but_not_impure_or_test_code():
    assert names({"fib.py": FIB}) == ["memoize fib"]
    impure = 'def walk(n, seen):\n    seen.append(n)\n    return walk(n - 1, seen) if n else seen\n'
    assert names({"walk.py": impure}) == []
    assert names({"test_fib.py": FIB}) == []
    (rewrite,) = candidates({"fib.py": FIB})
    ns = {}
    exec(compile(rewrite.text, "fib.py", "exec"), ns)
    assert ns["fib"](80) == 23416728348467685  # instant only because it is memoized


def test_join_set_membership_and_hoisting_preserve_behaviour():
    src = ('def f(xs):\n    out = ""\n    for x in xs:\n        if x in [1, 2, 3]:\n            out += str(x)\n'
           '    i = 0\n    while i < len(xs):\n        i += 1\n    return out, i\n')
    found = candidates({"m.py": src})
    assert {c.name for c in found} == {"list -> set membership", "hoist len(xs) out of the loop",
                                       "build out with join"}
    for c in found:
        ns = {}
        exec(compile(c.text, "m.py", "exec"), ns)
        assert ns["f"]([3, 5, 1, 1]) == ("311", 4)
        ast.parse(c.text)


def test_bootstrap_interval_separates_real_speedups_from_noise():
    slow = [100.0, 104.0, 98.0, 101.0, 99.0]
    fast = [10.0, 10.5, 9.8, 10.1, 10.2]
    sp = bootstrap_speedup(slow, fast, confidence=0.95, seed=1)
    assert 9 < sp.low <= sp.ratio <= sp.high < 11 and sp.beats(0.2)
    noise = bootstrap_speedup(slow, [101.0, 97.0, 103.0, 100.0, 99.5], confidence=0.95, seed=1)
    assert not noise.beats(0.05)
    assert bootstrap_speedup(slow, fast, seed=3) == bootstrap_speedup(slow, fast, seed=3)
