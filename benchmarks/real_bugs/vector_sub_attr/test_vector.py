"""Tests for vector: cases in data/vector.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from vector import displacement

@pytest.mark.parametrize("case", load_cases("vector", "displacement"), ids=lambda c: c["id"])
def test_displacement(case):
    assert call(displacement, case["args"]) == case["expected"]
