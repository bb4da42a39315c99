"""Tests for inventory: cases in data/inventory.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from inventory import Inventory

@pytest.mark.parametrize("case", load_cases("inventory", "Inventory"), ids=lambda c: c["id"])
def test_inventory_scenario(case):
    assert replay(Inventory(*case["init"]), case["ops"]) == case["expected"]
