"""Tests for rle: cases in data/rle.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from rle import encode, decode

@pytest.mark.parametrize("case", load_cases("rle", "encode"), ids=lambda c: c["id"])
def test_encode(case):
    assert call(encode, case["args"]) == case["expected"]

@pytest.mark.parametrize("case", load_cases("rle", "decode"), ids=lambda c: c["id"])
def test_decode(case):
    assert call(decode, case["args"]) == case["expected"]
