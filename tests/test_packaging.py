"""The wheel's layout: chain claims only its own top-level name, and no subpackage is left out of it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_in_the_tree_is_listed_for_the_wheel():
    config = _setuptools()
    listed = set(config["packages"])
    mapping = config["package-dir"]
    in_tree = set()
    for name, directory in mapping.items():
        base = ROOT / directory
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            in_tree.add(".".join([name, *rel.parts]))
    # A directory mapped separately (chain.stages from stages/) is not also found under chain/.
    assert listed == in_tree


def test_only_chain_is_claimed_at_the_top_level():
    config = _setuptools()
    assert {name.split(".")[0] for name in config["packages"]} == {"chain"}
    assert {name.split(".")[0] for name in config["package-dir"]} == {"chain"}
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["chain.plugins"]
    assert all(target.startswith("chain.") for target in entry_points.values())
