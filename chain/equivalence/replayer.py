"""chain equivalence: calls this workspace's functions with recorded arguments and compares what they do with
what the original did on them.

Shipped into the workspace as _chain_equiv_replay.py (chain, not the task, wrote it); argument: the calls file
(JSON: {"calls": [recorder records], "paths": [...], "call_cpu_s": s}), which it deletes once read. One line
per call goes to stdout as soon as it is known (a call that kills the process leaves the ones before it):
    CHAIN-EQUIV-REPLAY {"i": i, "same": bool, "why": str, "call": ..., "expected": ..., "actual": ...}
A call compares equal when it raises the same exception type, or returns a value equal to the recorded one
(floats within 1e-9 relative, objects without their own __eq__ by their attributes), and leaves its arguments
as the original left them. Each call is limited in CPU time (ITIMER_PROF): a candidate that loops on a recorded
input is different, not a hung run. Standard library only.
"""

import base64
import importlib
import inspect
import json
import math
import os
import pickle
import signal
import sys

MARK = "CHAIN-EQUIV-REPLAY "
REPR_CHARS = 200
MAX_DEPTH = 60


class ReplayTimeLimit(BaseException):
    """Not an Exception: code that catches Exception must not swallow it."""


def _expire(signum, frame):
    raise ReplayTimeLimit()


def _resolve(key):
    module, qualname = key.split(":", 1)
    owner = importlib.import_module(module)
    parts = qualname.split(".")
    for part in parts[:-1]:
        owner = getattr(owner, part)
    found = inspect.getattr_static(owner, parts[-1])
    if isinstance(found, (staticmethod, classmethod)):
        return found.__func__  # the recorder wrapped the plain function: its arguments include cls
    if isinstance(found, property):
        return found.fget
    return found


def _repr(value):
    try:
        text = repr(value)
    except BaseException as exc:
        text = f"<{type(value).__name__}: repr raised {type(exc).__name__}>"
    return text if len(text) <= REPR_CHARS else text[: REPR_CHARS - 3] + "..."


def _attributes(value):
    state = dict(getattr(value, "__dict__", None) or {})
    for cls in type(value).__mro__:
        slots = getattr(cls, "__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(value, slot):
                state[slot] = getattr(value, slot)
    return state


def same(a, b, depth=0):
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if depth > MAX_DEPTH:
        return a == b
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], depth + 1) for k in a)
    if isinstance(a, (str, bytes, int, complex, set, frozenset, type(None), range)):
        return a == b
    if type(a).__eq__ is not object.__eq__:  # the class says what equal means
        try:
            equal = a == b
            return equal if isinstance(equal, bool) else bool(equal.all())  # arrays compare elementwise
        except Exception:
            pass
    state_a, state_b = _attributes(a), _attributes(b)
    if not state_a and not state_b:
        return a == b
    return same(state_a, state_b, depth + 1)


def _load(text):
    return pickle.loads(base64.b64decode(text))


def replay(call, limit_s):
    args, kwargs = _load(call["args"])
    shown = ", ".join([*map(_repr, args), *(f"{k}={_repr(v)}" for k, v in kwargs.items())])
    out = {"call": f"{call['fn'].split(':', 1)[1]}({shown})"[: 2 * REPR_CHARS]}
    expected = ("raise " + call["raised"]) if call["raised"] else _repr(_load(call["returned"]))
    raised = None
    signal.setitimer(signal.ITIMER_PROF, limit_s)
    try:
        value = _resolve(call["fn"])(*args, **kwargs)
    except ReplayTimeLimit:
        return {**out, "same": False, "why": f"over the CPU-time limit of {limit_s:g}s", "expected": expected}
    except Exception as exc:
        raised = type(exc).__module__ + "." + type(exc).__qualname__
        value = None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    actual = ("raise " + raised) if raised else _repr(value)
    out.update(expected=expected, actual=actual)
    if call["raised"] or raised:
        if raised != call["raised"]:
            return {
                **out,
                "same": False,
                "why": "raises differently"
                if raised and call["raised"]
                else ("raises where the original returned" if raised else "returns where the original raised"),
            }
    elif not same(_load(call["returned"]), value):
        return {**out, "same": False, "why": "returns a different value"}
    if not same(_load(call["after"] or call["args"]), (args, kwargs)):
        return {**out, "same": False, "why": "leaves its arguments changed differently"}
    return {**out, "same": True, "why": ""}


def main(path):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    os.unlink(path)
    here = os.getcwd()
    for entry in reversed(data.get("paths") or ["."]):
        full = os.path.normpath(os.path.join(here, entry))
        if full not in sys.path:
            sys.path.insert(0, full)
    sys.dont_write_bytecode = True
    out = os.dup(1)  # the calls' own printing goes nowhere: stdout carries the verdicts only
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    signal.signal(signal.SIGPROF, _expire)
    limit = float(data.get("call_cpu_s") or 2.0)
    for i, call in enumerate(data["calls"]):
        try:
            verdict = replay(call, limit)
        except ReplayTimeLimit:
            verdict = {"same": False, "why": f"over the CPU-time limit of {limit:g}s"}
        except BaseException as exc:  # the function is not there, its arguments do not load, ...
            verdict = {"same": False, "why": f"could not be replayed: {type(exc).__name__}: {_repr(exc)}"}
        line = (MARK + json.dumps({"i": i, **verdict}) + "\n").encode()
        while line:
            line = line[os.write(out, line) :]


if __name__ == "__main__":
    main(sys.argv[1])
