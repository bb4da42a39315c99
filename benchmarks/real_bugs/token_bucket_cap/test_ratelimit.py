"""Tests for ratelimit: cases in data/ratelimit.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from ratelimit import TokenBucket

@pytest.mark.parametrize("case", load_cases("ratelimit", "TokenBucket"), ids=lambda c: c["id"])
def test_token_bucket_scenario(case):
    assert replay(TokenBucket(*case["init"]), case["ops"]) == case["expected"]
