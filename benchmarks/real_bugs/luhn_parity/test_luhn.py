"""Tests for luhn: cases in data/luhn.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from luhn import luhn_valid

@pytest.mark.parametrize("case", load_cases("luhn", "luhn_valid"), ids=lambda c: c["id"])
def test_luhn_valid(case):
    assert call(luhn_valid, case["args"]) == case["expected"]
