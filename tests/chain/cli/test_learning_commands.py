"""trajectories export, stats --prometheus, profiles trend / by kind / export / import."""

import re

import orjson
from click.testing import CliRunner

from chain.cli import cli
from tests.conftest import make_task, ndjson, parse_lines


def invoke(args, data=b""):
    return CliRunner().invoke(cli, args, input=data, catch_exceptions=False)


def populate():
    tasks = ndjson(make_task("ok"), make_task("bad", code="def add(a, b):\n    return 0\n"))
    out = invoke(["run", "analyze", "process:conservative"], tasks)
    assert out.exit_code == 0


def test_trajectories_export_groups_steps_by_task():
    populate()
    groups = parse_lines(invoke(["trajectories", "export", "--format", "jsonl"]).stdout_bytes)
    assert [g["task_id"] for g in groups] == ["bad", "ok"]
    bad = groups[0]
    assert [s["stage"] for s in bad["steps"]] == ["analyze", "process"]
    assert bad["rewards"] == [s["reward"] for s in bad["steps"]] and bad["rewards"][0] == 0.0
    assert bad["actions"][1]["profile"] == "conservative" and bad["actions"][1]["agent"] == "builtin"
    assert bad["prompt"]["files"] == ["mod.py", "test_mod.py"] and bad["prompt"]["context"] == "python/small/unknown"
    # The process step saw analyze's verdict in its state.
    assert bad["steps"][1]["state"]["previous"]["stage"] == "analyze"
    ok = groups[1]
    assert ok["rewards"] == [1.0, 1.0]
    only = parse_lines(invoke(["trajectories", "export", "--stage", "process"]).stdout_bytes)
    assert {s["stage"] for g in only for s in g["steps"]} == {"process"}
    assert invoke(["trajectories", "export", "--since", "2999-01-01"]).stdout_bytes == b""
    assert len(parse_lines(invoke(["trajectories", "export", "--since", "1h"]).stdout_bytes)) == 2


def test_prometheus_exposition_counts_executions():
    populate()
    text = invoke(["stats", "--prometheus"]).stdout
    samples = dict(re.findall(r"^(chain_\w+\{[^}]*\}) (\S+)$", text, re.M))
    assert samples['chain_executions_total{stage="analyze",profile="balanced",status="passed"}'] == "1"
    assert samples['chain_executions_total{stage="analyze",profile="balanced",status="failed"}'] == "1"
    assert samples['chain_profile_executions{stage="process",profile="conservative"}'] == "2"
    # One pass and one fail, folded in completion order: 0.6 or 0.4 with alpha 0.4.
    assert float(samples['chain_profile_ema_success{stage="process",profile="conservative"}']) in (0.4, 0.6)
    for family in ("chain_executions_total", "chain_profile_ema_duration_seconds"):
        assert f"# TYPE {family} " in text


def test_profiles_trend_by_kind_export_import(tmp_path):
    populate()
    populate()
    trend = orjson.loads(invoke(["profiles", "--last", "2", "--json"]).stdout_bytes)
    row = next(r for r in trend if r["stage"] == "analyze")
    assert row["recent_runs"] == 2 and row["before_runs"] == 2 and row["recent_success"] == 0.5
    kinds = orjson.loads(invoke(["profiles", "--by", "kind", "--json"]).stdout_bytes)
    assert {r["context"] for r in kinds if r["stage"] == "process"} == {"python/small/fail0", "python/small/fail1"}
    exported = invoke(["profiles", "export"]).stdout_bytes
    other = tmp_path / "other.db"
    res = invoke(["profiles", "--state", str(other), "import", "-"], exported)
    assert "imported 2" in res.stderr
    moved = orjson.loads(invoke(["profiles", "--state", str(other), "--json"]).stdout_bytes)["stats"]
    assert moved == orjson.loads(exported)["stats"]
    bad = CliRunner().invoke(cli, ["profiles", "import", "-"], input=b'{"format": "other"}')
    assert bad.exit_code == 4 and "not a chain profiles export" in bad.stderr
