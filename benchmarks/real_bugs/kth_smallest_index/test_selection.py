"""Tests for selection: cases in data/selection.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from selection import kth_smallest

@pytest.mark.parametrize("case", load_cases("selection", "kth_smallest"), ids=lambda c: c["id"])
def test_kth_smallest(case):
    assert call(kth_smallest, case["args"]) == case["expected"]
