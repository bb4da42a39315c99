"""Tests for jsonpath: cases in data/jsonpath.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from jsonpath import get_path

@pytest.mark.parametrize("case", load_cases("jsonpath", "get_path"), ids=lambda c: c["id"])
def test_get_path(case):
    assert call(get_path, case["args"]) == case["expected"]
