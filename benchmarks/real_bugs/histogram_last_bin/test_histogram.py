"""Tests for histogram: cases in data/histogram.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from histogram import histogram

@pytest.mark.parametrize("case", load_cases("histogram", "histogram"), ids=lambda c: c["id"])
def test_histogram(case):
    assert call(histogram, case["args"]) == case["expected"]
