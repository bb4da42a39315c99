"""Semantics-preserving rewrites, each proposed only where its preconditions hold:

* memoize a pure recursive function (`functools.lru_cache`);
* membership tests against a constant list/tuple literal become set literals;
* a loop-invariant `len(x)` in a `while` condition is computed once before the loop;
* `s += piece` string building in a loop becomes a list and one `"".join`.

Every candidate still has to pass all tests and prove a speedup before optimize accepts it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

IMPURE_CALLS = {
    "print",
    "open",
    "input",
    "setattr",
    "delattr",
    "exec",
    "eval",
    "write",
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "update",
    "add",
    "clear",
    "sort",
    "random",
    "time",
    "sleep",
}


@dataclass(frozen=True)
class Rewrite:
    file: str
    name: str  # e.g. "memoize fib"
    text: str  # the whole new file


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _import_line(tree: ast.Module) -> int:
    """0-based line index after the module docstring and __future__ imports, where an import can go."""
    at = 0
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            at = node.end_lineno or at
        elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
            at = node.end_lineno or at
        else:
            break
    return at


def _is_pure_recursive(func: ast.FunctionDef) -> bool:
    calls_self = False
    args = func.args
    if args.vararg or args.kwarg or any(isinstance(d, (ast.List, ast.Dict, ast.Set)) for d in args.defaults):
        return False
    if any(isinstance(d, ast.Name) for d in func.decorator_list):
        return False  # already decorated (maybe cached): leave it
    for node in ast.walk(func):
        if isinstance(node, (ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom, ast.Await)):
            return False
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(getattr(node, "ctx", None), ast.Store):
            return False  # writes to an object: not pure
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name == func.name:
                calls_self = True
            elif name in IMPURE_CALLS:
                return False
    return calls_self


def memoize(path: str, text: str, tree: ast.Module) -> list[Rewrite]:
    out = []
    for func in tree.body:
        if isinstance(func, ast.FunctionDef) and _is_pure_recursive(func):
            lines = _lines(text)
            indent = lines[func.lineno - 1][: len(lines[func.lineno - 1]) - len(lines[func.lineno - 1].lstrip())]
            lines.insert(func.lineno - 1, f"{indent}@functools.lru_cache(maxsize=None)\n")
            if not any(isinstance(n, ast.Import) and any(a.name == "functools" for a in n.names) for n in tree.body):
                lines.insert(_import_line(tree), "import functools\n")
            out.append(Rewrite(path, f"memoize {func.name}", "".join(lines)))
    return out


def set_membership(path: str, text: str, tree: ast.Module) -> list[Rewrite]:
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators):
                if (
                    isinstance(op, (ast.In, ast.NotIn))
                    and isinstance(right, (ast.List, ast.Tuple))
                    and right.elts
                    and all(isinstance(e, ast.Constant) and e.value.__hash__ is not None for e in right.elts)
                ):
                    spans.append(right)
    if not spans:
        return []
    lines = _lines(text)
    for node in sorted(spans, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        if node.lineno != node.end_lineno:
            continue
        line = lines[node.lineno - 1].encode()
        new = "{" + ", ".join(ast.unparse(e) for e in node.elts) + "}"
        lines[node.lineno - 1] = (line[: node.col_offset] + new.encode() + line[node.end_col_offset :]).decode()
    new_text = "".join(lines)
    return [Rewrite(path, "list -> set membership", new_text)] if new_text != text else []


def hoist_len(path: str, text: str, tree: ast.Module) -> list[Rewrite]:
    out = []
    for loop in ast.walk(tree):
        if not isinstance(loop, ast.While):
            continue
        calls = [
            n
            for n in ast.walk(loop.test)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)
            and n.func.id == "len"
            and len(n.args) == 1
            and isinstance(n.args[0], ast.Name)
        ]
        for call in calls:
            var = call.args[0].id  # type: ignore[attr-defined]  # the calls were chosen for a Name argument
            mutated = any(
                (isinstance(n, ast.Name) and n.id == var and isinstance(n.ctx, ast.Store))
                or (
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and isinstance(n.func.value, ast.Name)
                    and n.func.value.id == var
                )
                or (
                    isinstance(n, ast.Subscript)
                    and isinstance(n.value, ast.Name)
                    and n.value.id == var
                    and isinstance(n.ctx, (ast.Store, ast.Del))
                )
                for n in ast.walk(loop)
            )
            if mutated or call.lineno != loop.lineno:
                continue
            lines = _lines(text)
            header = lines[loop.lineno - 1]
            indent = header[: len(header) - len(header.lstrip())]
            hoisted = f"_len_{var}"
            lines[loop.lineno - 1] = header.replace(f"len({var})", hoisted, 1)
            lines.insert(loop.lineno - 1, f"{indent}{hoisted} = len({var})\n")
            out.append(Rewrite(path, f"hoist len({var}) out of the loop", "".join(lines)))
            break
    return out


def join_strings(path: str, text: str, tree: ast.Module) -> list[Rewrite]:
    """`s = ""` ... `for ...: s += x` (s only appended to in the loop) -> list + join after the loop."""
    out = []
    for func in ast.walk(tree):
        body = getattr(func, "body", None)
        if not isinstance(body, list):
            continue
        for i, stmt in enumerate(body):
            if not (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Constant)
                and stmt.value.value == ""
            ):
                continue
            name = stmt.targets[0].id
            loop = body[i + 1] if i + 1 < len(body) else None
            if not isinstance(loop, (ast.For, ast.While)) or loop.orelse:
                continue
            augs = [
                n
                for n in ast.walk(loop)
                if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and n.target.id == name
            ]
            other_uses = [
                n
                for n in ast.walk(loop)
                if isinstance(n, ast.Name) and n.id == name and not any(n is a.target for a in augs)
            ]
            if not augs or other_uses or not all(isinstance(a.op, ast.Add) and a.lineno == a.end_lineno for a in augs):
                continue
            lines = _lines(text)
            parts = f"_{name}_parts"
            for a in sorted(augs, key=lambda n: n.lineno, reverse=True):
                line = lines[a.lineno - 1]
                indent = line[: len(line) - len(line.lstrip())]
                lines[a.lineno - 1] = f"{indent}{parts}.append({ast.unparse(a.value)})\n"
            after = loop.end_lineno or loop.lineno
            indent = lines[stmt.lineno - 1][: len(lines[stmt.lineno - 1]) - len(lines[stmt.lineno - 1].lstrip())]
            lines.insert(after, f'{indent}{name} = "".join({parts})\n')
            lines[stmt.lineno - 1] = f"{indent}{parts} = []\n"
            out.append(Rewrite(path, f"build {name} with join", "".join(lines)))
    return out


REWRITES = (memoize, set_membership, hoist_len, join_strings)


def candidates(files: dict[str, str]) -> list[Rewrite]:
    out = []
    for path, text in sorted(files.items()):
        name = path.rsplit("/", 1)[-1]
        if not path.endswith(".py") or name.startswith("test_") or name == "conftest.py":
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for rewrite in REWRITES:
            for cand in rewrite(path, text, tree):
                try:
                    ast.parse(cand.text)
                except SyntaxError:
                    continue
                out.append(cand)
    return out
