"""Builds benchmarks/real_bugs/: realistic buggy programs for `benchmarks/repair_rate.py --suite real_bugs`.

Each program is written here once, correct, with the bug as text replacements applied to it. For every program
this script writes a folder <name>/ holding the buggy module, its pytest file, a conftest.py, a helpers.py and
data/<module>.json (test cases whose expected values come from running the correct version), and records the
correct text in ground_truth.json — beside the folders, never inside them, so a task made of a folder carries
no hint of its fix. It then checks each folder: the correct version passes its tests, the buggy one does not
(within a time limit: some bugs loop forever).

    python benchmarks/real_bugs/_build.py [--check-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _programs import PROGRAMS  # noqa: E402  (the programs themselves: long, kept in their own module)

HELPERS = '''"""Test helpers shared by this project's tests: loading JSON cases and comparing results."""

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
'''

CONFTEST = '''"""pytest configuration for this project: markers only (no fixtures that touch the code under test)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "edge: boundary and degenerate inputs")
'''

FUNCTION_TESTS = '''
@pytest.mark.parametrize("case", load_cases("{module}", "{func}"), ids=lambda c: c["id"])
def test_{func}(case):
    assert call({func}, case["args"]) == case["expected"]
'''

CLASS_TESTS = '''
@pytest.mark.parametrize("case", load_cases("{module}", "{cls}"), ids=lambda c: c["id"])
def test_{snake}_scenario(case):
    assert replay({cls}(*case["init"]), case["ops"]) == case["expected"]
'''


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _expected(code: str, program: dict) -> dict:
    """Run the correct version on every case: the expected values the tests compare against."""
    namespace: dict = {"__name__": program["module"]}
    sys.path.insert(0, str(HERE))
    import helpers_ref  # the same helpers the tests use

    exec(compile(code, program["module"] + ".py", "exec"), namespace)
    data: dict = {}
    for func, cases in program.get("cases", {}).items():
        data[func] = [{"id": f"{func}-{i}", "args": list(args), "expected": helpers_ref.call(namespace[func], args)}
                      for i, args in enumerate(cases)]
    for cls, scenarios in program.get("scenarios", {}).items():
        data[cls] = []
        for i, (init, ops) in enumerate(scenarios):
            ops = [[name, list(args)] for name, args in ops]
            data[cls].append({"id": f"{_snake(cls)}-{i}", "init": list(init), "ops": ops,
                              "expected": helpers_ref.replay(namespace[cls](*init), ops)})
    return data


def _test_file(program: dict) -> str:
    module = program["module"]
    names = [*program.get("cases", {}), *program.get("scenarios", {})]
    head = [f'"""Tests for {module}: cases in data/{module}.json, expected values from the reference version."""',
            "", "import pytest", "", "from helpers import call, load_cases, replay  # noqa: F401",
            f"from {module} import {', '.join(names)}", ""]
    body = [FUNCTION_TESTS.format(module=module, func=f) for f in program.get("cases", {})]
    body += [CLASS_TESTS.format(module=module, cls=c, snake=_snake(c)) for c in program.get("scenarios", {})]
    extra = textwrap.dedent(program.get("extra_tests", "")).strip("\n")
    return "\n".join(head) + "".join(body) + (("\n\n" + extra + "\n") if extra else "")


def _buggy(program: dict) -> str:
    code = program["code"]  # the bug's text is written at the indentation of the code as it stands in _programs
    for old, new in program["bug"]:
        if code.count(old) != 1:
            raise SystemExit(f"{program['name']}: {old!r} occurs {code.count(old)} times in the correct code")
        code = code.replace(old, new)
    return textwrap.dedent(code).lstrip("\n")


def _run_pytest(folder: Path, timeout: float) -> str:
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder,
                              capture_output=True, timeout=timeout, text=True)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "passed" if proc.returncode == 0 else "failed"


def build(check_only: bool) -> int:
    (HERE / "helpers_ref.py").write_text(HELPERS)
    truth: dict = {}
    problems = 0
    try:
        for program in PROGRAMS:
            name, module = program["name"], program["module"]
            correct = textwrap.dedent(program["code"]).lstrip("\n")
            buggy = _buggy(program)
            folder = HERE / name
            if not check_only:
                shutil.rmtree(folder, ignore_errors=True)
                (folder / "data").mkdir(parents=True)
                (folder / f"{module}.py").write_text(buggy)
                (folder / f"test_{module}.py").write_text(_test_file(program))
                (folder / "conftest.py").write_text(CONFTEST)
                (folder / "helpers.py").write_text(HELPERS)
                (folder / "data" / f"{module}.json").write_text(json.dumps(_expected(correct, program), indent=1))
            changed = [i + 1 for i, (a, b) in enumerate(zip(buggy.splitlines(), correct.splitlines())) if a != b]
            truth[name] = {"file": f"{module}.py", "lines": changed or [len(buggy.splitlines())],
                           "kind": program["kind"], "loops": program.get("loops", False), "fixed": correct}
            with tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(folder, tmp, dirs_exist_ok=True)
                bug_verdict = _run_pytest(Path(tmp), 8)
                (Path(tmp) / f"{module}.py").write_text(correct)
                good_verdict = _run_pytest(Path(tmp), 60)
            ok = good_verdict == "passed" and bug_verdict != "passed" and (bug_verdict == "timeout") == bool(
                program.get("loops"))
            problems += not ok
            print(f"{'ok ' if ok else 'BAD'} {name:<22} correct: {good_verdict:<7} buggy: {bug_verdict:<7} "
                  f"{program['kind']}", file=sys.stderr)
    finally:
        (HERE / "helpers_ref.py").unlink(missing_ok=True)
    if not check_only:
        (HERE / "ground_truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")
    print(f"{len(PROGRAMS)} programs, {problems} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-only", action="store_true")
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(build(ap.parse_args().check_only))
