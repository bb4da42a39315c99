"""What a stage found, as it hands it on in its history entry (`HistoryEntry.data`): the keys one stage or the
engine reads from another's are typed here (analyze's failing tests and suspicious lines, a change's diff, the
equivalence check of a change); a stage's own keys are kept as they are."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_serializer

from .wire import WireModel as _Model


class SuspiciousLine(_Model):
    """One line of analyze's fault localization (Ochiai over per-test coverage), most suspicious first."""

    file: str
    line: int
    score: float = Field(description="Ochiai suspiciousness, 0..1.")
    failed: int = Field(0, description="Failing tests that ran the line.")
    passed: int = Field(0, description="Passing tests that ran the line.")
    code: str = Field("", description="The line's source text.")


class EquivalenceDifference(_Model):
    """One recorded call on which the candidate does not do what the original did."""

    function: str = Field(description="'file:qualified name' of the changed function.")
    call: str = Field(description="The call, its arguments shown with repr (truncated).")
    expected: str = Field(description="What the original returned (repr) or 'raise <exception type>'.")
    actual: str = Field("", description="What the candidate returned or raised.")
    why: str = Field(description="e.g. 'returns a different value', 'leaves its arguments changed differently'.")


class Equivalence(_Model):
    """Behavioural equivalence of a candidate with the original, beyond the tests: the calls of the functions
    it changed, recorded (arguments, return value or exception, arguments afterwards) while the original's tests
    ran in the sandbox, replayed against the candidate in the sandbox."""

    checked: bool = Field(description="False when nothing could be recorded or replayed; `reason` says why.")
    equivalent: bool | None = Field(
        None, description="True: every compared call agrees; False: at least one differs; None: nothing compared."
    )
    scope: Literal["all recorded inputs", "inputs where the original was right"] = Field(
        description="optimize: every recorded call; process (repair): calls made only by tests the original passed."
    )
    functions: list[str] = Field(default_factory=list, description="The changed functions, 'file:qualified name'.")
    not_compared: list[str] = Field(
        default_factory=list, description="Changed functions that cannot be replayed (generators, coroutines), why."
    )
    calls_recorded: int = Field(0, ge=0, description="Distinct calls recorded (by their arguments).")
    calls_compared: int = Field(0, ge=0, description="Calls replayed against the candidate.")
    calls_out_of_scope: int = Field(0, ge=0, description="Recorded calls outside the scope (a failing test's).")
    calls_unstable: int = Field(
        0, ge=0, description="Calls the original itself does not repeat when replayed (state, randomness): left out."
    )
    calls_unpicklable: int = Field(0, ge=0, description="Calls whose arguments or value cannot be recorded.")
    differences: list[EquivalenceDifference] = Field(default_factory=list, description="The first differences.")
    reason: str | None = Field(None, description="Why not checked, or what limited the check.")


class Findings(_Model):
    """What a stage found, in its history entry. The keys one stage (or the engine) reads from another's are
    typed fields here; any other key is that stage's own and kept as it is (read it with `get`)."""

    diff: str | None = Field(None, description="Unified diff of this stage's change to the task's files ('' if none).")
    failing: list[str] | None = Field(None, description="Node ids of the tests that failed or errored (analyze).")
    suspicious: list[SuspiciousLine] | None = Field(
        None, description="analyze's ranking of suspicious lines, most suspicious first; process starts from it."
    )
    equivalence: Equivalence | None = Field(
        None, description="process, optimize: the behavioural equivalence check of the change the stage made."
    )

    @model_serializer(mode="wrap")
    def _said_only(self, handler: Any) -> dict[str, Any]:
        # A typed key a stage did not set is not written: entries stay as small as the stage made them.
        out = handler(self)
        return {k: v for k, v in out.items() if k in self.model_fields_set or k not in Findings.model_fields}

    def get(self, key: str, default: Any = None) -> Any:
        """A finding by name, typed or stage-specific (e.g. process's `repair`, optimize's `speedup`)."""
        value = getattr(self, key, None) if key in Findings.model_fields else (self.model_extra or {}).get(key)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        if key in self:
            return self.get(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self.model_fields_set or key in (self.model_extra or {})
