"""Tests for roman: cases in data/roman.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from roman import roman_to_int

@pytest.mark.parametrize("case", load_cases("roman", "roman_to_int"), ids=lambda c: c["id"])
def test_roman_to_int(case):
    assert call(roman_to_int, case["args"]) == case["expected"]
