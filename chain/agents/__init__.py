"""External agents: hand the thinking to a command (`claude -p`, `llm`, any script) or an OpenAI-compatible
chat-completions server (vLLM, Ollama, llama.cpp). Whatever they answer is verified in the sandbox exactly
like a built-in candidate.

    --agent builtin                      (default) no external agent
    --agent cmd:'claude -p'              prompt on stdin, reply on stdout
    --agent openai:http://host:8000/v1 --model NAME   POST {base}/chat/completions; key from OPENAI_API_KEY
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass

import orjson

from ..errors import ConfigError
from ..resilience import CircuitBreaker

SYSTEM = (
    "You fix and speed up Python code. Reply with complete files in fenced ```python blocks whose first "
    "line is `# file: <path>`, or with a unified diff. Do not change the tests."
)


class AgentError(Exception):
    """The agent could not be asked (transport, exit status, malformed reply envelope)."""


@dataclass
class CommandAgent:
    command: str
    timeout_s: float = 600.0

    @property
    def name(self) -> str:
        return f"cmd:{self.command}"

    def ask(self, prompt: str) -> str:
        try:
            proc = subprocess.run(
                shlex.split(self.command), input=prompt.encode(), capture_output=True, timeout=self.timeout_s
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AgentError(f"{self.command}: {exc}") from None
        if proc.returncode != 0:
            raise AgentError(f"{self.command} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-300:]}")
        return proc.stdout.decode(errors="replace")


@dataclass
class OpenAIAgent:
    base_url: str
    model: str
    timeout_s: float = 600.0

    @property
    def name(self) -> str:
        return f"openai:{self.base_url}#{self.model}"

    def ask(self, prompt: str) -> str:
        url = self.base_url.rstrip("/") + "/chat/completions"
        body = orjson.dumps(
            {
                "model": self.model,
                "temperature": 0,
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
            }
        )
        headers = {"Content-Type": "application/json"}
        if os.environ.get("OPENAI_API_KEY"):
            headers["Authorization"] = f"Bearer {os.environ['OPENAI_API_KEY']}"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AgentError(f"{url}: HTTP {exc.code} {exc.read()[:300].decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as exc:
            raise AgentError(f"{url}: {exc}") from None
        try:
            return payload["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise AgentError(f"{url}: reply has no choices[0].message.content") from None


_BREAKERS: dict[str, CircuitBreaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(name: str) -> CircuitBreaker:
    """One circuit breaker per agent endpoint and process: after repeated failures every task stops waiting
    on a dead endpoint at once, instead of each retrying it."""
    with _BREAKERS_LOCK:
        return _BREAKERS.setdefault(name, CircuitBreaker(f"agent {name}", threshold=5, cooldown_s=60.0))


def make_agent(spec: str | None, model: str | None = None):
    """None for the built-in strategies; else the agent `spec` names."""
    if not spec or spec == "builtin":
        return None
    kind, _, rest = spec.partition(":")
    if kind == "cmd" and rest.strip():
        return CommandAgent(rest.strip())
    if kind == "openai" and rest.strip():
        if not model:
            raise ConfigError("--agent openai:URL needs --model NAME")
        return OpenAIAgent(rest.strip(), model)
    raise ConfigError(f"--agent {spec!r}: use builtin, cmd:'COMMAND' or openai:BASE_URL (with --model)")
