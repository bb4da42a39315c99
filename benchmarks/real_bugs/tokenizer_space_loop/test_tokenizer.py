"""Tests for tokenizer: cases in data/tokenizer.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from tokenizer import tokenize

@pytest.mark.parametrize("case", load_cases("tokenizer", "tokenize"), ids=lambda c: c["id"])
def test_tokenize(case):
    assert call(tokenize, case["args"]) == case["expected"]
