"""The bench is a plugin beside the engine: nothing in chain/ imports it, and chain works without it."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT, make_task, ndjson, parse_lines


def _imports(path) -> list[str]:
    """Absolute names of the modules a file under chain/ imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def test_no_engine_module_imports_the_bench():
    engine = sorted((ROOT / "chain").rglob("*.py"))
    assert len(engine) > 40
    offenders = {str(p.relative_to(ROOT)): [n for n in _imports(p) if n.split(".")[:2] == ["chain", "bench"]]
                 for p in engine}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert not (ROOT / "chain" / "bench").exists()  # it lives in bench/, installed as chain.bench


def test_chain_runs_with_the_bench_unimportable():
    code = ("import sys; sys.modules['chain.bench'] = None\n"  # any import of it now raises ImportError
            "from chain.cli import main\n"
            "main(sys.argv[1:])\n")

    def chain(*args, stdin=b""):
        return subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, timeout=120,
                              cwd=ROOT)

    done = chain("analyze", "--sandbox", "local", "--no-learn", stdin=ndjson(make_task("t")))
    assert done.returncode == 0, done.stderr
    (result,) = parse_lines(done.stdout)
    assert result["status"] == "passed"
    assert b"plugin 'bench' failed to load" in done.stderr  # said, not hidden
    listed = chain("--help")
    assert listed.returncode == 0 and b"analyze" in listed.stdout and b"generate" not in listed.stdout
