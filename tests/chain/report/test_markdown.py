"""The Markdown summary: every task in one table, what was found and changed, within a comment's size."""

import pytest

from chain.report import markdown

pytestmark = pytest.mark.xdist_group("report-pipeline")


def test_summary_of_a_pipeline(pipeline):
    text = markdown.render(pipeline.report(pipeline.final)).decode()
    assert text.startswith("### chain: 3 task(s), 3 passing, 0 failing, 1 repaired, 1 faster\n")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == ["slow_fib", "stats_bug", "wordfreq"]
    stats_row = next(row for row in rows if "stats_bug" in row)
    assert "most suspicious `examples/projects/stats_bug/stats.py:18`" in stats_row
    report = pipeline.report(pipeline.final)
    process = next(r for r in report.results if r.task_id == "stats_bug").task.history[1]
    (edit,) = process.data.get("repair")["edits"][:1]  # whichever verified edit the search found first
    assert f"repaired `examples/projects/stats_bug/{edit['file']}:{edit['line']}` ({edit['operator']})" in stats_row
    assert "x faster" in next(row for row in rows if "slow_fib" in row)
    assert "```diff\n--- a/stats.py" in text and "<details>" in text


def test_failing_tests_are_listed_with_pytests_message(pipeline):
    text = markdown.render(pipeline.report(pipeline.mixed)).decode()
    assert "1 failing" in text
    assert "- `mixed`: `test_mix.py::test_exception` — ZeroDivisionError: division by zero" in text
    assert "`test_mix.py::test_param[2]` — AssertionError: x, said: 50% of 2" in text


def test_a_long_report_stops_at_the_limit_and_says_so(pipeline):
    report = pipeline.report(pipeline.final)
    full = markdown.render_text(report)
    short = markdown.render_text(report, limit=len(full) // 2)
    assert len(short) < len(full) // 2 + 200
    assert "left out to fit a comment; the NDJSON has all" in short
    assert short.splitlines()[0] == full.splitlines()[0]


def test_a_table_longer_than_the_limit_keeps_the_rows_that_fit(pipeline):
    short = markdown.render_text(pipeline.report(pipeline.final), limit=300)
    assert len(short) < 300 + 120 and "more row(s) left out" in short
    assert short.startswith("### chain: 3 task(s)")


def test_table_cells_cannot_break_the_table():
    assert markdown.cell("a|b\nc") == "a\\|b c"
