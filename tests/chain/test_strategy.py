import pytest

from chain.errors import ProfileError
from chain.strategy import available, load_profile


def test_builtin_profiles_ship_and_differ():
    assert {"conservative", "balanced", "aggressive"} <= set(available())
    c, b, a = (load_profile(n) for n in ("conservative", "balanced", "aggressive"))
    assert c.ema_alpha == b.ema_alpha == a.ema_alpha == 0.4
    assert c.search.candidate_budget < b.search.candidate_budget < a.search.candidate_budget


def test_user_profile_dir_adds_and_overrides(tmp_path, monkeypatch):
    (tmp_path / "fast.toml").write_text('name = "fast"\nema_alpha = 0.9\n[run]\ntimeout_s = 5\n')
    (tmp_path / "balanced.toml").write_text('ema_alpha = 0.2\n')
    monkeypatch.setenv("CHAIN_PROFILE_PATH", str(tmp_path))
    assert load_profile("fast").run.timeout_s == 5
    assert load_profile("balanced").ema_alpha == 0.2


@pytest.mark.parametrize("body, key, fragment", [
    ("ema_alpha = 1.5\n", "ema_alpha", "less than or equal"),
    ("[run]\ntimeout = 5\n", "run.timeout", "unknown key"),
    ("[search]\nmax_edits = 'two'\n", "search.max_edits", "integer"),
    ("ema_alpha = \n", None, "not valid TOML"),
])
def test_bad_profile_names_the_file_and_key(tmp_path, monkeypatch, body, key, fragment):
    (tmp_path / "broken.toml").write_text(body)
    monkeypatch.setenv("CHAIN_PROFILE_PATH", str(tmp_path))
    with pytest.raises(ProfileError) as info:
        load_profile("broken")
    msg = str(info.value)
    assert str(tmp_path / "broken.toml") in msg and fragment in msg
    if key:
        assert f"key '{key}'" in msg


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(ProfileError, match="available: aggressive, balanced, conservative"):
        load_profile("nope")
