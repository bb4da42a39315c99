"""Tests for pairs: cases in data/pairs.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from pairs import two_sum

@pytest.mark.parametrize("case", load_cases("pairs", "two_sum"), ids=lambda c: c["id"])
def test_two_sum(case):
    assert call(two_sum, case["args"]) == case["expected"]
