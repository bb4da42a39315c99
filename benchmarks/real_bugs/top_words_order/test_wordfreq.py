"""Tests for wordfreq: cases in data/wordfreq.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from wordfreq import top_words

@pytest.mark.parametrize("case", load_cases("wordfreq", "top_words"), ids=lambda c: c["id"])
def test_top_words(case):
    assert call(top_words, case["args"]) == case["expected"]
