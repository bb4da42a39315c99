"""Wire format: the pydantic models are the single source of truth for every chain event.

Each chain event is one JSON object on one line with a `type` and the format version under the key `chain`.
The `chain` key is also what tells a chain `result` apart from a Claude Code `result` line (which has none).
`chain schema` prints the JSON Schema generated from `ChainEvent`; the README quotes that output.
"""

from __future__ import annotations

import base64
import posixpath
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, field_validator, model_serializer, model_validator

from .findings import Findings
from .wire import DEFAULT_TEST_COMMAND, FORMAT_VERSION, SUBTYPE_BY_STATUS, Status, TestOutcomeName, utc_now
from .wire import WireModel as _Model

# The format's constants live in chain.wire and the findings' models in chain.findings; these names are the
# ones readers of events import from here.
__all__ = [
    "CHAIN_EVENT",
    "DEFAULT_TEST_COMMAND",
    "FORMAT_VERSION",
    "ChainEvent",
    "ErrorEvent",
    "FileBlob",
    "HistoryEntry",
    "Notice",
    "OmittedFile",
    "Result",
    "Status",
    "Task",
    "TaskBase",
    "TestCase",
    "TestCounts",
    "json_schema",
    "make_result",
    "score_of",
    "utc_now",
]


class TestCase(_Model):
    """One test's outcome as pytest reported it (from chain's report plugin, not its terminal text)."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    outcome: TestOutcomeName
    duration_ms: float = Field(ge=0)
    message: str | None = Field(None, description="Failure text (truncated) when the test did not pass.")


class TestCounts(_Model):
    __test__ = False

    # pytest's own tally (its summary line): a test with a teardown error counts once passed and once an error,
    # a failed or skipped subtest counts on its own, collection errors are errors; timeouts count as failed.
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    subtests_passed: int = Field(0, description="pytest's 'subtests passed' (shown by pytest with -q or -v).")
    total: int = 0


class HistoryEntry(_Model):
    """What one stage did to a task; appended by every stage so a task carries its own story."""

    stage: str
    profile: str
    status: Status
    score: float = Field(ge=0, le=1)
    tests: TestCounts = Field(default_factory=TestCounts)
    duration_ms: float = Field(ge=0)
    sandbox: str
    at: str = Field(default_factory=utc_now)
    summary: str = ""
    data: Findings = Field(default_factory=Findings, description="What the stage found (diff, failing tests, ...).")


def _check_relative(path: str) -> None:
    norm = posixpath.normpath(path)
    if not path or path.startswith("/") or norm == ".." or norm.startswith("../") or "\\" in path:
        raise ValueError(f"file path must be relative and stay inside the workspace: {path!r}")


class FileBlob(_Model):
    """A file that is not UTF-8 text (an image, archive, pickle, Latin-1 source...), carried byte for byte.

    It reaches the sandbox's workspace unchanged; no stage edits, diffs or shows it to an agent."""

    encoding: Literal["base64"] = Field("base64", description="How `content` encodes the bytes.")
    content: str = Field(description="The file's bytes, base64-encoded (RFC 4648, with padding).")
    size: int = Field(ge=0, description="Size in bytes.")

    @classmethod
    def of(cls, data: bytes) -> FileBlob:
        return cls(content=base64.b64encode(data).decode("ascii"), size=len(data))

    def data(self) -> bytes:
        return base64.b64decode(self.content, validate=True)


class OmittedFile(_Model):
    """A file or directory of the source that the task does not carry, and why (nothing is dropped silently)."""

    path: str = Field(description="Relative path; a directory ends with '/'.")
    size: int | None = Field(None, description="Size in bytes (files only).")
    kind: Literal["too_large", "excluded"] = Field(
        description="'too_large': over the size cap (data the task lacks); 'excluded': a directory or file that "
        "is not the project's (version control, caches, virtualenvs, build output)."
    )
    reason: str = Field(description="Why it was left out, e.g. 'larger than --max-file-bytes (33554432)'.")


class TaskBase(_Model):
    """The workspace by reference: a directory on the machine that made the task, read (never written) by every
    stage and sandbox there. The task's `files` then carry only what differs from it. `chain task` makes one
    for big trees (>= 5,000 files or >= 50 MB; `--by-reference`); a stream without `base` is self-contained."""

    path: str = Field(description="Absolute path of the directory (the files `chain task` carries, by its rules).")
    digest: str = Field(
        description="Digest of every carried file's path, size and mtime when the task was made; "
        "a stage refuses a base that no longer matches."
    )
    files: int = Field(ge=0, description="How many files the base holds.")
    bytes: int = Field(ge=0, description="Their total size.")


# Optional task fields left off the wire while empty, so a plain text task's line stays what it always was.
_OMIT_WHEN_EMPTY = ("blobs", "omitted", "base")


class Task(_Model):
    """A unit of work: source files plus the command that tests them."""

    type: Literal["task"] = "task"
    chain: int = Field(FORMAT_VERSION, description="Format version; marks the line as a chain event.")
    id: str = Field(min_length=1, description="Stable id; results name their task by it.")
    kind: Literal["python"] = "python"
    files: dict[str, str] = Field(
        description="Relative path -> content of each UTF-8 text file (the files stages "
        "read, edit and diff); with `base`, only those that differ from it."
    )
    blobs: dict[str, FileBlob] = Field(
        default_factory=dict,
        description="Relative path -> every other file (binary or not UTF-8), base64-encoded; "
        "written to the workspace byte for byte, never edited. Absent when empty.",
    )
    base: TaskBase | None = Field(
        None,
        description="The workspace by reference (big trees): `files` and `blobs` hold only what differs "
        "from this directory. Absent for a self-contained task.",
    )
    omitted: list[OmittedFile] = Field(
        default_factory=list,
        description="What of the source the task does not carry, with size and reason; "
        "every result's task repeats it. Absent when empty.",
    )
    test: str = Field(DEFAULT_TEST_COMMAND, description="Shell command run in the workspace; pytest by default.")
    bench: str | None = Field(None, description="Optional benchmark command (optimize times it).")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free-form; `patch` (a unified diff) is applied by process."
    )
    history: list[HistoryEntry] = Field(default_factory=list, description="One entry per stage run, oldest first.")

    @field_validator("files", "blobs")
    @classmethod
    def _relative_paths(cls, files: dict) -> dict:
        for path in files:
            _check_relative(path)
        return files

    @model_validator(mode="after")
    def _one_kind_per_path(self) -> Task:
        both = self.files.keys() & self.blobs.keys()
        if both:
            raise ValueError(f"path is both a text file and a blob: {sorted(both)[0]!r}")
        return self

    @model_serializer(mode="wrap")
    def _drop_empty(self, handler):
        data = handler(self)
        for key in _OMIT_WHEN_EMPTY:
            if key in data and not data[key]:
                del data[key]
        return data

    def blob_bytes(self) -> dict[str, bytes]:
        """The blobs decoded: what the sandbox writes next to the text files."""
        return {path: blob.data() for path, blob in self.blobs.items()}

    def last(self, stage: str) -> HistoryEntry | None:
        """The most recent history entry written by `stage`, if any."""
        for entry in reversed(self.history):
            if entry.stage == stage:
                return entry
        return None


class Result(_Model):
    """One stage's verdict on one task, computed from a real sandbox run.

    `subtype`, `is_error`, `duration_ms` and `result` mean what they mean in a Claude Code `result` event.
    """

    type: Literal["result"] = "result"
    chain: int = Field(FORMAT_VERSION, description="Format version; tells a chain result from a Claude one.")
    subtype: str = Field(
        description="'success' when passed, else 'error_tests_failed', 'error_during_execution', 'error_timeout' "
        "or 'error_cancelled'."
    )
    is_error: bool = Field(description="True unless status is 'passed'.")
    duration_ms: float = Field(ge=0, description="Wall-clock time of the stage's sandbox runs.")
    result: str = Field(description="One-line human summary, e.g. '3 passed, 1 failed'.")
    task_id: str
    stage: str
    profile: str = Field(description="The concrete strategy profile used.")
    status: Status
    score: float = Field(ge=0, le=1, description="Fraction of tests passed (0..1).")
    tests: TestCounts
    cases: list[TestCase] = Field(default_factory=list, description="Per-test outcomes of the final run.")
    sandbox: str = Field(description="Sandbox backend that ran the tests.")
    isolation: dict[str, Any] = Field(default_factory=dict, description="What isolation the sandbox applied.")
    task: Task = Field(description="The updated task; the next stage continues from it.")
    choice: dict[str, Any] | None = Field(
        None, description="With --profile auto: the profile chosen and the learned stats it was chosen from."
    )
    race: dict[str, Any] | None = Field(None, description="With --race: every profile's outcome and which one won.")


class ErrorEvent(_Model):
    """Bad input (with `line` and `raw`) or an internal failure on one task (with `task_id`)."""

    type: Literal["error"] = "error"
    chain: int = FORMAT_VERSION
    message: str = Field(description="What went wrong, for a human.")
    line: int | None = Field(None, description="1-based input line number.")
    raw: str | None = Field(None, description="The offending input line (truncated when huge).")
    task_id: str | None = Field(None, description="The task a stage failed on (internal failure).")
    stage: str | None = Field(None, description="The stage that reported the error.")


class Notice(_Model):
    """Something worth knowing that is not a result: a retry, a circuit breaker opening or closing."""

    type: Literal["notice"] = "notice"
    chain: int = FORMAT_VERSION
    kind: str = Field(description="'retry', 'circuit_open', 'circuit_half_open', 'circuit_closed', ...")
    message: str
    task_id: str | None = None
    stage: str | None = None
    attempt: int | None = Field(None, description="1-based attempt that failed (retries).")
    delay_s: float | None = Field(None, description="Backoff before the next attempt.")
    at: str = Field(default_factory=utc_now)


ChainEvent = Annotated[Task | Result | ErrorEvent | Notice, Field(discriminator="type")]
CHAIN_EVENT = TypeAdapter(ChainEvent)


def json_schema() -> dict[str, Any]:
    schema = CHAIN_EVENT.json_schema()
    schema["title"] = f"chain event (format version {FORMAT_VERSION})"
    return schema


def make_result(
    *,
    task: Task,
    stage: str,
    profile: str,
    status: str,
    tests: TestCounts,
    duration_ms: float,
    sandbox: str,
    summary: str,
    cases: list[TestCase] | None = None,
    isolation: dict[str, Any] | None = None,
    data: dict[str, Any] | Findings | None = None,
    score: float | None = None,
) -> Result:
    """Build a result and append the matching history entry to (a copy of) the task."""
    if score is None:
        score = score_of(status, tests)
    too_large = sum(o.kind == "too_large" for o in task.omitted)
    if too_large:  # the verdict is on an incomplete workspace: say so where a human reads it
        summary += f"; {too_large} file(s) over the size cap not carried (see task.omitted)"
    entry = HistoryEntry(
        stage=stage,
        profile=profile,
        status=status,
        score=score,
        tests=tests,
        duration_ms=duration_ms,
        sandbox=sandbox,
        summary=summary,
        data=data or {},
    )
    updated = task.model_copy(update={"history": [*task.history, entry]})
    return Result(
        subtype=SUBTYPE_BY_STATUS[status],
        is_error=status != "passed",
        duration_ms=duration_ms,
        result=summary,
        task_id=task.id,
        stage=stage,
        profile=profile,
        status=status,
        score=score,
        tests=tests,
        cases=cases or [],
        sandbox=sandbox,
        isolation=isolation or {},
        task=updated,
    )


def score_of(status: str, tests: TestCounts) -> float:
    if status in ("timeout", "cancelled"):
        return 0.0
    counted = tests.total - tests.skipped  # skipped tests neither help nor hurt
    if counted > 0:  # an expected failure, or a non-strict xfail that passed, is a good outcome as pytest sees it
        return round(min(counted, tests.passed + tests.xfailed + tests.xpassed + tests.subtests_passed) / counted, 6)
    return 1.0 if status == "passed" else 0.0
