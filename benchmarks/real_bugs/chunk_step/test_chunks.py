"""Tests for chunks: cases in data/chunks.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from chunks import chunked

@pytest.mark.parametrize("case", load_cases("chunks", "chunked"), ids=lambda c: c["id"])
def test_chunked(case):
    assert call(chunked, case["args"]) == case["expected"]
