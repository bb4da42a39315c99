import ast

from chain.optimize.rewrites import candidates
from chain.optimize.stats import bootstrap_speedup, settled_speedup

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


def test_one_stalled_timing_does_not_reject_a_clear_speedup_it_is_measured_further():
    """Three repeats, one of the candidate's hit by a stall (a loaded machine): the interval alone would reject
    an ~8x rewrite; measuring both sides again settles it, and the record keeps every sample."""
    slow, fast = [50.0, 52.0, 51.0], [6.5, 400.0, 6.6]
    assert not bootstrap_speedup(slow, fast, seed=0).beats(0.1)  # the single interval is undecided
    asked: list[str] = []

    def more(side: str, sample: list[float]):
        return lambda: asked.append(side) or list(sample)

    sp = settled_speedup(slow, fast, more("base", [51.0, 50.5, 52.5]), more("cand", [6.4, 6.7, 6.5]), 0.1)
    assert sp.beats(0.1) and 7 < sp.ratio < 9
    rounds = len(asked) // 2
    assert 1 <= rounds <= 2 and asked == ["base", "cand"] * rounds  # both sides, each round
    assert len(slow) == len(fast) == 3 + 3 * rounds


def test_a_rewrite_within_the_margin_is_not_measured_further_and_a_failing_rerun_stops_it():
    asked: list[str] = []
    same = settled_speedup([10.0, 10.2, 9.9], [9.8, 10.1, 10.0], lambda: asked.append("b") or [10.0],
                           lambda: asked.append("c") or [10.0], 0.1)
    assert not same.beats(0.1) and asked == []  # point ratio ~1: no question to settle, no extra runs
    cand = [6.5, 400.0, 6.6]
    failed = settled_speedup([50.0, 52.0, 51.0], cand, lambda: [51.0], lambda: None, 0.1)
    assert not failed.beats(0.1) and cand == [6.5, 400.0, 6.6]  # nothing half-measured is kept


def test_what_else_a_round_measured_is_kept_only_when_both_sides_were_added():
    rounds: list[int] = []
    slow, fast = [50.0, 52.0, 51.0], [6.5, 400.0, 6.6]  # undecided: measured further
    settled_speedup(slow, fast, lambda: [50.5, 51.5, 50.0], lambda: [6.5, 6.4, 6.6], 0.1,
                    kept=lambda: rounds.append(len(slow)))
    assert rounds and rounds == [6, 9][: len(rounds)]  # once per round, after its timings went in
    rounds.clear()
    settled_speedup([50.0, 52.0, 51.0], [6.5, 400.0, 6.6], lambda: [51.0], lambda: None, 0.1,
                    kept=lambda: rounds.append(1))
    assert rounds == []  # the candidate's rerun failed: the baseline's extra batch counts for nothing
