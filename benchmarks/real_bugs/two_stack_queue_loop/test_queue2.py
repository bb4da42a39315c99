"""Tests for queue2: cases in data/queue2.json, expected values from the reference version."""

import pytest

from helpers import call, load_cases, replay  # noqa: F401
from queue2 import Queue

@pytest.mark.parametrize("case", load_cases("queue2", "Queue"), ids=lambda c: c["id"])
def test_queue_scenario(case):
    assert replay(Queue(*case["init"]), case["ops"]) == case["expected"]
