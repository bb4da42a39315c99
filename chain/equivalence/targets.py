"""Which functions a candidate changed, and the original's source with a recording decorator on each of them.

A function counts as changed when its definition (decorators included) differs between the original and the
candidate, or when module-level code of its file (a constant, an import, a class attribute) differs: that can
change what an untouched function returns. Test files (test_*.py, *_test.py, conftest.py) are the tests' own
code, not the code under test. Generators and coroutines are not replayed: calling one returns an object, and
what it yields depends on how the caller drives it; they are named as not compared.
"""

from __future__ import annotations

import ast
import posixpath
from dataclasses import dataclass

RECORD_MODULE = "_chain_equiv_record"
# PEP 614 (Python 3.9) allows any expression as a decorator: no import line to place, and line numbers of the
# code below a function shift by one line per instrumented function only.
DECORATOR = f'@__import__("{RECORD_MODULE}").record'


@dataclass(frozen=True)
class Function:
    file: str
    qualname: str  # e.g. "Stack.push"; the key the recorder and the replayer share with the module's name
    line: int  # 1-based line of its `def`


def is_test_file(path: str) -> bool:
    name = posixpath.basename(path)
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def _yields(node: ast.AST) -> bool:
    """Whether a function's own body (not a nested function's) yields."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(child))
    return False


def _walk(body: list[ast.stmt], prefix: str, defs: dict[str, ast.AST], rest: list[str]) -> None:
    """Functions by qualified name (module level and in classes, not nested in functions), and the dump of
    every other statement, in order."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs[prefix + node.name] = node
        elif isinstance(node, ast.ClassDef):
            rest.append(f"class {prefix}{node.name}")
            rest.extend(ast.dump(d) for d in [*node.bases, *node.keywords, *node.decorator_list])
            _walk(node.body, f"{prefix}{node.name}.", defs, rest)
        else:
            rest.append(ast.dump(node))


def _parse(source: str) -> tuple[dict[str, ast.AST], list[str]] | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    defs: dict[str, ast.AST] = {}
    rest: list[str] = []
    _walk(tree.body, "", defs, rest)
    return defs, rest


def changed_functions(original: dict[str, str], candidate: dict[str, str]) -> tuple[list[Function], list[str]]:
    """(the changed functions to record and replay, the changed ones that cannot be: 'file:name (why)')."""
    targets: list[Function] = []
    skipped: list[str] = []
    for path in sorted(original):
        if not path.endswith(".py") or is_test_file(path) or candidate.get(path) == original[path]:
            continue
        before = _parse(original[path])
        if before is None:
            continue
        after = _parse(candidate.get(path, ""))
        after_defs, after_rest = after if after is not None else ({}, [])
        whole_module = after is None or after_rest != before[1]
        for name, node in before[0].items():
            other = after_defs.get(name)
            if not whole_module and other is not None and ast.dump(other) == ast.dump(node):
                continue
            if isinstance(node, ast.AsyncFunctionDef):
                skipped.append(f"{path}:{name} (a coroutine)")
            elif _yields(node):
                skipped.append(f"{path}:{name} (a generator)")
            else:
                targets.append(Function(path, name, node.lineno))  # type: ignore[attr-defined]
    return targets, skipped


def instrument(source: str, functions: list[Function]) -> str:
    """The source with the recorder's decorator right above each function's `def` (under its other
    decorators, so it sees the plain function's arguments and return value)."""
    lines = source.splitlines(keepends=True)
    for fn in sorted(functions, key=lambda f: -f.line):
        at = fn.line - 1
        indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
        lines.insert(at, f"{indent}{DECORATOR}\n")
    return "".join(lines)
