"""One registry for stages, sandbox backends and commands, filled through plugin hooks.

A provider is a module (or object) with any of `register_stages(register)`, `register_sandboxes(register)` and
`register_commands(register)`. chain's own providers (its stages, its backends, its commands, and the bench
plugin that ships with it) are registered through exactly these hooks, from the fixed list below; third-party
ones are entry points in the `chain.plugins` group. CHAIN_PLUGINS, when set, is a comma-separated allow-list
of third-party entry point names ("" loads none).

Names are first come, first served, and chain's own come first: a third-party plugin that registers a stage,
command or backend under a name already taken is refused for that name (the reason is listed in
`registry.errors`, shown by `chain doctor` and on stderr by the CLI), unless it passes `replace=True` to say it
means to replace it; replacements are listed in `registry.replaced`. Stages and commands share one namespace,
since each stage is also a command.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, SandboxUnavailable, UnknownStage

if TYPE_CHECKING:
    from .sandbox.base import Sandbox

GROUP = "chain.plugins"
DIST = "chain-pipeline"
# chain's own providers, loaded first and always (not through their entry points, so a stale install's metadata
# cannot lose one). The engine's cannot fail; the bench plugin may (chain runs on without it).
BUILTIN_PROVIDERS = {
    "builtin_stages": "chain.stages",
    "builtin_sandboxes": "chain.sandbox.builtin",
    "builtin_commands": "chain.cli.commands",
}
BUNDLED_PLUGINS = {"bench": "chain.bench"}


@dataclass(frozen=True)
class StageSpec:
    name: str
    run: Callable[..., Any]  # (task, ctx) -> Result
    help: str = ""
    plugin: str = "builtin"


@dataclass(frozen=True)
class CommandSpec:
    name: str
    load: Callable[[], Any]  # -> click.Command (a function, so a heavy command is imported only when used)
    plugin: str = "builtin"


class Registry:
    def __init__(self) -> None:
        self.stages: dict[str, StageSpec] = {}
        self.sandboxes: dict[str, type[Sandbox]] = {}
        self.commands: dict[str, CommandSpec] = {}
        self.errors: list[str] = []  # plugins or names refused (reported by `chain doctor`)
        self.replaced: list[str] = []  # names a third-party plugin replaced on purpose (replace=True)
        self._owners: dict[tuple[str, str], tuple[str, bool]] = {}  # (namespace, name) -> (plugin, builtin)

    def _claim(self, kind: str, name: str, plugin: str, builtin: bool, replace: bool) -> bool:
        namespace = "backend" if kind == "sandbox backend" else "command"
        holder = self._owners.get((namespace, name))
        if holder is None:
            self._owners[(namespace, name)] = (plugin, builtin)
            return True
        if builtin:  # two of chain's own providers: a bug in chain, not a user's problem to work around
            raise RuntimeError(f"{plugin} registers {kind} {name!r}, which {holder[0]} already registered")
        if replace:
            self._owners[(namespace, name)] = (plugin, builtin)
            self.replaced.append(f"plugin {plugin!r} replaced {kind} {name!r} of {holder[0]!r}")
            return True
        self.errors.append(
            f"plugin {plugin!r}: {kind} {name!r} is already {holder[0]!r}'s; not replaced "
            f"(register it with replace=True to replace it on purpose, or choose another name)"
        )
        return False

    def _drop(self, name: str) -> None:
        # A replaced stage/command: the other table must not keep the old owner's entry under the same name.
        self.stages.pop(name, None)
        self.commands.pop(name, None)

    def add_provider(self, name: str, provider: Any, builtin: bool = False) -> None:
        def stage(stage: str, run: Callable[..., Any], help: str = "", replace: bool = False) -> None:
            if self._claim("stage", stage, name, builtin, replace):
                self._drop(stage)
                self.stages[stage] = StageSpec(stage, run, help, name)

        def sandbox(backend: str, cls: type[Sandbox], replace: bool = False) -> None:
            if self._claim("sandbox backend", backend, name, builtin, replace):
                self.sandboxes[backend] = cls

        def command(command: str, load: Any, replace: bool = False) -> None:
            """`load` is a click command, or a function returning one (called when the command is asked for)."""
            if self._claim("command", command, name, builtin, replace):
                self._drop(command)
                loader = load if not hasattr(load, "main") else (lambda: load)  # a click.Command has main()
                self.commands[command] = CommandSpec(command, loader, name)

        if hasattr(provider, "register_stages"):
            provider.register_stages(stage)
        if hasattr(provider, "register_sandboxes"):
            provider.register_sandboxes(sandbox)
        if hasattr(provider, "register_commands"):
            provider.register_commands(command)


def _allowed() -> set[str] | None:
    raw = os.environ.get("CHAIN_PLUGINS")
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def load() -> Registry:
    registry = Registry()
    for name, module in BUILTIN_PROVIDERS.items():
        registry.add_provider(name, importlib.import_module(module), builtin=True)
    for name, module in BUNDLED_PLUGINS.items():
        try:
            registry.add_provider(name, importlib.import_module(module), builtin=True)
        except ImportError as exc:  # e.g. an install without it: the engine does not need it
            registry.errors.append(f"plugin {name!r} failed to load: {exc}")
    allowed = _allowed()
    third_party = [ep for ep in entry_points(group=GROUP) if ep.dist is None or ep.dist.name != DIST]
    for ep in sorted(third_party, key=lambda e: e.name):
        if allowed is not None and ep.name not in allowed:
            continue
        try:
            registry.add_provider(ep.name, ep.load())
        except Exception as exc:  # a broken third-party plugin must not take chain down
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


def sandbox(name: str, **kwargs: Any) -> Sandbox:
    reg = get()
    if name not in reg.sandboxes:
        raise ConfigError(f"no sandbox backend named {name!r}; available: {', '.join(sorted(reg.sandboxes))}")
    cls = reg.sandboxes[name]
    ok, why = cls.available()
    if not ok:
        raise SandboxUnavailable(f"sandbox backend {name!r} is not available here: {why}")
    return cls(**kwargs)
