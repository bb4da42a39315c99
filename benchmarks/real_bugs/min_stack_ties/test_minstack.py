"""Tests for minstack: cases in data/minstack.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from minstack import MinStack

@pytest.mark.parametrize("case", load_cases("minstack", "MinStack"), ids=lambda c: c["id"])
def test_min_stack_scenario(case):
    assert replay(MinStack(*case["init"]), case["ops"]) == case["expected"]
