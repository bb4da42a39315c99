"""optimize with --agent: the agent's faster version becomes one more candidate rewrite (timed and verified
by the stage like the built-in ones)."""

from __future__ import annotations

from ..context import StageContext
from ..optimize.rewrites import Rewrite
from ..protocol import Task
from . import make_agent
from .prompts import optimize_prompt
from .repair import ask_with_retries
from .replies import candidate_files


def agent_rewrites(task: Task, ctx: StageContext, timing: dict) -> list[Rewrite]:
    agent = make_agent(ctx.options.agent, ctx.options.model)
    reply = ask_with_retries(agent, optimize_prompt(task, task.files, timing), ctx)
    files = candidate_files(reply, task.files) if reply else None
    if not files:
        return []
    return [
        Rewrite(path, f"agent {agent.name}", text)
        for path, text in sorted(files.items())
        if task.files.get(path) != text
    ]
