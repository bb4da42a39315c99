"""The whole benchmark path as a user runs it: `chain generate` -> `chain bench --report` (real stages, real
sandboxes) -> the report opened in headless Chromium."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.conftest import ROOT
from tests.e2e.test_report_browser import CHARTS, Loaded, chromium, chromium_path  # noqa: F401  (fixtures)

CHAIN = [sys.executable, "-m", "chain"]
pytestmark = pytest.mark.xdist_group("bench-report")  # one worker builds the module's report once


@pytest.fixture(scope="module")
def bench_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    suite = tmp / "suite.ndjson"
    gen = subprocess.run([*CHAIN, "generate", "--seed", "11", "--tasks", "3", "--mix", "bugs=2,correct=1",
                          "--difficulty", "easy", "-o", str(suite)], capture_output=True, cwd=ROOT)
    assert gen.returncode == 0, gen.stderr.decode()
    bench = subprocess.run([*CHAIN, "bench", str(suite), "--pipeline", "analyze|process", "--profile", "aggressive",
                            "--concurrency", "1,2", "--report", str(tmp / "report")],
                           capture_output=True, cwd=ROOT, timeout=600)
    assert bench.returncode == 0, bench.stderr.decode()[-3000:]
    truth = orjson.loads((tmp / "suite.truth.json").read_bytes())
    results = orjson.loads((tmp / "report" / "results.json").read_bytes())
    return bench, truth, results, tmp / "report"


def test_bench_scores_a_generated_suite_against_its_ground_truth(bench_report):
    bench, truth, results, _ = bench_report
    lines = [orjson.loads(line) for line in bench.stdout.splitlines()]
    assert [line["metrics"]["throughput"] > 0 for line in lines] == [True, True]
    assert results["suite"]["generator"]["seed"] == 11
    for outcome in results["tasks"]:
        expected = truth["truth"][outcome["task_id"]]["category"]
        assert outcome["category"] == expected
        if outcome["status"] != "passed":
            assert outcome["optimality"] == 0.0
    bugs = [o for o in results["tasks"] if o["category"] == "bug"]
    assert bugs and all(o["location_hit"] is not None for o in bugs)
    c2 = results["configs"][1]
    assert c2["metrics"]["efficiency"] == pytest.approx(
        c2["metrics"]["throughput"] / (2 * results["configs"][0]["metrics"]["throughput"]), abs=1e-3)


def test_the_real_report_renders_in_chromium(bench_report, chromium):  # noqa: F811
    loaded = Loaded(chromium, bench_report[3] / "index.html")
    assert loaded.errors == []
    for name in CHARTS:
        chart = loaded.chart(name)
        assert chart is not None and chart["drawn"] > 0, (name, chart)
