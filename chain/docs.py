"""Generated doc sections of README.md: the event reference (quoted from `chain schema`) and the exit-code table
(from `ExitStatus`); `render` fills any `<!-- name:begin/end -->` section (the bench plugin's docs/bench.md uses
it too). `make readme` refreshes them; a test fails when they drift."""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson

from .errors import EXIT_STATUS_HELP, ExitStatus
from .protocol import json_schema


def _type_of(prop: dict | bool) -> str:
    if not isinstance(prop, dict):
        return "any"
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " | ".join(_type_of(p) for p in prop["anyOf"])
    if "const" in prop:
        return orjson.dumps(prop["const"]).decode()
    if "enum" in prop:
        return " / ".join(orjson.dumps(v).decode() for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list[{_type_of(prop.get('items', {}))}]"
    if kind == "object" and "additionalProperties" in prop:
        return f"map[str, {_type_of(prop['additionalProperties'])}]"
    return kind


def event_reference() -> str:
    schema = json_schema()
    head = f"Generated from `chain schema` ({schema['title']}). Unknown fields are preserved."
    names = [
        "Task",
        "FileBlob",
        "OmittedFile",
        "TaskBase",
        "Result",
        "ErrorEvent",
        "Notice",
        "HistoryEntry",
        "Findings",
        "SuspiciousLine",
        "Equivalence",
        "EquivalenceDifference",
        "TestCase",
        "TestCounts",
    ]
    return model_tables(schema, names, head)


def model_tables(schema: dict, names: list[str], head: str) -> str:
    out = [head, ""]
    for name in names:
        model = schema["$defs"][name]
        out.append(f"#### `{name}`")
        if model.get("description"):
            out.append(" ".join(model["description"].split()))
        out.append("")
        out.append("| field | type | required | description |")
        out.append("|---|---|---|---|")
        required = set(model.get("required", []))
        for field, prop in model["properties"].items():
            desc = " ".join(prop.get("description", "").split()).replace("|", "\\|")
            kind = _type_of(prop).replace("|", "&#124;")
            out.append(f"| `{field}` | {kind} | {'yes' if field in required else ''} | {desc} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def exit_codes() -> str:
    rows = ["| code | name | meaning |", "|---|---|---|"]
    rows += [f"| {s.value} | `{s.name}` | {EXIT_STATUS_HELP[s]} |" for s in ExitStatus]
    return "\n".join(rows) + "\n"


SECTIONS = {"events": event_reference, "exit-codes": exit_codes}


def render(readme: str, sections: dict[str, Callable[[], str]] | None = None) -> str:
    for name, make in (SECTIONS if sections is None else sections).items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"no <!-- {name}:begin/end --> markers")
        body = make()
        readme = pattern.sub(lambda m: m.group(1) + body + m.group(2), readme)  # noqa: B023  (used at once)
    return readme
