"""Tests for sorting: cases in data/sorting.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from sorting import bubble_sort

@pytest.mark.parametrize("case", load_cases("sorting", "bubble_sort"), ids=lambda c: c["id"])
def test_bubble_sort(case):
    assert call(bubble_sort, case["args"]) == case["expected"]
