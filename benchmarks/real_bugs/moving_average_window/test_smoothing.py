"""Tests for smoothing: cases in data/smoothing.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from smoothing import moving_average

@pytest.mark.parametrize("case", load_cases("smoothing", "moving_average"), ids=lambda c: c["id"])
def test_moving_average(case):
    assert call(moving_average, case["args"]) == case["expected"]
