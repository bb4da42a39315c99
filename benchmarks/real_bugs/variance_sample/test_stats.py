"""Tests for stats: cases in data/stats.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from stats import mean, variance

@pytest.mark.parametrize("case", load_cases("stats", "mean"), ids=lambda c: c["id"])
def test_mean(case):
    assert call(mean, case["args"]) == case["expected"]

@pytest.mark.parametrize("case", load_cases("stats", "variance"), ids=lambda c: c["id"])
def test_variance(case):
    assert call(variance, case["args"]) == case["expected"]
