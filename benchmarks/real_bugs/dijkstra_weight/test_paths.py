"""Tests for paths: cases in data/paths.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from paths import shortest_paths

@pytest.mark.parametrize("case", load_cases("paths", "shortest_paths"), ids=lambda c: c["id"])
def test_shortest_paths(case):
    assert call(shortest_paths, case["args"]) == case["expected"]
