"""The non-stage commands, through CliRunner: task, schema, profiles; and the README's generated sections."""

from pathlib import Path

import orjson
from click.testing import CliRunner

from chain.cli import cli
from chain.bench.docs import DOC_SECTIONS
from chain.docs import render
from chain.errors import ExitStatus
from chain.protocol import Task, json_schema
from tests.conftest import ROOT, make_task, ndjson, parse_lines


def invoke(args, data=b""):
    return CliRunner().invoke(cli, args, input=data)


def test_task_makes_one_task_per_directory(tmp_path):
    for name in ("a", "b"):
        d = tmp_path / name
        (d / "pkg").mkdir(parents=True)
        (d / "pkg" / "m.py").write_text("x = 1\n")
        (d / "test_m.py").write_text("def test(): pass\n")
        (d / "__pycache__").mkdir()
        (d / "__pycache__" / "junk.pyc").write_bytes(b"\0\1")
        (d / "blob.bin").write_bytes(b"\xff\xfe\0")
    res = invoke(["task", str(tmp_path / "a"), str(tmp_path / "b"), "--test", "pytest -x", "--bench", "python b.py"])
    assert res.exit_code == 0, res.output
    tasks = [Task.model_validate(o) for o in parse_lines(res.stdout_bytes)]
    assert [t.id for t in tasks] == ["a", "b"]
    assert set(tasks[0].files) == {"pkg/m.py", "test_m.py"}
    assert tasks[0].blob_bytes() == {"blob.bin": b"\xff\xfe\0"}  # binary files travel too
    assert [(o.path, o.kind) for o in tasks[0].omitted] == [("__pycache__/", "excluded")]  # caches: listed
    assert tasks[0].test == "pytest -x" and tasks[0].bench == "python b.py"


def test_task_from_listed_files_with_id(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    (tmp_path / "test_m.py").write_text("def test(): pass\n")
    res = invoke(["task", str(tmp_path / "m.py"), str(tmp_path / "test_m.py"), "--id", "mine"])
    (task,) = parse_lines(res.stdout_bytes)
    assert task["id"] == "mine" and set(task["files"]) == {"m.py", "test_m.py"}


def test_task_errors_are_messages_with_config_status(tmp_path):
    res = invoke(["task", str(tmp_path / "missing")])
    assert res.exit_code == ExitStatus.CONFIG and "no such file" in res.stderr


def test_schema_prints_the_generated_json_schema():
    res = invoke(["schema"])
    assert orjson.loads(res.stdout_bytes) == json_schema()


def test_profiles_json_and_reset(isolated_state):
    invoke(["analyze", "-p", "aggressive"], ndjson(make_task()))
    shown = orjson.loads(invoke(["profiles", "--json"]).stdout_bytes)
    assert set(shown["profiles"]) >= {"conservative", "balanced", "aggressive"}
    (row,) = shown["stats"]
    assert (row["stage"], row["profile"], row["executions"], row["ema_success"]) == ("analyze", "aggressive", 1, 1.0)
    table = invoke(["profiles"]).stdout
    assert "analyze" in table and "aggressive" in table and "100.0%" in table
    assert invoke(["profiles", "reset"]).exit_code == 0
    assert orjson.loads(invoke(["profiles", "--json"]).stdout_bytes)["stats"] == []


def test_readme_quotes_the_current_schema_and_exit_codes():
    readme = (ROOT / "README.md").read_text()
    assert render(readme) == readme, "README is stale: run `make readme`"
    for name, sections in DOC_SECTIONS.items():
        text = (ROOT / name).read_text()
        assert render(text, sections) == text, f"{name} is stale: run `make readme`"
    for status in ExitStatus:
        assert f"| {status.value} | `{status.name}` |" in readme


def test_chain_run_serves_every_stage_from_one_sandbox(monkeypatch):
    # One warm pool for the whole `chain run`, not one template and set of workers per stage.
    from chain import registry

    made, closed = [], []
    real = registry.sandbox

    def counting(name, **kwargs):
        box = real(name, **kwargs)
        made.append(box)
        monkeypatch.setattr(box, "close", lambda box=box, close=box.close: (closed.append(box), close()))
        return box

    monkeypatch.setattr(registry, "sandbox", counting)
    tasks = ndjson(make_task("ok"), make_task("bad", code="def add(a, b):\n    return 0\n"))
    out = CliRunner().invoke(cli, ["run", "analyze", "process", "optimize"], input=tasks, catch_exceptions=False)
    assert out.exit_code == 0
    results = [e for e in parse_lines(out.stdout_bytes) if e["type"] == "result"]
    assert [(r["task_id"], r["stage"]) for r in results] == [("ok", "optimize"), ("bad", "optimize")]
    assert len(made) == 1 and closed == made


def test_stage_commands_do_not_load_the_benchmark_system():
    # Every `chain analyze` in a shell pipe starts Python afresh: the bench, generate, compare and doctor
    # commands are loaded only when asked for (about 0.13 s of start-up each process saves). The bench
    # plugin's package itself is imported (for its `register_commands` hook), none of its modules.
    import subprocess
    import sys

    code = ("import sys; from chain.cli import cli; import click; "
            "ctx = click.Context(cli); assert cli.get_command(ctx, 'analyze') is not None; "
            "print(sorted(m for m in sys.modules if m.startswith(('chain.bench.', 'chain.sandbox.doctor'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
    assert CliRunner().invoke(cli, ["compare", "--help"]).exit_code == 0
