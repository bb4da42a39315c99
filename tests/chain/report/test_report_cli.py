"""`chain report` as a stream consumer: --tee leaves the stream byte-for-byte unchanged, exit codes."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.xdist_group("report-pipeline")
CHAIN = [sys.executable, "-m", "chain"]


@pytest.mark.parametrize("fmt", ["junit", "sarif", "github", "markdown"])
def test_tee_passes_every_line_through_untouched(pipeline, tmp_path, fmt):
    stream = pipeline.analyze + b'{"type": "system", "note": "not chain\'s"}\r\n\n' + pipeline.final.rstrip(b"\n")
    out = tmp_path / "report"
    proc = subprocess.run([*CHAIN, "report", fmt, "--tee", "-o", str(out)], input=stream, capture_output=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == stream
    assert out.stat().st_size > 0


def test_report_to_stdout_and_malformed_lines_exit_3(pipeline):
    proc = subprocess.run([*CHAIN, "report", "markdown"], input=pipeline.analyze + b"{oops\n", capture_output=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 3
    assert b"line 4 is not valid JSON" in proc.stdout and b"1 input line(s)" in proc.stderr


def test_tee_without_an_output_file_is_a_usage_error():
    proc = subprocess.run([*CHAIN, "report", "junit", "--tee"], input=b"", capture_output=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and b"-o" in proc.stderr
