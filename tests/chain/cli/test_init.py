"""The console script ends its process without the interpreter's teardown (`exit_without_teardown`): what a
user sees of a normal exit must stay the same, the exit status, every line on stdout, the atexit clean-up."""

import os
import subprocess
import sys

from tests.conftest import ROOT, make_task, ndjson, parse_lines, run_chain


def test_a_stage_emits_every_line_and_cleans_up_its_sandboxes(isolated_state, tmp_path):
    # The default warm pool: its workers, template and run directories go in clean-up at exit.
    sandboxes = tmp_path / "sandboxes"
    sandboxes.mkdir()
    tasks = [make_task(f"t{i}") for i in range(3)]
    done = run_chain(["analyze"], ndjson(*tasks), env={"CHAIN_TMPDIR": str(sandboxes)})
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    results = [e for e in parse_lines(done.stdout) if e["type"] == "result"]
    assert sorted(r["task_id"] for r in results) == ["t0", "t1", "t2"]
    assert all(r["status"] == "passed" for r in results)
    assert [p.name for p in sandboxes.iterdir() if p.name.startswith("chain-")] == []


def test_the_exit_status_is_the_commands(isolated_state):
    assert run_chain(["no-such-command"]).returncode == 2  # click's usage error
    assert run_chain(["--version"]).returncode == 0


def test_atexit_handlers_run_and_buffered_stdout_is_written(isolated_state):
    # A plugin's atexit handler still runs, and what it prints (buffered, not a terminal) still arrives.
    code = (
        "import atexit, sys\n"
        "from chain.cli import main\n"
        "atexit.register(lambda: print('handler ran'))\n"
        "sys.argv = ['chain', '--version']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines() == ["chain, version 0.1.0", "handler ran"]


def test_a_reader_that_went_away_gets_a_failing_status_without_a_traceback(isolated_state):
    read_end, write_end = os.pipe()
    os.close(read_end)  # e.g. `chain schema | head -1` once head has exited
    try:
        done = subprocess.run([sys.executable, "-m", "chain", "schema"], stdout=write_end, stderr=subprocess.PIPE,
                              timeout=60, cwd=ROOT)
    finally:
        os.close(write_end)
    assert done.returncode != 0  # the schema was not delivered
    assert b"Traceback" not in done.stderr and b"Exception ignored" not in done.stderr
