"""Tests for distance: cases in data/distance.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from distance import levenshtein

@pytest.mark.parametrize("case", load_cases("distance", "levenshtein"), ids=lambda c: c["id"])
def test_levenshtein(case):
    assert call(levenshtein, case["args"]) == case["expected"]
