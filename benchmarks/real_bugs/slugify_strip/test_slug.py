"""Tests for slug: cases in data/slug.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from slug import slugify

@pytest.mark.parametrize("case", load_cases("slug", "slugify"), ids=lambda c: c["id"])
def test_slugify(case):
    assert call(slugify, case["args"]) == case["expected"]
