"""Tests for dedupe: cases in data/dedupe.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from dedupe import duplicates

@pytest.mark.parametrize("case", load_cases("dedupe", "duplicates"), ids=lambda c: c["id"])
def test_duplicates(case):
    assert call(duplicates, case["args"]) == case["expected"]
