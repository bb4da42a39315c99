"""Tests for palindrome: cases in data/palindrome.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from palindrome import is_palindrome

@pytest.mark.parametrize("case", load_cases("palindrome", "is_palindrome"), ids=lambda c: c["id"])
def test_is_palindrome(case):
    assert call(is_palindrome, case["args"]) == case["expected"]
