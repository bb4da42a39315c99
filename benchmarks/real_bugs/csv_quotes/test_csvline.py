"""Tests for csvline: cases in data/csvline.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from csvline import split_csv_line

@pytest.mark.parametrize("case", load_cases("csvline", "split_csv_line"), ids=lambda c: c["id"])
def test_split_csv_line(case):
    assert call(split_csv_line, case["args"]) == case["expected"]
