"""Tests for primes: cases in data/primes.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from primes import is_prime, primes_below

@pytest.mark.parametrize("case", load_cases("primes", "is_prime"), ids=lambda c: c["id"])
def test_is_prime(case):
    assert call(is_prime, case["args"]) == case["expected"]

@pytest.mark.parametrize("case", load_cases("primes", "primes_below"), ids=lambda c: c["id"])
def test_primes_below(case):
    assert call(primes_below, case["args"]) == case["expected"]
