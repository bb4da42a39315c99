"""The plugin registry: commands arrive through `register_commands` like stages and backends, and a third-party
plugin cannot silently take a name chain's own providers hold (it is refused, or replaces it with replace=True).
The end-to-end test installs a real plugin (a dist-info with an entry point) and runs chain as a subprocess."""

from __future__ import annotations

import os
import subprocess
import textwrap
from types import SimpleNamespace

import click

from chain import registry
from tests.conftest import CHAIN, ROOT, make_task, ndjson, parse_lines


def _loaded_with(name: str, provider: object) -> registry.Registry:
    reg = registry.load()  # chain's own providers, as chain loads them
    reg.add_provider(name, provider)
    return reg


def _stage_plugin(stage: str, replace: bool = False) -> SimpleNamespace:
    def run(task, ctx):
        raise AssertionError("never run")

    return SimpleNamespace(register_stages=lambda register: register(stage, run, help="mine", replace=replace))


def test_chain_s_own_stages_backends_and_commands_come_through_the_hooks():
    reg = registry.load()
    assert {"analyze", "process", "optimize"} <= set(reg.stages)
    assert {"local", "bwrap", "auto"} <= set(reg.sandboxes)
    assert {"task", "schema", "run", "bench", "generate", "compare"} <= set(reg.commands)
    assert reg.commands["bench"].plugin == "bench" and reg.commands["task"].plugin == "builtin_commands"
    assert reg.errors == []


def test_a_plugin_stage_under_a_built_in_name_is_refused_and_the_built_in_kept():
    builtin_run = registry.load().stages["process"].run
    reg = _loaded_with("shadow", _stage_plugin("process"))
    assert reg.stages["process"].run is builtin_run and reg.stages["process"].plugin == "builtin_stages"
    (error,) = reg.errors
    assert "'shadow'" in error and "stage 'process'" in error and "replace=True" in error


def test_a_plugin_replaces_a_built_in_only_when_it_says_so():
    reg = _loaded_with("mine", _stage_plugin("process", replace=True))
    assert reg.stages["process"].plugin == "mine" and reg.errors == []
    assert reg.replaced == ["plugin 'mine' replaced stage 'process' of 'builtin_stages'"]


def test_stages_and_commands_share_one_namespace_and_backends_are_guarded_too():
    provider = SimpleNamespace(
        register_commands=lambda register: register("analyze", click.Command("analyze")),
        register_sandboxes=lambda register: register("local", object),
    )
    reg = _loaded_with("greedy", provider)
    assert "analyze" not in reg.commands and reg.stages["analyze"].plugin == "builtin_stages"
    assert reg.sandboxes["local"] is not object
    refused = sorted(e.split(":")[1].split(" is ")[0].strip() for e in reg.errors)
    assert refused == ["command 'analyze'", "sandbox backend 'local'"]


def _install_plugin(site, code: str) -> None:
    (site / "chain_hello.py").write_text(textwrap.dedent(code))
    info = site / "chain_hello-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: chain-hello\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[chain.plugins]\nhello = chain_hello\n")


def test_an_installed_plugin_adds_a_command_and_cannot_take_over_a_stage(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site, """
        import click

        @click.command()
        @click.argument("who")
        def hello(who):
            click.echo(f"hello {who}")

        def run(task, ctx):
            raise SystemExit("the plugin's process ran")

        def register_commands(register):
            register("hello", hello)

        def register_stages(register):
            register("process", run)
    """)
    env = {"PYTHONPATH": f"{site}:{ROOT}", "CHAIN_PLUGINS": "hello"}

    def chain(*args, stdin=b""):
        return subprocess.run([*CHAIN, *args], input=stdin, capture_output=True, timeout=120, cwd=ROOT,
                              env={**os.environ, **env})

    said = chain("hello", "world")
    assert said.returncode == 0 and said.stdout == b"hello world\n", said.stderr
    assert b"stage 'process' is already 'builtin_stages'" in said.stderr  # told, not silently dropped
    processed = chain("process", "--sandbox", "local", "--no-learn", stdin=ndjson(make_task("t")))
    assert processed.returncode == 0, processed.stderr
    (result,) = parse_lines(processed.stdout)
    assert result["stage"] == "process" and result["status"] == "passed"  # chain's own process ran
    listed = chain("--help")
    assert listed.returncode == 0 and b"hello" in listed.stdout
