"""The base of every wire model and the format's constants, shared by chain.protocol (events) and chain.findings
(what stages hand each other in a history entry)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

FORMAT_VERSION = 1

Status = Literal["passed", "failed", "error", "timeout", "cancelled"]
# `timeout`: the test ran over its per-test limit (see docs/sandbox.md "Per-test limits"); the run went on.
TestOutcomeName = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed", "timeout"]

# Claude Code's `result.subtype` is "success" or "error_*"; chain uses the same convention.
SUBTYPE_BY_STATUS: dict[str, str] = {
    "passed": "success",
    "failed": "error_tests_failed",
    "error": "error_during_execution",
    "timeout": "error_timeout",
    "cancelled": "error_cancelled",
}

DEFAULT_TEST_COMMAND = "python -m pytest -q"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WireModel(BaseModel):
    # Unknown fields are kept so a newer producer's events survive an older stage unchanged.
    model_config = ConfigDict(extra="allow")
