"""The stage loop through click's CliRunner (library path, no subprocess): ordering, pass-through, bad input,
exit codes, learning. Tasks run for real in the local sandbox."""

import orjson
from click.testing import CliRunner

from chain.cli import cli
from chain.errors import ExitStatus
from chain.store import ProfileStore
from tests.conftest import make_task, ndjson, parse_lines

SLOW = make_task("slow", tests="import time\nfrom mod import add\n\ndef test_add():\n    time.sleep(1.5)\n    assert add(1, 1) == 2\n")
FAST = make_task("fast")
FAILING = make_task("failing", code="def add(a, b):\n    return a - b\n")


def invoke(args, data: bytes):
    return CliRunner().invoke(cli, args, input=data, catch_exceptions=False)


def test_results_and_passthrough_lines_keep_input_order(isolated_state):
    claude_init = {"type": "system", "subtype": "init", "session_id": "abc"}
    other = {"type": "progress", "pct": 50}
    data = ndjson(claude_init, SLOW, other, FAST, b"plain text is not json but", {"type": "user"})
    # (the non-JSON line is malformed input and becomes an error event in its place)
    res = invoke(["analyze", "-j", "2", "--sandbox", "local"], data)
    lines = res.stdout_bytes.splitlines()
    assert len(lines) == 6
    assert orjson.loads(lines[0]) == claude_init and lines[0] == data.splitlines()[0]  # byte-identical
    out = [orjson.loads(l) for l in lines]
    assert [o.get("task_id") for o in out if o["type"] == "result"] == ["slow", "fast"]
    assert out[2] == other and out[5] == {"type": "user"}
    assert out[4]["type"] == "error" and out[4]["line"] == 5 and out[4]["raw"] == "plain text is not json but"
    assert res.exit_code == ExitStatus.BAD_INPUT


def test_unordered_emits_in_completion_order():
    res = invoke(["analyze", "-j", "2", "--unordered"], ndjson(SLOW, FAST))
    assert [o["task_id"] for o in parse_lines(res.stdout_bytes)] == ["fast", "slow"]
    assert res.exit_code == 0


def test_lines_in_equal_lines_out_with_many_bad_lines():
    good = [orjson.dumps({"type": "log", "i": i}) for i in range(500)]
    bad = [b"{broken %d" % i for i in range(50)]
    mixed = [x for pair in zip(good[:50], bad) for x in pair] + good[50:]
    res = invoke(["process"], b"\n".join(mixed) + b"\n")
    out = res.stdout_bytes.splitlines()
    assert len(out) == len(mixed)
    errors = [orjson.loads(l) for l in out if l.startswith(b'{"type":"error"')]
    assert [e["line"] for e in errors] == list(range(2, 101, 2))
    assert res.exit_code == ExitStatus.BAD_INPUT


def test_result_carries_per_test_outcomes_and_next_stage_continues_from_it(isolated_state):
    first = invoke(["analyze"], ndjson(FAILING))
    (result,) = parse_lines(first.stdout_bytes)
    assert result["status"] == "failed" and result["is_error"] is True
    assert result["tests"] == {"passed": 0, "failed": 1, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0,
                               "subtests_passed": 0, "total": 1}
    assert result["cases"][0]["nodeid"] == "test_mod.py::test_add" and result["cases"][0]["outcome"] == "failed"
    assert "assert -1 == 5" in result["cases"][0]["message"] or "assert" in result["cases"][0]["message"]
    second = invoke(["optimize", "-p", "conservative"], first.stdout_bytes)
    (result2,) = parse_lines(second.stdout_bytes)
    assert [h["stage"] for h in result2["task"]["history"]] == ["analyze", "optimize"]
    assert result2["profile"] == "conservative"
    stats = {(r["stage"], r["profile"]): r for r in ProfileStore(isolated_state).stats()}
    assert stats[("analyze", "balanced")]["executions"] == 1
    assert stats[("optimize", "conservative")]["ema_success"] == 0.0


def test_fail_on_sets_exit_status_and_no_learn_leaves_state_alone(isolated_state):
    res = invoke(["analyze", "--fail-on", "failed,error", "--no-learn"], ndjson(FAST, FAILING))
    assert res.exit_code == ExitStatus.TASKS_FAILED
    assert ProfileStore(isolated_state).stats() == []
    assert invoke(["analyze", "--fail-on", "failed"], ndjson(FAST)).exit_code == 0


def test_bad_profile_is_a_config_error_without_traceback(tmp_path, monkeypatch):
    (tmp_path / "weird.toml").write_text("[run]\nretries = -1\n")
    monkeypatch.setenv("CHAIN_PROFILE_PATH", str(tmp_path))
    from tests.conftest import run_chain

    proc = run_chain(["analyze", "--profile", "weird"], ndjson(FAST), env={"CHAIN_PROFILE_PATH": str(tmp_path)})
    assert proc.returncode == ExitStatus.CONFIG
    assert b"weird.toml: key 'run.retries'" in proc.stderr
    assert b"Traceback" not in proc.stderr and proc.stdout == b""


def test_timeout_status_is_reported_and_stream_continues():
    sleeper = make_task("sleeper", tests="import time\n\ndef test_sleep():\n    time.sleep(30)\n")
    res = invoke(["analyze", "--timeout", "1"], ndjson(sleeper, FAST))
    out = parse_lines(res.stdout_bytes)
    assert out[0]["status"] == "timeout" and "timed out after 1s" in out[0]["result"]
    assert out[1]["status"] == "passed"


def test_input_is_not_read_far_ahead_of_a_slow_task():
    """Memory stays flat on an endless stream: while the head task runs, the reader stops pulling input."""
    import threading
    import time

    from chain.api import make_context
    from chain.pipeline import StageProcessor
    from chain.registry import stage
    from chain.stream import Batch, classify_batch

    pulled = []

    def endless():
        yield classify_batch([orjson.dumps(SLOW.model_dump(mode="json"))], 1)
        n = 0
        while True:
            n += 1
            pulled.append(n)
            yield Batch([b'{"type":"log","n":%d}' % i for i in range(1000)])

    proc = StageProcessor(stage("analyze"), make_context("analyze"), concurrency=1)
    outputs = proc(endless())
    first = None
    timer = threading.Timer(5, lambda: proc.cancel("test"))
    timer.start()
    try:
        for out in outputs:
            if hasattr(out, "event") and out.event is not None:
                first = out.event
                break
    finally:
        timer.cancel()
        proc.cancel("done")
        for _ in outputs:
            pass
    assert first is not None and first.task_id == "slow"
    # While the 1.5 s test ran, only the window's worth of lines (a couple of batches) was read.
    assert len(pulled) <= proc.line_window // 1000 + 3
