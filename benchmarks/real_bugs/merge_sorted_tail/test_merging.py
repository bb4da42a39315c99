"""Tests for merging: cases in data/merging.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from merging import merge_sorted

@pytest.mark.parametrize("case", load_cases("merging", "merge_sorted"), ids=lambda c: c["id"])
def test_merge_sorted(case):
    assert call(merge_sorted, case["args"]) == case["expected"]
