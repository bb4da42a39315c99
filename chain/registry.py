"""One registry for stages and sandbox backends, filled through plugin hooks.

Every provider, built-in or third-party, is an entry point in the `chain.plugins` group naming a module or
object with `register_stages(register)` and/or `register_sandboxes(register)`. chain's own stages and
backends are registered exactly the same way. CHAIN_PLUGINS, when set, is a comma-separated allow-list of
third-party entry point names ("" loads none); built-ins always load.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from .errors import ConfigError, SandboxUnavailable, UnknownStage

GROUP = "chain.plugins"
DIST = "chain-pipeline"
# Used only when chain runs from a source tree that was never installed (no entry point metadata).
BUILTIN_PROVIDERS = {"builtin_stages": "chain.stages", "builtin_sandboxes": "chain.sandbox.builtin"}


@dataclass(frozen=True)
class StageSpec:
    name: str
    run: Callable[..., Any]  # (task, ctx) -> Result
    help: str = ""
    plugin: str = "builtin"


class Registry:
    def __init__(self) -> None:
        self.stages: dict[str, StageSpec] = {}
        self.sandboxes: dict[str, type] = {}
        self.errors: list[str] = []  # plugins that failed to load (reported by `chain doctor`)

    def add_provider(self, name: str, provider: Any) -> None:
        if hasattr(provider, "register_stages"):
            provider.register_stages(
                lambda stage, run, help="": self.stages.__setitem__(stage, StageSpec(stage, run, help, name))
            )
        if hasattr(provider, "register_sandboxes"):
            provider.register_sandboxes(lambda backend, cls: self.sandboxes.__setitem__(backend, cls))


def _allowed() -> set[str] | None:
    raw = os.environ.get("CHAIN_PLUGINS")
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def load() -> Registry:
    registry = Registry()
    allowed = _allowed()
    eps = list(entry_points(group=GROUP))
    builtin_eps = {ep.name for ep in eps if ep.dist is not None and ep.dist.name == DIST}
    if not builtin_eps:
        for name, module in BUILTIN_PROVIDERS.items():
            registry.add_provider(name, importlib.import_module(module))
    for ep in sorted(eps, key=lambda e: (e.name not in builtin_eps, e.name)):
        if ep.name not in builtin_eps and allowed is not None and ep.name not in allowed:
            continue
        try:
            registry.add_provider(ep.name, ep.load())
        except Exception as exc:  # a broken third-party plugin must not take chain down
            if ep.name in builtin_eps:
                raise
            registry.errors.append(f"plugin {ep.name!r} failed to load: {exc}")
    return registry


_REGISTRY: Registry | None = None


def get() -> Registry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load()
    return _REGISTRY


def stage(name: str) -> StageSpec:
    reg = get()
    if name not in reg.stages:
        raise UnknownStage(f"no stage named {name!r}; available: {', '.join(sorted(reg.stages))}")
    return reg.stages[name]


def sandbox(name: str, **kwargs: Any):
    reg = get()
    if name not in reg.sandboxes:
        raise ConfigError(f"no sandbox backend named {name!r}; available: {', '.join(sorted(reg.sandboxes))}")
    cls = reg.sandboxes[name]
    ok, why = cls.available()
    if not ok:
        raise SandboxUnavailable(f"sandbox backend {name!r} is not available here: {why}")
    return cls(**kwargs)
