"""Tests for paging: cases in data/paging.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from paging import page, page_count

@pytest.mark.parametrize("case", load_cases("paging", "page"), ids=lambda c: c["id"])
def test_page(case):
    assert call(page, case["args"]) == case["expected"]

@pytest.mark.parametrize("case", load_cases("paging", "page_count"), ids=lambda c: c["id"])
def test_page_count(case):
    assert call(page_count, case["args"]) == case["expected"]
