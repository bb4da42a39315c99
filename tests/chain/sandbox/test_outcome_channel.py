"""Outcomes of any size come back whole: the report file is their channel, not the captured stdout (whose cap,
1 MiB by default, is for what the code under test prints). Cold and warm backends."""

from __future__ import annotations

import pytest

from chain import registry
from chain.context import judge
from chain.sandbox import RunSpec
from tests.chain.sandbox.conftest import backend_params

TESTS, FAIL_EVERY, FAIL_AT, FAILURE_CHARS = 20_000, 400, 7, 100_000
SUITE = {"test_many.py": f"""\
import pytest

@pytest.mark.parametrize("i", range({TESTS}))
def test_many(i):
    if i % {FAIL_EVERY} == {FAIL_AT}:
        raise AssertionError(f"failure {{i}} " + "x" * {FAILURE_CHARS} + f" end-of-{{i}}")
"""}


@pytest.mark.parametrize("backend", backend_params(["local", "bwrap-warm"]))
def test_20000_tests_and_5_mb_of_failure_text_come_back_whole(backend):
    box = registry.sandbox(backend)
    try:
        ev = judge(box.run(RunSpec(files=SUITE, command="python -m pytest -q", timeout_s=600)), 600)
    finally:
        box.close()
    failing = TESTS // FAIL_EVERY  # 50 failures of 100 kB each: 5 MB of failure text
    assert ev.outcome.error is None and not ev.outcome.timed_out, ev.summary
    assert ev.outcome.truncated and any("stdout truncated" in n for n in ev.outcome.notes)  # pytest printed > 1 MiB
    assert len(ev.cases) == TESTS and len({c.nodeid for c in ev.cases}) == TESTS
    assert (ev.tests.passed, ev.tests.failed, ev.tests.total) == (TESTS - failing, failing, TESTS)
    assert ev.status == "failed" and f"{TESTS - failing} passed, {failing} failed" in ev.summary
    failed = {c.nodeid: c.message for c in ev.cases if c.outcome == "failed"}
    assert sorted(failed) == sorted(f"test_many.py::test_many[{i}]" for i in range(FAIL_AT, TESTS, FAIL_EVERY))
    for nodeid, message in failed.items():  # each keeps its end (the assertion) and says what was cut
        i = nodeid.rsplit("[", 1)[1].rstrip("]")
        assert f"end-of-{i}" in message and message.startswith("[chain: first ")
