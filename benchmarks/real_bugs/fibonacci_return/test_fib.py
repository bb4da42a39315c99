"""Tests for fib: cases in data/fib.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from fib import fibonacci

@pytest.mark.parametrize("case", load_cases("fib", "fibonacci"), ids=lambda c: c["id"])
def test_fibonacci(case):
    assert call(fibonacci, case["args"]) == case["expected"]
