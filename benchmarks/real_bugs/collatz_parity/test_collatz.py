"""Tests for collatz: cases in data/collatz.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from collatz import collatz_steps

@pytest.mark.parametrize("case", load_cases("collatz", "collatz_steps"), ids=lambda c: c["id"])
def test_collatz_steps(case):
    assert call(collatz_steps, case["args"]) == case["expected"]
