"""Tests for isbn: cases in data/isbn.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from isbn import valid_isbn10

@pytest.mark.parametrize("case", load_cases("isbn", "valid_isbn10"), ids=lambda c: c["id"])
def test_valid_isbn10(case):
    assert call(valid_isbn10, case["args"]) == case["expected"]
