import orjson
import pytest
from pydantic import ValidationError

from chain.protocol import (
    CHAIN_EVENT, FORMAT_VERSION, ErrorEvent, HistoryEntry, Result, Task, TestCase, TestCounts, json_schema,
    make_result,
)
from tests.conftest import make_task


def test_task_round_trips_through_json_unchanged():
    task = make_task(bench="python bench.py", metadata={"owner": "ci", "nested": {"k": [1, 2]}})
    wire = orjson.dumps(task.model_dump(mode="json"))
    back = CHAIN_EVENT.validate_json(wire)
    assert isinstance(back, Task)
    assert back == task
    assert orjson.loads(wire)["chain"] == FORMAT_VERSION


def test_result_round_trip_keeps_the_updated_task_and_history():
    task = make_task()
    result = make_result(task=task, stage="analyze", profile="balanced", status="failed",
                         tests=TestCounts(passed=3, failed=1, total=4), duration_ms=12.5, sandbox="local",
                         summary="3 passed, 1 failed",
                         cases=[TestCase(nodeid="test_mod.py::test_add", outcome="failed", duration_ms=1.0)])
    back = CHAIN_EVENT.validate_json(orjson.dumps(result.model_dump(mode="json")))
    assert isinstance(back, Result)
    assert back == result
    assert back.score == 0.75
    assert back.is_error is True and back.subtype == "error_tests_failed"
    assert [h.stage for h in back.task.history] == ["analyze"]
    assert task.history == []  # the input task is not mutated


def test_unknown_fields_survive_a_round_trip():
    wire = {"type": "task", "chain": 1, "id": "x", "files": {"a.py": ""}, "from_the_future": {"a": 1}}
    task = Task.model_validate(wire)
    assert task.model_dump(mode="json")["from_the_future"] == {"a": 1}


@pytest.mark.parametrize("path", ["/etc/passwd", "../up.py", "a/../../b.py", "..", "a\\b.py", ""])
def test_task_file_paths_must_stay_inside_the_workspace(path):
    with pytest.raises(ValidationError):
        Task(id="x", files={path: "x"})


def test_schema_is_generated_from_the_models_and_covers_every_event():
    schema = json_schema()
    assert schema["discriminator"]["propertyName"] == "type"
    names = set(schema["$defs"])
    assert {"Task", "Result", "ErrorEvent", "HistoryEntry", "TestCase", "TestCounts"} <= names
    result_props = schema["$defs"]["Result"]["properties"]
    # Claude Code's names for what they mean in its `result` event.
    assert {"subtype", "is_error", "duration_ms", "result"} <= set(result_props)
    assert set(result_props["status"]["enum"]) == {"passed", "failed", "error", "timeout", "cancelled"}


def test_error_event_carries_line_and_raw():
    err = ErrorEvent(message="bad", line=3, raw="{oops")
    assert orjson.loads(orjson.dumps(err.model_dump(mode="json"))) == {
        "type": "error", "chain": 1, "message": "bad", "line": 3, "raw": "{oops", "task_id": None, "stage": None}


def test_findings_the_stages_exchange_are_typed_and_the_rest_passes_through():
    old = {"failing": ["t.py::test_a"], "suspicious": [{"file": "m.py", "line": 3, "score": 0.9, "failed": 1,
                                                         "passed": 0, "code": "x = 1"}],
           "metrics": {"files": {}}, "newer_stage_key": [1, 2]}
    entry = HistoryEntry(stage="analyze", profile="p", status="failed", score=0.0, duration_ms=1.0, sandbox="local",
                         data=old)
    assert entry.data.failing == ["t.py::test_a"] and entry.data.suspicious[0].line == 3
    assert entry.data.diff is None and "diff" not in entry.data  # never said, so not written
    assert entry.data.get("newer_stage_key") == [1, 2] and entry.data["metrics"] == {"files": {}}
    # An event written before the findings were typed reads back, and is written back, key for key.
    assert entry.model_dump(mode="json")["data"] == old
    schema = json_schema()["$defs"]
    assert {"diff", "failing", "suspicious"} <= set(schema["Findings"]["properties"])
    assert schema["HistoryEntry"]["properties"]["data"]["$ref"].endswith("/Findings")
