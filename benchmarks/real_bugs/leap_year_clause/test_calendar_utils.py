"""Tests for calendar_utils: cases in data/calendar_utils.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from calendar_utils import is_leap, days_in_month

@pytest.mark.parametrize("case", load_cases("calendar_utils", "is_leap"), ids=lambda c: c["id"])
def test_is_leap(case):
    assert call(is_leap, case["args"]) == case["expected"]

@pytest.mark.parametrize("case", load_cases("calendar_utils", "days_in_month"), ids=lambda c: c["id"])
def test_days_in_month(case):
    assert call(days_in_month, case["args"]) == case["expected"]
