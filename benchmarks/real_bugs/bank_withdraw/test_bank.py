"""Tests for bank: cases in data/bank.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from bank import Account

@pytest.mark.parametrize("case", load_cases("bank", "Account"), ids=lambda c: c["id"])
def test_account_scenario(case):
    assert replay(Account(*case["init"]), case["ops"]) == case["expected"]
