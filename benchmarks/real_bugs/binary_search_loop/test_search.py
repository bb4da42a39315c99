"""Tests for search: cases in data/search.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from search import binary_search

@pytest.mark.parametrize("case", load_cases("search", "binary_search"), ids=lambda c: c["id"])
def test_binary_search(case):
    assert call(binary_search, case["args"]) == case["expected"]
