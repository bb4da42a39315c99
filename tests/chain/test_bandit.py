import pytest

from chain.bandit import ThompsonChooser, task_context
from chain.protocol import HistoryEntry, TestCounts
from chain.store import Outcome, ProfileStore
from tests.conftest import make_task

PROFILES = ["aggressive", "balanced", "conservative"]


def seed_store(path, wins: dict[str, tuple[int, int, float]], stage="process"):
    store = ProfileStore(path)
    for profile, (runs, successes, ms) in wins.items():
        for i in range(runs):
            status = "passed" if i < successes else "failed"
            store.record(Outcome(f"t{i}", stage, profile, status, 1.0 if status == "passed" else 0.0, ms, "local",
                                 context="python/small/unknown"), alpha=0.4)
    return store


def choices(store, seed, n=30):
    chooser = ThompsonChooser(store, "process", PROFILES, seed=seed)
    return [chooser.choose(make_task(f"task{i}")).profile for i in range(n)]


def test_same_seed_same_choices_different_seed_different_choices(tmp_path):
    store = ProfileStore(tmp_path / "s.db")  # no data: every arm is uncertain, choices spread out
    first, again, other = choices(store, 7), choices(store, 7), choices(store, 8)
    assert first == again
    assert first != other
    assert len(set(first)) == 3  # it explores all arms


def test_prefers_the_arm_with_more_successes_per_minute(tmp_path):
    store = seed_store(tmp_path / "s.db", {
        "aggressive": (20, 18, 1000.0),   # 90% in 1 s
        "balanced": (20, 10, 1000.0),     # 50% in 1 s
        "conservative": (20, 19, 4000.0), # 95% but 4x slower
    })
    picked = choices(store, 1, n=40)
    assert picked.count("aggressive") > 30
    why = ThompsonChooser(store, "process", PROFILES, seed=1).choose(make_task("x")).why
    assert why["arms"]["aggressive"]["runs"] == 20 and why["arms"]["aggressive"]["successes"] == 18
    assert why["method"].startswith("thompson") and why["context"] == "python/small/unknown"


def test_context_buckets_size_and_failing_tests():
    task = make_task()
    assert task_context(task) == "python/small/unknown"
    entry = HistoryEntry(stage="analyze", profile="balanced", status="failed", score=0.5,
                         tests=TestCounts(passed=1, failed=2, total=3), duration_ms=1, sandbox="local")
    assert task_context(task.model_copy(update={"history": [entry]})) == "python/small/fail2"
    big = make_task(code="x = 1\n" * 700)
    assert task_context(big).startswith("python/large/")


def record(store, profile: str, status: str, ms: float, context: str, n: int) -> None:
    """`n` learned executions of `profile` in one context bucket, each with that status and duration."""
    for i in range(n):
        store.record(Outcome(f"{profile}-{context}-{i}", "process", profile, status,
                             1.0 if status == "passed" else 0.0, ms, "local", context="python/small/" + context),
                     alpha=0.4)


def chooser_over(tmp_path, rows, seed: int) -> ThompsonChooser:
    """A chooser between aggressive and conservative over a store holding `rows` of record()'s arguments."""
    store = ProfileStore(tmp_path / "s.db")
    for row in rows:
        record(store, *row)
    return ThompsonChooser(store, "process", ["aggressive", "conservative"], seed=seed)


def analyzed(passed: int, failed: int):
    """A task as analyze left it: its failing-test count puts it in a context bucket."""
    entry = HistoryEntry(stage="analyze", profile="balanced", status="failed", score=passed / (passed + failed),
                         tests=TestCounts(passed=passed, failed=failed, total=passed + failed), duration_ms=1,
                         sandbox="local")
    return lambda name: make_task(name).model_copy(update={"history": [entry]})


def picks(chooser, task, n: int) -> list[str]:
    return [chooser.choose(task(f"t{i}")).profile for i in range(n)]


def test_a_context_learns_its_own_best_arm_against_the_stage_wide_record(tmp_path):
    # Stage-wide, aggressive wins everywhere it was tried (easy tasks); in the "fail3+" bucket it has failed
    # slowly twice while conservative failed cheaply: there the bucket's own record must decide.
    chooser = chooser_over(tmp_path, [("aggressive", "passed", 500.0, "fail1", 30),
                                      ("conservative", "failed", 500.0, "fail1", 30),
                                      ("aggressive", "failed", 20000.0, "fail3+", 2),
                                      ("conservative", "failed", 1000.0, "fail3+", 2)], seed=5)
    assert picks(chooser, analyzed(0, 4), 40).count("conservative") > 30
    assert picks(chooser, analyzed(1, 1), 40).count("aggressive") > 35


def test_an_arm_untried_in_a_context_is_not_judged_by_its_slow_runs_elsewhere(tmp_path):
    # aggressive spent 40 s per hopeless task ("fail3+") but was never tried on "fail1" tasks, where the
    # context's runs take 1 s: its duration guess there is the context's, so it gets explored
    chooser = chooser_over(tmp_path, [("aggressive", "failed", 40000.0, "fail3+", 6),
                                      ("conservative", "passed", 1000.0, "fail1", 3),
                                      ("conservative", "failed", 1000.0, "fail1", 3)], seed=2)
    easy = analyzed(1, 1)
    assert chooser.choose(easy("e")).why["arms"]["aggressive"]["mean_ms"] == 1000.0
    assert picks(chooser, easy, 40).count("aggressive") >= 2  # still explored, not written off by its cost elsewhere


def test_a_context_where_nothing_succeeds_rarely_pays_for_the_expensive_profile_again(tmp_path):
    # aggressive fixes every "fail2" task, but on "fail3+" tasks (hopeless stubs) it has failed 3 times at
    # 40 s each, conservative 20 times at 3 s: trying aggressive there again is a 40 s bet on noise
    # (independent Thompson draws took that bet in half the choices)
    chooser = chooser_over(tmp_path, [("aggressive", "passed", 2000.0, "fail2", 30),
                                      ("aggressive", "failed", 40000.0, "fail3+", 3),
                                      ("conservative", "failed", 3000.0, "fail3+", 20)], seed=9)
    hopeless = analyzed(0, 4)
    assert picks(chooser, hopeless, 300).count("aggressive") < 0.06 * 300
    assert chooser.choose(hopeless("x")).why["prior"]["from"] == "context"


def test_beta_quantile_inverts_the_cdf():
    from chain.bandit import beta_cdf, beta_quantile

    for a, b in ((1, 1), (1, 23), (2.5, 3.5), (30, 2)):
        for q in (0.01, 0.3, 0.5, 0.9, 0.999):
            assert beta_cdf(beta_quantile(q, a, b), a, b) == pytest.approx(q, abs=1e-9)
    assert beta_quantile(0.5, 1, 1) == pytest.approx(0.5)
