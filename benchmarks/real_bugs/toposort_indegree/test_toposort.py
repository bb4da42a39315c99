"""Tests for toposort: cases in data/toposort.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from toposort import topological_order

@pytest.mark.parametrize("case", load_cases("toposort", "topological_order"), ids=lambda c: c["id"])
def test_topological_order(case):
    assert call(topological_order, case["args"]) == case["expected"]
