"""Live check against the real E2B cloud. Runs only with CHAIN_E2B_LIVE=1 and E2B_API_KEY set (see docs/e2b.md);
the template must have python and pytest (CHAIN_E2B_TEMPLATE, default `base`)."""

from __future__ import annotations

import os

import pytest

from chain.sandbox import RunSpec
from chain.sandbox.e2b_backend import E2BSandbox

pytestmark = pytest.mark.skipif(
    not (os.environ.get("CHAIN_E2B_LIVE") == "1" and os.environ.get("E2B_API_KEY")),
    reason="live E2B test: set CHAIN_E2B_LIVE=1 and E2B_API_KEY to run it")

TESTS = "from calc import add\n\ndef test_ok():\n    assert add(1, 2) == 3\n\ndef test_bad():\n    assert add(2, 2) == 5\n"


def test_e2b_live_runs_pytest_and_reads_per_test_results():
    box = E2BSandbox()
    outcome = box.run(RunSpec(files={"calc.py": "def add(a, b):\n    return a + b\n", "test_calc.py": TESTS},
                              command="python -m pytest -q", timeout_s=120))
    assert outcome.error is None, outcome.error
    assert outcome.exit_code == 1 and outcome.report is not None
    outcomes = {t["nodeid"].split("::")[-1]: t["outcome"] for t in outcome.report.get("tests", [])}
    assert outcomes == {"test_ok": "passed", "test_bad": "failed"}
    assert not box._live
