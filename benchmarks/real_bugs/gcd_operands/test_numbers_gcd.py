"""Tests for numbers_gcd: cases in data/numbers_gcd.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from numbers_gcd import gcd, lcm

@pytest.mark.parametrize("case", load_cases("numbers_gcd", "gcd"), ids=lambda c: c["id"])
def test_gcd(case):
    assert call(gcd, case["args"]) == case["expected"]

@pytest.mark.parametrize("case", load_cases("numbers_gcd", "lcm"), ids=lambda c: c["id"])
def test_lcm(case):
    assert call(lcm, case["args"]) == case["expected"]
