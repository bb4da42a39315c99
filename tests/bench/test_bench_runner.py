"""`chain bench` through the library and the CLI, on a tiny suite with known ground truth, real stages, real
sandbox runs."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from chain.bench.runner import BenchPlan, percentile, run_bench
from chain.bench.scoring import changed_lines, score_task
from chain.cli import cli
from chain.protocol import Task

CORRECT = "def add(a, b):\n    return a + b\n"
BUGGY = "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x < hi:\n        return hi\n    return x\n"
FIXED = BUGGY.replace("if x < hi", "if x > hi")
CLAMP_TESTS = ("from clamp import clamp\n\ndef test_low():\n    assert clamp(-5, 0, 10) == 0\n\n"
               "def test_mid():\n    assert clamp(5, 0, 10) == 5\n\ndef test_high():\n    assert clamp(50, 0, 10) == 10\n")


def suite_tasks() -> list[Task]:
    return [
        Task(id="ok", files={"calc.py": CORRECT, "test_calc.py": "from calc import add\n\ndef test_add():\n"
                                                            "    assert add(2, 3) == 5\n"}),
        Task(id="bug", files={"clamp.py": BUGGY, "test_clamp.py": CLAMP_TESTS}),
    ]


TRUTH = {"seed": 1, "generator_version": 1, "truth": {
    "ok": {"category": "correct"},
    "bug": {"category": "bug", "correct_files": {"clamp.py": FIXED, "test_clamp.py": CLAMP_TESTS},
            "bugs": [{"file": "clamp.py", "line": 4, "operator": "compare", "original": ">", "mutated": "<"}]},
}}


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "suite.ndjson"
    path.write_bytes(b"".join(orjson.dumps(t.model_dump(mode="json")) + b"\n" for t in suite_tasks()))
    (tmp_path / "suite.truth.json").write_bytes(orjson.dumps(TRUTH))
    return path


def test_percentile_interpolates():
    assert percentile([10.0], 95) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)


def test_changed_lines_names_the_edited_line_of_the_original():
    touched, size = changed_lines(BUGGY, FIXED)
    assert touched == {4} and size == 1


def test_scoring_against_ground_truth():
    bug = suite_tasks()[1]
    fixed = bug.model_copy(update={"files": {**bug.files, "clamp.py": FIXED}})
    far = bug.model_copy(update={"files": {**bug.files, "clamp.py": BUGGY.replace("    return x\n",
                                                                                  "    return min(x, hi)\n")}})
    from chain.bench.scoring import Scored
    from chain.protocol import TestCounts, make_result

    def R(task, status):  # a real Result, as process would emit it for `task`
        return make_result(task=task, stage="process", profile="balanced", status=status,
                           tests=TestCounts(passed=3, total=3), duration_ms=1.0, sandbox="local", summary="")

    truth = TRUTH["truth"]["bug"]
    assert score_task(bug, R(fixed, "passed"), truth) == Scored("bug", 1.0, True)
    assert score_task(bug, R(far, "passed"), truth).optimality == 0.5  # passes, but not at the seeded line
    assert score_task(bug, R(bug, "failed"), truth) == Scored("bug", 0.0, False)
    ok = suite_tasks()[0]
    assert score_task(ok, R(ok, "passed"), {"category": "correct"}).optimality == 1.0
    assert score_task(ok, None, None).category == "unknown"


def test_bench_sweeps_concurrency_and_scores_optimality(suite):
    plan = BenchPlan(suite=suite, stages=[("analyze", None), ("process", None)], profiles=["balanced"],
                     concurrency=[1, 2], runs=2, patterns=["fanout", "pipeline"], truth=TRUTH, sandbox="auto")
    results = run_bench(plan)
    ids = [c.id for c in results.configs]
    assert ids == ["fanout:analyze|process:balanced:c1", "fanout:analyze|process:balanced:c2",
                   "pipeline:analyze|process:balanced:c1", "pipeline:analyze|process:balanced:c2"]
    for config in results.configs:
        m = config.metrics
        assert len(config.samples.throughput) == 2 and len(config.samples.latency_ms) == 4
        assert m.throughput > 0 and 0 < m.latency_p50_ms <= m.latency_p95_ms <= m.latency_p99_ms
        assert m.success_rate == 1.0  # process repairs the clamp bug (one flipped comparison)
        assert m.optimality == 1.0 and m.location_accuracy == 1.0
        assert m.efficiency == (1.0 if config.concurrency == 1 else pytest.approx(
            m.throughput / (2 * results.configs[ids.index(config.id.replace(":c2", ":c1"))].metrics.throughput),
            abs=1e-3))
    outcomes = {(o.config, o.run, o.task_id): o for o in results.tasks}
    assert len(outcomes) == 4 * 2 * 2
    assert {o.category for o in results.tasks} == {"bug", "correct"}
    stages = {(a.stage, a.task_id) for a in results.timeline}
    assert stages == {(s, t) for s in ("analyze", "process") for t in ("ok", "bug")}
    assert all(a.end_s >= a.start_s for a in results.timeline)
    # EMA points come from the real state database, so they move with the outcomes: analyze sees the bug task
    # fail (EMA below 1), process repairs everything (EMA stays 1)
    analyze = [p.ema_success for p in results.ema if p.stage == "analyze"]
    assert analyze and min(analyze) < 1.0
    assert results.suite.generator == {"seed": 1, "generator_version": 1}


def test_bench_cli_writes_one_metrics_line_per_config_and_the_race_pattern(suite):
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    result = runner.invoke(cli, ["bench", str(suite), "--pipeline", "analyze", "--concurrency", "1,2",
                                 "--race", "conservative,aggressive"])
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(l["pattern"], l["profile"], l["concurrency"]) for l in lines] == [
        ("pipeline", "balanced", 1), ("pipeline", "balanced", 2),
        ("race", "conservative,aggressive", 1), ("race", "conservative,aggressive", 2)]
    assert all(l["type"] == "bench" and "samples" not in l for l in lines)
    assert lines[0]["metrics"]["success_rate"] == 0.5  # analyze does not fix: the bug task fails


def test_bench_rejects_unknown_profile_and_pattern_without_a_traceback(suite):
    runner = CliRunner()
    bad = runner.invoke(cli, ["bench", str(suite), "--profile", "turbo"])
    assert bad.exit_code == 4 and "no such profile 'turbo'" in bad.output
    race = runner.invoke(cli, ["bench", str(suite), "--pattern", "race"])
    assert race.exit_code == 4 and "--race" in race.output
    assert "Traceback" not in bad.output + race.output
