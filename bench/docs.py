"""The generated section of docs/bench.md: the reference of results.json, from the pydantic models it is
written and read with (`make readme` refreshes it, through `chain.docs.render`)."""

from __future__ import annotations

from chain.docs import model_tables

from .results import BenchResults


def bench_reference() -> str:
    schema = BenchResults.model_json_schema()
    schema.setdefault("$defs", {})["BenchResults"] = {k: v for k, v in schema.items() if k != "$defs"}
    names = ["BenchResults", "Suite", "Config", "Metrics", "Samples", "TaskOutcome", "EmaPoint", "Action"]
    return model_tables(
        schema,
        names,
        "Generated from `chain.bench.results` (the pydantic models `results.json` is written and read with).",
    )


DOC_SECTIONS = {"docs/bench.md": {"bench-results": bench_reference}}
