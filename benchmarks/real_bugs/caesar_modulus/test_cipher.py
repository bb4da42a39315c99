"""Tests for cipher: cases in data/cipher.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from cipher import caesar

@pytest.mark.parametrize("case", load_cases("cipher", "caesar"), ids=lambda c: c["id"])
def test_caesar(case):
    assert call(caesar, case["args"]) == case["expected"]
