"""`chain compare`: bootstrap intervals and the exit status CI gates on. Report A is a real bench run; the
"regressed" report B is A with its latency samples scaled, which is exactly the situation the gate exists for."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from chain.bench.compare import compare
from chain.bench.results import BenchResults
from chain.bench.runner import BenchPlan, run_bench
from chain.cli import cli
from chain.errors import ExitStatus
from chain.protocol import Task

TESTS = "import time\n\ndef test_a():\n    time.sleep(0.05)\n\ndef test_b():\n    assert 1 + 1 == 2\n"


@pytest.fixture(scope="module")
def report_a(tmp_path_factory) -> BenchResults:
    tmp = tmp_path_factory.mktemp("compare")
    suite = tmp / "suite.ndjson"
    suite.write_bytes(b"".join(orjson.dumps(Task(id=f"t{i}", files={"test_x.py": TESTS}).model_dump(mode="json"))
                               + b"\n" for i in range(6)))
    return run_bench(BenchPlan(suite=suite, stages=[("analyze", None)], concurrency=[1], runs=3))


def write(tmp_path, name: str, results: BenchResults):
    path = tmp_path / name
    path.write_text(results.model_dump_json())
    return path


def slower(results: BenchResults, factor: float) -> BenchResults:
    b = results.model_copy(deep=True)
    for config in b.configs:
        config.samples.latency_ms = [v * factor for v in config.samples.latency_ms]
        config.samples.throughput = [v / factor for v in config.samples.throughput]
    return b


def test_identical_reports_compare_unchanged_and_exit_zero(tmp_path, report_a):
    a = write(tmp_path, "a.json", report_a)
    result = CliRunner().invoke(cli, ["compare", str(a), str(a)])
    assert result.exit_code == 0, result.output
    assert "regression" not in result.output and "latency_p95_ms" in result.output


def test_a_significant_slowdown_is_a_regression_with_exit_7(tmp_path, report_a):
    a = write(tmp_path, "a.json", report_a)
    # 3x: A's own samples come from a real run on a machine that may be loaded, and the bootstrap resamples A
    # and B independently; a 3x slowdown stays beyond 20% across A's spread, a 2x one did not always.
    b = write(tmp_path, "b.json", slower(report_a, 3.0))
    result = CliRunner().invoke(cli, ["compare", str(a), str(b), "--threshold", "0.2", "--format", "json"])
    assert result.exit_code == ExitStatus.REGRESSION == 7, result.output
    rows = {r["metric"]: r for r in map(orjson.loads, result.stdout.splitlines()) if r["type"] == "compare"}
    p95 = rows["latency_p95_ms"]
    assert p95["verdict"] == "regression" and p95["change"] == pytest.approx(2.0, abs=0.01)
    # significant: the whole interval lies on the slower side of zero (the verdict's rule). Not beyond the
    # threshold: p95 of 18 samples is about their maximum, and one slow sample of A's real run (a loaded
    # machine) drawn into A's resamples and missing from B's brought the low end to +4% once.
    assert p95["ci_low"] > 0
    assert rows["throughput"]["verdict"] == "regression"
    assert rows["success_rate"]["verdict"] == "unchanged"
    assert "regression(s) beyond 20%" in result.stderr


def test_the_other_direction_is_an_improvement_and_passes(tmp_path, report_a):
    a = write(tmp_path, "a.json", slower(report_a, 2.0))
    b = write(tmp_path, "b.json", report_a)
    result = CliRunner().invoke(cli, ["compare", str(a), str(b), "--format", "json"])
    assert result.exit_code == 0
    verdicts = {r["metric"]: r["verdict"] for r in map(orjson.loads, result.stdout.splitlines())}
    assert verdicts["latency_p50_ms"] == "improvement"


def test_a_change_within_the_threshold_does_not_fail(tmp_path, report_a):
    a = write(tmp_path, "a.json", report_a)
    b = write(tmp_path, "b.json", slower(report_a, 1.05))
    result = CliRunner().invoke(cli, ["compare", str(a), str(b), "--threshold", "0.1"])
    assert result.exit_code == 0, result.output


def test_bootstrap_is_deterministic_for_a_seed(report_a):
    b = slower(report_a, 1.3)
    first, _ = compare(report_a, b, seed=3)
    again, _ = compare(report_a, b, seed=3)
    assert [d.as_dict() for d in first] == [d.as_dict() for d in again]


def test_different_suites_and_missing_configs_are_warned_about(report_a):
    b = report_a.model_copy(deep=True)
    b.suite.sha256 = "0" * 64
    b.configs[0].id = "pipeline:analyze:auto:c1"
    deltas, warnings = compare(report_a, b)
    assert not deltas
    assert any("different suites" in w for w in warnings)
    assert any("only in A" in w for w in warnings) and any("only in B" in w for w in warnings)


def test_a_file_that_is_not_a_report_is_a_clear_error(tmp_path, report_a):
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    result = CliRunner().invoke(cli, ["compare", str(bogus), str(write(tmp_path, "a.json", report_a))])
    assert result.exit_code == ExitStatus.CONFIG
    assert "not a chain bench results.json" in result.output and "Traceback" not in result.output
