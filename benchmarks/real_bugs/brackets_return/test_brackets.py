"""Tests for brackets: cases in data/brackets.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from brackets import balanced

@pytest.mark.parametrize("case", load_cases("brackets", "balanced"), ids=lambda c: c["id"])
def test_balanced(case):
    assert call(balanced, case["args"]) == case["expected"]
