"""Tests for rotate: cases in data/rotate.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from rotate import rotate

@pytest.mark.parametrize("case", load_cases("rotate", "rotate"), ids=lambda c: c["id"])
def test_rotate(case):
    assert call(rotate, case["args"]) == case["expected"]
