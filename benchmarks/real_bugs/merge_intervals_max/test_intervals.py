"""Tests for intervals: cases in data/intervals.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from intervals import merge_intervals

@pytest.mark.parametrize("case", load_cases("intervals", "merge_intervals"), ids=lambda c: c["id"])
def test_merge_intervals(case):
    assert call(merge_intervals, case["args"]) == case["expected"]
