"""Tests for wrap: cases in data/wrap.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from wrap import wrap

@pytest.mark.parametrize("case", load_cases("wrap", "wrap"), ids=lambda c: c["id"])
def test_wrap(case):
    assert call(wrap, case["args"]) == case["expected"]
