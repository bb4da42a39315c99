"""Tests for newton: cases in data/newton.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from newton import sqrt

@pytest.mark.parametrize("case", load_cases("newton", "sqrt"), ids=lambda c: c["id"])
def test_sqrt(case):
    assert call(sqrt, case["args"]) == case["expected"]
