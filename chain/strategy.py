"""Strategy profiles: the parameters each strategy runs with, read from `profiles/*.toml`.

Built-in profiles ship as package data in `chain.profiles` (the repository's `profiles/`). Directories
listed in CHAIN_PROFILE_PATH (os.pathsep-separated) are searched first, so a user can add or override a
profile without editing chain.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ProfileError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSettings(_Strict):
    # The whole run's wall clock: the last guard, sized for a real project's suite (minutes), since a hanging
    # test is stopped by the per-test limit below and the rest of the run goes on.
    timeout_s: float = Field(900.0, gt=0, description="Wall-clock seconds per sandbox run (the last guard).")
    # Per test, before the suite's own timing is known (later runs: chain.analysis.limits.from_timing).
    test_timeout_s: float | None = Field(
        None,
        gt=0,
        description="Per-test wall-clock limit of a task's first run; default: a quarter of timeout_s, at most 60 s.",
    )
    retries: int = Field(1, ge=0, le=10)
    repeats: int = Field(3, ge=1, le=100)


class SearchSettings(_Strict):
    candidate_budget: int = Field(100, ge=0)
    max_edits: int = Field(1, ge=1, le=5)
    suspicious_lines: int = Field(5, ge=1)
    early_stop: bool = False
    keep_plausible: int = Field(
        3,
        ge=1,
        le=50,
        description="Without early_stop: stop once this many plausible "
        "patches are found (the best is kept, the others reported as alternatives).",
    )
    time_budget_s: float | None = Field(
        None,
        gt=0,
        description="Seconds of repair search per task (None: "
        "only the candidate budget bounds it); --time-budget overrides.",
    )
    agent_rounds: int = Field(3, ge=1, le=20, description="--agent: ask/verify/feedback rounds per task.")


class AcceptSettings(_Strict):
    margin: float = Field(0.1, ge=0)
    confidence: float = Field(0.9, gt=0, lt=1)


class Profile(_Strict):
    name: str
    description: str = ""
    ema_alpha: float = Field(0.4, gt=0, le=1, description="EMA rate: weight of the newest outcome.")
    run: RunSettings = RunSettings()
    search: SearchSettings = SearchSettings()
    accept: AcceptSettings = AcceptSettings()


def _search_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("CHAIN_PROFILE_PATH", "").split(os.pathsep) if p]
    return [*extra, Path(str(resources.files("chain.profiles")))]


def profile_files() -> dict[str, Path]:
    """Profile name -> file, earlier search directories winning."""
    found: dict[str, Path] = {}
    for directory in reversed(_search_dirs()):
        if directory.is_dir():
            for path in sorted(directory.glob("*.toml")):
                found[path.stem] = path
    return dict(sorted(found.items()))


def load_profile_file(path: Path) -> Profile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(str(path), f"not valid TOML: {exc}") from None
    data.setdefault("name", path.stem)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ProfileError(str(path), msg, key=key) from None
    if profile.name != path.stem:
        raise ProfileError(str(path), f"name {profile.name!r} does not match the file name", key="name")
    return profile


def available() -> list[str]:
    return list(profile_files())


def load_profile(name: str) -> Profile:
    files = profile_files()
    if name not in files:
        raise ProfileError(name, f"no such profile; available: {', '.join(files) or '(none)'}")
    return load_profile_file(files[name])


def load_all(names: Iterable[str] | None = None) -> dict[str, Profile]:
    return {n: load_profile(n) for n in (names or available())}
