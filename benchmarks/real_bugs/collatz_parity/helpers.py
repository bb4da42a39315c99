"""Test helpers shared by this project's tests: loading JSON cases and comparing results."""

import json
import math
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def load_cases(module, group):
    with open(DATA / f"{module}.json", encoding="utf-8") as fh:
        return json.load(fh)[group]


def normalize(value):
    """JSON-comparable form: tuples become lists, floats are rounded, sets sorted."""
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(normalize(v) for v in value)
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    return value


def call(fn, args):
    """fn(*args) normalized, or {"raises": ExceptionName}."""
    try:
        return normalize(fn(*args))
    except Exception as exc:  # the expected value says which exception the reference raised
        return {"raises": type(exc).__name__}


def replay(obj, ops):
    """Call each [method, args] on obj in turn; the list of normalized results (or raised exception names)."""
    return [call(getattr(obj, name), args) for name, args in ops]
