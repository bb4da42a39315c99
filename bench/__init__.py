"""The bench plugin: benchmarks of real pipelines on generated suites (`chain generate`, `chain bench`,
`chain compare`). It ships with chain but lives beside the engine: it registers its commands through the
`register_commands` hook like any plugin, uses the engine only through its public modules (the store through
`ProfileStore`), and nothing in `chain/` imports it.

generate.py writes a deterministic task suite plus its hidden ground truth; runner.py runs stages over it
and measures; results.py is the report's data model (results.json); report.py writes CSVs and the HTML
page; compare.py tells two results.json apart with bootstrap confidence intervals; docs.py generates the
results reference in docs/bench.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chain.cli.commands import lazy

# Loaded when asked for: the generators, charts and the runner are heavy to import.
COMMANDS = {
    "bench": ("bench_cmd", "bench"),
    "compare": ("compare_cmd", "compare_command"),
    "generate": ("generate_cmd", "generate"),
}


def register_commands(register: Callable[..., Any]) -> None:
    for name, (module, attr) in COMMANDS.items():
        register(name, lazy(f"{__name__}.{module}", attr))
