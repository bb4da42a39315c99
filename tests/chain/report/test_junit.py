"""chain's JUnit XML against pytest's own --junitxml of the same tests, both read with junitparser."""

import os

import pytest
from junitparser import JUnitXml, Skipped

from chain.report import junit

pytestmark = pytest.mark.xdist_group("report-pipeline")


def cases(xml: JUnitXml) -> dict[tuple[str, str], dict]:
    out = {}
    for suite in xml:
        for case in suite:
            (outcome,) = case.result or [None]
            out[(case.classname, case.name)] = {
                "outcome": type(outcome).__name__ if outcome is not None else "passed",
                "type": outcome.type if outcome is not None else None,
                "message": outcome.message if outcome is not None else None,
                "text": outcome.text if isinstance(outcome, Skipped) else None,
                "time": case.time,
            }
    return out


def test_junit_has_pytests_testcases_classnames_outcomes_and_messages(pipeline, tmp_path):
    ours = tmp_path / "chain.xml"
    ours.write_bytes(junit.render(pipeline.report(pipeline.mixed)))
    chain_cases = cases(JUnitXml.fromfile(str(ours)))
    pytest_cases = cases(JUnitXml.fromfile(str(pipeline.pytest_junit)))
    assert set(chain_cases) == set(pytest_cases)
    assert ("sub.test_deep", "test_deep") in chain_cases and ("test_mix.TestGroup", "test_method") in chain_cases
    for key, theirs in pytest_cases.items():
        mine = chain_cases[key]
        assert mine["outcome"] == theirs["outcome"], key
        # failures and errors: pytest's short crash message; skips and xfails: their reason
        assert mine["message"] == theirs["message"], key
        if theirs["outcome"] == "Skipped":
            assert mine["type"] == theirs["type"], key
            if theirs["type"] == "pytest.skip":  # `file:line: reason`, the file relative to the project
                path, line, reason = theirs["text"].rsplit(":", 2)
                assert mine["text"] == f"{os.path.relpath(path, pipeline.dir / 'mixed')}:{line}:{reason}", key


def test_each_suite_is_a_result_with_stage_and_profile_and_per_test_times(pipeline, tmp_path):
    report = pipeline.report(pipeline.mixed)
    path = tmp_path / "chain.xml"
    path.write_bytes(junit.render(report))
    (suite,) = JUnitXml.fromfile(str(path))
    (result,) = report.results
    props = {p.name: p.value for p in suite.properties()}
    assert props["chain.stage"] == "analyze" and props["chain.profile"] == "balanced"
    assert props["chain.status"] == "failed"
    assert (suite.name, suite.tests, suite.failures, suite.errors, suite.skipped) == ("mixed", 10, 4, 1, 2)
    times = {case.nodeid: round(case.duration_ms / 1000, 3) for case in result.cases}
    assert {c.classname + "." + c.name: c.time for c in suite} == {
        junit.test_address(nodeid)[0] + "." + junit.test_address(nodeid)[1]: t for nodeid, t in times.items()}


def test_a_task_whose_tests_never_ran_and_a_malformed_line_show_as_errors(pipeline, tmp_path):
    # A timeout has no test cases: it must still be red in the CI's test view, not an empty suite.
    timed_out = pipeline.report(pipeline.mixed).results[0].model_copy(
        update={"status": "timeout", "cases": [], "result": "timed out after 1.0s"})
    report = pipeline.report(pipeline.mixed)
    report.results = [timed_out]
    report.errors = pipeline.report(b"{not json\n").errors
    path = tmp_path / "chain.xml"
    path.write_bytes(junit.render(report))
    found = cases(JUnitXml.fromfile(str(path)))
    assert found[("chain", "mixed [analyze]")]["outcome"] == "Error"
    assert "timeout" in found[("chain", "mixed [analyze]")]["message"]
    (bad,) = [v for (cls, name), v in found.items() if "line 1" in name]
    assert bad["outcome"] == "Error" and "not valid JSON" in bad["message"]


def test_pipeline_results_of_every_stage_are_suites(pipeline, tmp_path):
    path = tmp_path / "chain.xml"
    path.write_bytes(junit.render(pipeline.report(pipeline.analyze + pipeline.final)))
    suites = list(JUnitXml.fromfile(str(path)))
    stages = sorted({p.value for s in suites for p in s.properties() if p.name == "chain.stage"})
    assert stages == ["analyze", "optimize"]
    failing = [s for s in suites if s.failures]
    assert [s.name for s in failing] == ["stats_bug"]  # analyze saw the bug; after process it passes
