"""The shared stage options: click flags become a typed `StageFlags`, the part a stage reads becomes
`ctx.options` (`StageOptions`), and no flag reaches a backend through the process environment."""

import dataclasses
import os
import sqlite3

from click.testing import CliRunner

from chain.api import open_sandbox
from chain.cli import cli
from chain.errors import ExitStatus, SandboxUnavailable, StateError, exit_status_of
from chain.store import ProfileStore
from tests.conftest import make_task, ndjson, parse_lines
from chain.cli.stage_cmd import StageFlags, make_stage_command, run_command
from chain.registry import stage


def test_every_shared_option_is_a_field_of_stage_flags():
    fields = {f.name for f in dataclasses.fields(StageFlags)}
    for command in (make_stage_command(stage("analyze")), run_command):
        names = {p.name for p in command.params} - {"stages"}
        assert names == fields


def test_e2b_template_flag_leaves_the_environment_alone(monkeypatch):
    monkeypatch.delenv("CHAIN_E2B_TEMPLATE", raising=False)
    res = CliRunner().invoke(cli, ["analyze", "--sandbox", "local", "--no-learn", "--e2b-template", "my-python"],
                             input=b"")
    assert res.exit_code == 0, res.output
    assert "CHAIN_E2B_TEMPLATE" not in os.environ


def test_e2b_template_reaches_the_e2b_backend_as_an_argument(monkeypatch):
    monkeypatch.setenv("E2B_DEBUG", "true")  # available without a key; nothing is started by describe()
    monkeypatch.delenv("CHAIN_E2B_TEMPLATE", raising=False)
    box = open_sandbox("e2b", e2b_template="my-python")
    try:
        assert box.describe()["template"] == "my-python"
    finally:
        box.close()


def test_an_engine_error_on_a_task_thread_keeps_its_exit_status(isolated_state):
    # The state database refuses every write (a real SQLite trigger), so recording each task's outcome raises
    # StateError on its task thread: each task becomes an error event naming it, and the exit status is the
    # StateError's (4, unusable state database), not FAILURE's "a bug".
    ProfileStore(isolated_state).close()
    db = sqlite3.connect(isolated_state)
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON executions BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    db.commit()
    db.close()
    res = CliRunner().invoke(cli, ["analyze", "--sandbox", "local", "-j", "2"],
                             input=ndjson(make_task("a"), make_task("b")))
    assert res.exit_code == ExitStatus.CONFIG, res.output
    errors = [e for e in parse_lines(res.stdout_bytes) if e["type"] == "error"]
    assert sorted(e["task_id"] for e in errors) == ["a", "b"]
    assert all("state database" in e["message"] and "disk says no" in e["message"] for e in errors)


def test_exit_status_of_is_the_one_mapping():
    assert exit_status_of(StateError("x")) is ExitStatus.CONFIG
    assert exit_status_of(SandboxUnavailable("x")) is ExitStatus.SANDBOX
    assert exit_status_of(KeyboardInterrupt()) is ExitStatus.INTERRUPTED
    assert exit_status_of(BrokenPipeError()) is ExitStatus.BROKEN_PIPE
    assert exit_status_of(ZeroDivisionError()) is ExitStatus.FAILURE
