"""`chain report junit`: JUnit XML as GitLab, Jenkins, Azure DevOps and GitHub's test reporters read it.

Shaped like pytest's own `--junitxml` (xunit2, pytest's default family) so a CI that already shows pytest's
report shows chain's the same way: one `<testcase>` per pytest test, its classname and name derived from the
node id the way pytest derives them, `time` in seconds, `<failure>`/`<error>` with pytest's short message in
`message=` and the long text as body, `<skipped>` typed `pytest.skip` / `pytest.xfail`. One `<testsuite>` per
chain result (task x stage), named after the task, with the stage, profile, status and sandbox as
`<properties>` (xunit2 allows properties on suites, not on testcases). What has no pytest test to hang on —
a task whose tests never ran (syntax error, timeout), a malformed input line — becomes an `<error>` testcase
of classname `chain`, so it shows up as red instead of vanishing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..protocol import Result, TestCase
from .reading import StreamReport, crash_message

# XML 1.0 cannot carry most control characters even escaped; pytest replaces them the same way (bin_xml_escape).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


SKIP_PLACE = re.compile(r"^[^\n]*?:\d+: ")  # `test_a.py:3: ` before a skip's reason


def _xml_text(text: str) -> str:
    return _ILLEGAL_XML.sub(lambda m: f"#x{ord(m.group()):02X}", text)


def test_address(nodeid: str) -> tuple[str, str]:
    """(classname, name) of a pytest node id, as pytest's junitxml `mangle_test_address` makes them:
    `pkg/test_a.py::TestX::test_y[1]` -> (`pkg.test_a.TestX`, `test_y[1]`)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.3f}"


def _counts(cases: list[ET.Element]) -> dict[str, str]:
    kinds = [child.tag for case in cases for child in case if child.tag in ("failure", "error", "skipped")]
    time = sum(float(case.get("time", "0")) for case in cases)
    return {
        "tests": str(len(cases)),
        "failures": str(kinds.count("failure")),
        "errors": str(kinds.count("error")),
        "skipped": str(kinds.count("skipped")),
        "time": f"{time:.3f}",
    }


def _case(case: TestCase) -> ET.Element:
    classname, name = test_address(case.nodeid)
    element = ET.Element("testcase", classname=classname, name=name, time=_seconds(case.duration_ms))
    text = _xml_text(case.message or "")
    if case.outcome == "failed":
        ET.SubElement(element, "failure", message=_xml_text(crash_message(case.message))).text = text
    elif case.outcome == "error":
        # chain's cases do not say which phase erred; a setup error (a broken fixture) is what pytest
        # reports as a test's error far more often than teardown, so the message reads as pytest's does then.
        message = f'failed on setup with "{_xml_text(crash_message(case.message))}"'
        ET.SubElement(element, "error", message=message).text = text
    elif case.outcome == "skipped":  # chain's message is pytest's `file:line: reason`; message= is the reason
        reason = SKIP_PLACE.sub("", case.message or "", count=1)
        ET.SubElement(element, "skipped", type="pytest.skip", message=_xml_text(reason)).text = text
    elif case.outcome == "xfailed":
        ET.SubElement(element, "skipped", type="pytest.xfail", message=text)
    return element  # passed and (non-strict) xpassed: no child, as in pytest's report


def _suite(result: Result) -> ET.Element:
    cases = [_case(case) for case in result.cases]
    if not result.cases and result.status != "passed":
        # The tests never reported (collection/syntax error, timeout, sandbox failure): one error says why.
        element = ET.Element(
            "testcase", classname="chain", name=f"{result.task_id} [{result.stage}]", time=_seconds(result.duration_ms)
        )
        ET.SubElement(element, "error", message=_xml_text(f"{result.status}: {result.result}")).text = _xml_text(
            result.result
        )
        cases.append(element)
    suite = ET.Element("testsuite", {"name": result.task_id, **_counts(cases)})
    properties = ET.SubElement(suite, "properties")
    for key in ("stage", "profile", "status", "sandbox"):
        ET.SubElement(properties, "property", name=f"chain.{key}", value=str(getattr(result, key)))
    ET.SubElement(properties, "property", name="chain.score", value=f"{result.score:g}")
    suite.extend(cases)
    return suite


def _errors_suite(report: StreamReport) -> ET.Element:
    cases = []
    for n, error in enumerate(report.errors, 1):
        where = f"line {error.line}" if error.line else (error.task_id or f"#{n}")
        case = ET.Element("testcase", classname="chain", name=f"{error.stage or 'input'} error: {where}", time="0.000")
        ET.SubElement(case, "error", message=_xml_text(error.message)).text = _xml_text(error.raw or error.message)
        cases.append(case)
    suite = ET.Element("testsuite", {"name": "chain", **_counts(cases)})
    suite.extend(cases)
    return suite


def render(report: StreamReport) -> bytes:
    suites = [_suite(result) for result in report.results]
    if report.errors:
        suites.append(_errors_suite(report))
    root = ET.Element("testsuites", name="chain")
    totals = {k: 0.0 for k in ("tests", "failures", "errors", "skipped", "time")}
    for suite in suites:
        for key in totals:
            totals[key] += float(suite.get(key, "0"))
    root.attrib.update({k: (f"{v:.3f}" if k == "time" else str(int(v))) for k, v in totals.items()})
    root.extend(suites)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
