"""Tests for flatten: cases in data/flatten.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from flatten import flatten

@pytest.mark.parametrize("case", load_cases("flatten", "flatten"), ids=lambda c: c["id"])
def test_flatten(case):
    assert call(flatten, case["args"]) == case["expected"]
