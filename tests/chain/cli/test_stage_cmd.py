"""The shared stage options: click flags become a typed `StageFlags`, the part a stage reads becomes
`ctx.options` (`StageOptions`), and no flag reaches a backend through the process environment."""

import dataclasses
import os

from click.testing import CliRunner

from chain.api import open_sandbox
from chain.cli import cli
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
