"""Tests for matrix: cases in data/matrix.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from matrix import transpose

@pytest.mark.parametrize("case", load_cases("matrix", "transpose"), ids=lambda c: c["id"])
def test_transpose(case):
    assert call(transpose, case["args"]) == case["expected"]
