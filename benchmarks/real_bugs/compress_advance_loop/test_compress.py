"""Tests for compress: cases in data/compress.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from compress import compress

@pytest.mark.parametrize("case", load_cases("compress", "compress"), ids=lambda c: c["id"])
def test_compress(case):
    assert call(compress, case["args"]) == case["expected"]
