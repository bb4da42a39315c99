"""GitHub workflow commands against the runner's documented escaping (@actions/core command.ts)."""

import re

import pytest

from chain.report import github
from chain.report.reading import changed_runs

pytestmark = pytest.mark.xdist_group("report-pipeline")

COMMAND = re.compile(r"^::(?P<kind>[a-z]+)(?: (?P<props>[^:]*))?::(?P<data>.*)$")


def unescape_data(text):
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text):
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def parse(line):
    """Read one command as the runner does: properties split on `,` and the first `=`, then unescaped."""
    m = COMMAND.match(line)
    assert m, line
    props = {}
    for pair in filter(None, (m["props"] or "").split(",")):
        key, _, value = pair.partition("=")
        props[key] = unescape_property(value)
    return m["kind"], props, unescape_data(m["data"])


def test_escaping_follows_the_documented_rules():
    assert github.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert github.escape_data("a:b,c") == "a:b,c"  # `:` and `,` are escaped in properties only
    line = github.command("error", "x\n%y", file="dir/a,b.py", line=3, title="t::x")
    assert line == "::error file=dir/a%2Cb.py,line=3,title=t%3A%3Ax::x%0A%25y"
    assert parse(line) == ("error", {"file": "dir/a,b.py", "line": "3", "title": "t::x"}, "x\n%y")


def test_failing_tests_are_errors_where_their_traceback_ends(pipeline):
    report = pipeline.report(pipeline.mixed)
    lines = github.render(report).decode().splitlines()
    assert all("\n" not in line and "\r" not in line for line in lines)
    errors = {props["title"]: (props, data) for kind, props, data in map(parse, lines) if kind == "error"}
    (result,) = report.results
    failing = [c for c in result.cases if c.outcome in ("failed", "error")]
    assert set(errors) == {f"{c.nodeid} {c.outcome}" for c in failing}
    props, data = errors["sub/test_deep.py::test_deep failed"]
    assert (props["file"], props["line"]) == ("mixed/sub/test_deep.py", "2")
    assert "'a,b:c' == 'a,b:d\\r'" in data  # `,` `:` and a CR in the message survive the round trip
    props, data = errors["test_mix.py::test_exception failed"]
    assert (props["file"], props["line"], data) == ("mixed/calc.py", "2", "ZeroDivisionError: division by zero")
    props, data = errors["test_mix.py::test_param[2] failed"]
    assert data == "AssertionError: x, said: 50% of 2\nassert 2 == 1"


def test_pipeline_annotations_and_job_summary(pipeline, tmp_path, monkeypatch):
    report = pipeline.report(pipeline.final)
    parsed = [parse(line) for line in github.render(report).decode().splitlines()]
    warnings = [(p["file"], p["line"]) for kind, p, _ in parsed if kind == "warning"]
    assert warnings[0] == ("examples/projects/stats_bug/stats.py", "18")  # the most suspicious line first
    notices = {p["title"]: (p["file"], p["line"], d) for kind, p, d in parsed if kind == "notice"}
    file, line, data = notices["chain: repaired by chain"]
    process = next(r for r in report.results if r.task_id == "stats_bug").task.history[1]
    (_, first, _, old, new), *_ = changed_runs(process.data["diff"])
    assert (file, line) == ("examples/projects/stats_bug/stats.py", str(first))
    assert f"-{old.splitlines()[0]}" in data and f"+{new.splitlines()[0]}" in data
    assert any(k == "notice" and p["file"].endswith("slow_fib/fib.py") for k, p, _ in parsed)
    assert not [1 for kind, *_ in parsed if kind == "error"]  # everything passes after process and optimize


def test_cli_appends_the_summary_to_github_step_summary(pipeline, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from chain.cli import cli

    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = CliRunner().invoke(cli, ["report", "github"], input=pipeline.final, catch_exceptions=False)
    assert out.exit_code == 0
    assert out.stdout.startswith("::") and all(line.startswith("::") for line in out.stdout.splitlines())
    text = summary.read_text()
    assert text.startswith("earlier step\n### chain: 3 task(s), 3 passing, 0 failing, 1 repaired, 1 faster")
    assert "| `stats_bug` | analyze ❌ → process ✅ → optimize ✅ |" in text
