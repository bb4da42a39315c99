import io

import orjson

from chain.stream import Batch, Item, StreamWriter, classify_batch, read_batches
from tests.conftest import make_task, ndjson


def flatten(batches):
    return [x for b in batches for x in b]


def test_plain_lines_stay_raw_bytes_and_tasks_become_items():
    task = make_task()
    data = ndjson({"type": "log", "n": 1}, task, {"type": "assistant", "message": {}}, [1, 2], "text")
    out = flatten(read_batches(io.BytesIO(data)))
    assert out[0] == b'{"type":"log","n":1}'
    assert out[1].kind == "task" and out[1].task == task and out[1].lineno == 2
    assert out[2].kind == "pass" and out[2].source["type"] == "assistant"  # kept for Claude harvesting
    assert out[3] == b"[1,2]" and out[4] == b'"text"'


def test_malformed_lines_become_error_items_with_line_number_and_raw():
    data = b'{"type":"log"}\n{not json\n\n{"type":"task","id":"x"}\n'
    out = flatten(read_batches(io.BytesIO(data)))
    assert len(out) == 4
    bad = out[1]
    assert bad.kind == "error" and bad.event.line == 2 and bad.event.raw == "{not json"
    assert out[2].kind == "pass"  # a blank line is passed through, not an error
    invalid_task = out[3]
    assert invalid_task.kind == "error" and invalid_task.event.line == 4
    assert "files" in invalid_task.event.message


def test_claude_result_is_not_mistaken_for_a_chain_result():
    claude = {"type": "result", "subtype": "success", "is_error": False, "result": "done", "session_id": "s"}
    (item,) = classify_batch([orjson.dumps(claude)], 1)
    assert item.kind == "pass"


def test_line_numbers_continue_across_chunks_and_last_line_without_newline():
    lines = [orjson.dumps({"i": i}) for i in range(20000)]
    data = b"\n".join(lines)  # no final newline
    batches = list(read_batches(io.BytesIO(data)))
    assert len(batches) > 1
    assert flatten(batches) == lines
    bad = flatten(read_batches(io.BytesIO(data + b"\n{x\n")))[-1]
    assert isinstance(bad, Item) and bad.event.line == 20001


def test_oversized_line_is_an_error_with_a_preview(monkeypatch):
    monkeypatch.setattr("chain.stream.MAX_LINE_BYTES", 1000)
    big = b'{"type":"log","x":"' + b"a" * 5000 + b'"}'
    (item,) = classify_batch([big], 7)
    assert item.kind == "error" and item.event.line == 7 and "over the 1000-byte limit" in item.event.message
    assert len(item.event.raw) < 5000


def test_invalid_utf8_is_reported_not_crashed():
    (item,) = classify_batch([b'{"type":"log","x":"\xff"}'], 1)
    assert item.kind == "error" and "\\xff" in item.event.raw


def test_writer_writes_raw_lines_unchanged():
    buf = io.BytesIO()
    w = StreamWriter(buf)
    w.write_lines(Batch([b'{"a": 1}', b'{"b":2}']))
    w.write_raw(b"x")
    w.flush()
    assert buf.getvalue() == b'{"a": 1}\n{"b":2}\nx\n'
