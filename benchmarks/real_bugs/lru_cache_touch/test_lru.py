"""Tests for lru: cases in data/lru.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from lru import LRUCache

@pytest.mark.parametrize("case", load_cases("lru", "LRUCache"), ids=lambda c: c["id"])
def test_l_r_u_cache_scenario(case):
    assert replay(LRUCache(*case["init"]), case["ops"]) == case["expected"]
