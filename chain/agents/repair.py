"""process with --agent: ask, verify in the sandbox, feed back the failures, up to profile.search.agent_rounds."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..context import Evaluation, StageContext
from ..protocol import Task
from ..resilience import Backoff, CircuitOpen, call_with_retries
from . import AgentError, breaker_for, make_agent
from .prompts import repair_prompt
from .replies import candidate_files


@dataclass
class AgentRepair:
    files: dict[str, str] | None
    evaluation: Evaluation | None
    rounds: list[dict] = field(default_factory=list)


def ask_with_retries(agent, prompt: str, ctx: StageContext) -> str | None:
    """Transport failures are retried with backoff (notices on stdout); None when the agent stays silent."""

    def once():
        try:
            return agent.ask(prompt), None
        except AgentError as exc:
            return None, str(exc)

    try:
        reply, error = call_with_retries(
            once,
            lambda r: r[1],
            retries=ctx.profile.run.retries,
            backoff=Backoff(base_s=1.0),
            breaker=breaker_for(agent.name),
            notify=ctx.notify,
            cancelled=ctx.cancel.is_set,
        )
    except CircuitOpen as exc:
        reply, error = None, str(exc)
    if error:
        ctx.notify("agent_error", f"{agent.name}: {error}")
    return reply


def agent_repair(
    task: Task, files: dict[str, str], ev: Evaluation, suspicious: list[dict], ctx: StageContext
) -> AgentRepair:
    agent = make_agent(ctx.options.agent, ctx.options.model)
    out = AgentRepair(None, None)
    feedback = None
    for round_no in range(1, ctx.profile.search.agent_rounds + 1):
        if ctx.cancel.is_set():
            break
        reply = ask_with_retries(agent, repair_prompt(task, files, ev, suspicious, feedback), ctx)
        if reply is None:
            out.rounds.append({"round": round_no, "outcome": "no reply"})
            break
        candidate = candidate_files(reply, files)
        if candidate is None:
            feedback = "the reply held no code block naming a source file and no applicable diff"
            out.rounds.append({"round": round_no, "outcome": "unusable reply"})
            continue
        check = ctx.run_tests(candidate, task.test, label=f"{task.id} agent")
        out.rounds.append({"round": round_no, "outcome": check.status, "summary": check.summary})
        if check.status == "passed":
            out.files, out.evaluation = candidate, check
            break
        failing = "; ".join(
            f"{c.nodeid}: {(c.message or '').strip().splitlines()[-1:] or ''}" for c in check.failing[:5]
        )
        feedback = f"{check.summary}. {failing}"
    return out
