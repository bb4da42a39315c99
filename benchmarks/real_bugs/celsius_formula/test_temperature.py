"""Tests for temperature: cases in data/temperature.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from temperature import to_fahrenheit, to_celsius

@pytest.mark.parametrize("case", load_cases("temperature", "to_fahrenheit"), ids=lambda c: c["id"])
def test_to_fahrenheit(case):
    assert call(to_fahrenheit, case["args"]) == case["expected"]

@pytest.mark.parametrize("case", load_cases("temperature", "to_celsius"), ids=lambda c: c["id"])
def test_to_celsius(case):
    assert call(to_celsius, case["args"]) == case["expected"]
