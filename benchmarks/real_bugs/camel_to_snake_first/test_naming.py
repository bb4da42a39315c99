"""Tests for naming: cases in data/naming.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from naming import camel_to_snake

@pytest.mark.parametrize("case", load_cases("naming", "camel_to_snake"), ids=lambda c: c["id"])
def test_camel_to_snake(case):
    assert call(camel_to_snake, case["args"]) == case["expected"]
