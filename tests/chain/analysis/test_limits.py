"""Per-test limits' defaults: what a project with a big, slow suite meets on its first run."""

from chain.analysis import limits
from chain.protocol import TestCase
from chain.strategy import load_profile, load_profile_file


def test_shipped_profiles_leave_room_for_real_suites():
    # A real suite runs for minutes, and single tests of 15+ s are ordinary on a loaded CI machine
    # (more-itertools' test_primes); the run timeout is the last guard behind the per-test limit.
    for name in ("aggressive", "balanced", "conservative"):
        profile = load_profile(name)
        assert profile.run.timeout_s >= 300
        assert 30 <= limits.first_run_limit(profile) < profile.run.timeout_s


def test_a_profile_without_a_first_run_limit_gets_a_quarter_of_its_timeout_capped(tmp_path):
    (tmp_path / "quick.toml").write_text('name = "quick"\n[run]\ntimeout_s = 20\n')
    (tmp_path / "long.toml").write_text('name = "long"\n[run]\ntimeout_s = 3600\n')
    assert limits.first_run_limit(load_profile_file(tmp_path / "quick.toml")) == 5
    assert limits.first_run_limit(load_profile_file(tmp_path / "long.toml")) == limits.FIRST_RUN_CAP_S


def test_later_runs_take_their_limit_from_the_suite_never_over_the_first_run_limit():
    profile = load_profile("balanced")
    case = lambda ms, outcome="passed": TestCase(nodeid=f"t.py::t{ms}", outcome=outcome, duration_ms=ms)  # noqa: E731
    assert limits.from_timing([case(20)], profile) == limits.FLOOR_S
    assert limits.from_timing([case(20), case(2500)], profile) == 25.0
    assert limits.from_timing([case(16000)], profile) == limits.first_run_limit(profile)
    assert limits.from_timing([case(20), case(60000, "timeout")], profile) == limits.FLOOR_S
