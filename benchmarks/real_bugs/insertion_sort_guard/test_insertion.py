"""Tests for insertion: cases in data/insertion.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from insertion import insertion_sort

@pytest.mark.parametrize("case", load_cases("insertion", "insertion_sort"), ids=lambda c: c["id"])
def test_insertion_sort(case):
    assert call(insertion_sort, case["args"]) == case["expected"]
