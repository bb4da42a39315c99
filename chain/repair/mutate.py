"""Mutation operators: candidate single edits at one line of one file.

Each edit replaces one span of the source text (an expression, or whole statement lines) and keeps the rest
of the file byte-for-byte, so a fix's diff is as small as the fix. Operators, in the order they are tried:
comparison, arithmetic and boolean operator swaps; off-by-one on constants, indexes, slice and range bounds;
negating or dropping a condition; swapping call arguments; replacing a name with another in scope; calling
a similar function; replacing a return value; deleting, duplicating or moving a statement.
"""

from __future__ import annotations

import ast
import copy
import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from . import ingredients

COMPARE_SWAPS = {
    ast.Lt: (ast.LtE, ast.Gt, ast.GtE, ast.NotEq, ast.Eq),
    ast.LtE: (ast.Lt, ast.GtE, ast.Gt, ast.Eq, ast.NotEq),
    ast.Gt: (ast.GtE, ast.Lt, ast.LtE, ast.NotEq, ast.Eq),
    ast.GtE: (ast.Gt, ast.LtE, ast.Lt, ast.Eq, ast.NotEq),
    ast.Eq: (ast.NotEq, ast.Lt, ast.Gt, ast.LtE, ast.GtE),
    ast.NotEq: (ast.Eq, ast.Lt, ast.Gt),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
BINOP_SWAPS = {
    ast.Add: (ast.Sub, ast.Mult),
    ast.Sub: (ast.Add, ast.Mult),
    ast.Mult: (ast.Add, ast.FloorDiv, ast.Div, ast.Pow),
    ast.Div: (ast.FloorDiv, ast.Mult),
    ast.FloorDiv: (ast.Div, ast.Mod, ast.Mult),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
    ast.BitAnd: (ast.BitOr,),
    ast.BitOr: (ast.BitAnd,),
}
SIMILAR_CALLS = {
    "min": ("max",),
    "max": ("min",),
    "any": ("all",),
    "all": ("any",),
    "sorted": ("reversed",),
    "floor": ("ceil", "round"),
    "ceil": ("floor", "round"),
    "round": ("int",),
    "int": ("round",),
    "append": ("extend",),
    "extend": ("append",),
    "startswith": ("endswith",),
    "endswith": ("startswith",),
    "lower": ("upper",),
    "upper": ("lower",),
    "lstrip": ("rstrip", "strip"),
    "rstrip": ("lstrip", "strip"),
    "index": ("find",),
    "find": ("index", "rfind"),
    "remove": ("pop",),
    "isdigit": ("isalpha", "isalnum"),
    "isalpha": ("isalnum", "isdigit"),
    "isalnum": ("isalpha", "isdigit"),
    "split": ("rsplit",),
}


@dataclass(frozen=True)
class Edit:
    file: str
    start: int  # character offsets into the file's text
    end: int
    text: str
    line: int
    operator: str
    before: str

    def describe(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "operator": self.operator,
            "before": self.before,
            "after": self.text,
        }


class _Source:
    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col_bytes: int) -> int:
        line = self.lines[lineno - 1] if lineno - 1 < len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode("utf-8", "ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def line_span(self, node: ast.stmt) -> tuple[int, int]:
        return self.starts[node.lineno - 1], self.starts[min(node.end_lineno, len(self.lines))]


def _unparse(node: ast.AST) -> str:
    return ast.unparse(ast.fix_missing_locations(node))


def _names_in_scope(tree: ast.Module, line: int) -> list[str]:
    """Parameters and assigned names of the function around `line` (or the module), in order of appearance."""
    scope: ast.AST = tree
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= line <= node.end_lineno:
            if scope is tree or node.lineno >= scope.lineno:
                scope = node
    names: list[str] = []
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        a = scope.args
        names += [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]]
    for node in ast.walk(scope):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in names:
            names.append(node.id)
    return names


def _functions(tree: ast.Module) -> list[str]:
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _plus(node: ast.expr, delta: int) -> ast.expr:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return ast.Constant(node.value + delta)
    return ast.BinOp(copy.deepcopy(node), ast.Add() if delta > 0 else ast.Sub(), ast.Constant(abs(delta)))


def _expression_edits(src: _Source, tree: ast.Module, stmt: ast.stmt, path: str, line: int) -> Iterator[tuple]:
    """(node, replacement node or text, operator) for expressions of the statement that sit on `line`."""
    nodes = [n for n in ast.walk(stmt) if isinstance(n, ast.expr) and n.lineno <= line <= n.end_lineno]
    header_only = isinstance(stmt, (ast.If, ast.While, ast.For, ast.With, ast.FunctionDef))
    if header_only:  # compound statements: only their header's expressions, not the body's
        body_start = min((s.lineno for s in getattr(stmt, "body", [])), default=10**9)
        nodes = [n for n in nodes if n.lineno < body_start]
    scope_names = _names_in_scope(tree, line)
    funcs = _functions(tree)
    for node in nodes:
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                for alt in COMPARE_SWAPS.get(type(op), ()):
                    new = copy.deepcopy(node)
                    new.ops[i] = alt()
                    yield node, new, "swap comparison"
        elif isinstance(node, ast.BinOp):
            for alt in BINOP_SWAPS.get(type(node.op), ()):
                new = copy.deepcopy(node)
                new.op = alt()
                yield node, new, "swap arithmetic"
            yield node, copy.deepcopy(node.left), "drop operation"
        elif isinstance(node, ast.BoolOp):
            new = copy.deepcopy(node)
            new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            yield node, new, "swap boolean"
            for i in range(len(node.values)):
                rest = [copy.deepcopy(v) for j, v in enumerate(node.values) if j != i]
                yield node, rest[0] if len(rest) == 1 else ast.BoolOp(copy.deepcopy(node.op), rest), "drop condition"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, copy.deepcopy(node.operand), "negate condition"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield node, copy.deepcopy(node.operand), "drop negation"
        elif isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            yield node, ast.Constant(node.value + 1), "off-by-one constant"
            yield node, ast.Constant(node.value - 1), "off-by-one constant"
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield node, ast.Constant(not node.value), "negate constant"
        elif isinstance(node, ast.Subscript) and not isinstance(node.slice, (ast.Slice, ast.Tuple)):
            if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                for d in (1, -1):
                    new = copy.deepcopy(node)
                    new.slice = _plus(node.slice, d)
                    yield node, new, "off-by-one index"
        elif isinstance(node, ast.Slice):
            for part in ("lower", "upper"):
                bound = getattr(node, part)
                for d in (1, -1):
                    new = copy.deepcopy(node)
                    setattr(new, part, _plus(bound, d) if bound is not None else (ast.Constant(1) if d > 0 else None))
                    if getattr(new, part) is not None:
                        yield node, new, "off-by-one slice"
        elif isinstance(node, ast.Call):
            name = (
                node.func.id
                if isinstance(node.func, ast.Name)
                else (node.func.attr if isinstance(node.func, ast.Attribute) else None)
            )
            if name == "range":
                for i, arg in enumerate(node.args):
                    for d in (1, -1):
                        new = copy.deepcopy(node)
                        new.args[i] = _plus(arg, d)
                        yield node, new, "off-by-one range"
            for i in range(len(node.args) - 1):
                new = copy.deepcopy(node)
                new.args[i], new.args[i + 1] = new.args[i + 1], new.args[i]
                yield node, new, "swap arguments"
            similar = list(SIMILAR_CALLS.get(name or "", ()))
            if isinstance(node.func, ast.Name):
                similar += [f for f in funcs if f != name and f not in similar]
            for alt in similar[:6]:
                new = copy.deepcopy(node)
                if isinstance(new.func, ast.Name):
                    new.func.id = alt
                else:
                    new.func.attr = alt
                yield node, new, "similar function"
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            for alt in [n for n in scope_names if n != node.id][:8]:
                yield node, ast.Name(alt, ast.Load()), "replace name"


def _statement_edits(src: _Source, stmt: ast.stmt, parent_body: list[ast.stmt]) -> Iterator[tuple[int, int, str, str]]:
    start, end = src.line_span(stmt)
    block = src.text[start:end]
    indent = block[: len(block) - len(block.lstrip())]
    if isinstance(stmt, ast.Return) and stmt.value is not None:
        yield start, end, f"{indent}return None\n", "replace return value"
    yield start, end, f"{indent}pass\n", "delete statement"
    if not isinstance(stmt, ast.Return):
        yield start, end, block + block, "duplicate statement"
    idx = next((i for i, s in enumerate(parent_body) if s is stmt), None)
    if idx is not None and idx + 1 < len(parent_body):
        nxt = parent_body[idx + 1]
        n_start, n_end = src.line_span(nxt)
        yield start, n_end, src.text[n_start:n_end] + block, "move statement"


def _statements_at(tree: ast.Module, line: int) -> list[tuple[ast.stmt, list[ast.stmt]]]:
    """Innermost statement(s) whose span covers `line`, with the block they belong to."""
    found: list[tuple[ast.stmt, list[ast.stmt]]] = []

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if stmt.lineno <= line <= stmt.end_lineno:
                inner = [
                    getattr(stmt, f)
                    for f in ("body", "orelse", "finalbody")
                    if isinstance(getattr(stmt, f, None), list)
                ]
                inner += [h.body for h in getattr(stmt, "handlers", [])]
                before = len(found)
                for block in inner:
                    visit(block)
                if len(found) == before:
                    found.append((stmt, body))

    visit(tree.body)
    return found


def _parse(text: str) -> ast.Module:
    """The module's tree, without the SyntaxWarnings a mutant may draw (`1if x` is "invalid decimal literal"):
    they name no file and would reach the user's stderr as if their code had drawn them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(text)


def mutations(path: str, text: str, line: int) -> list[Edit]:
    """Every single edit the operators propose for `line` of `path`, compiling, without duplicates."""
    try:
        tree = _parse(text)
    except SyntaxError:
        return []
    src = _Source(text)
    seen: set[str] = {text}
    edits: list[Edit] = []

    def add(start: int, end: int, new_text: str, operator: str) -> None:
        candidate = text[:start] + new_text + text[end:]
        if candidate in seen:
            return
        try:
            _parse(candidate)
        except SyntaxError:
            return
        seen.add(candidate)
        edits.append(Edit(path, start, end, new_text, line, operator, text[start:end]))

    for stmt, body in _statements_at(tree, line):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue
        for node, replacement, operator in _expression_edits(src, tree, stmt, path, line):
            start, end = src.span(node)
            new_text = replacement if isinstance(replacement, str) else _unparse(replacement)
            if isinstance(node, ast.Slice):  # slices have no parentheses of their own
                new_text = new_text.strip("()") if new_text.startswith("(") and new_text.endswith(")") else new_text
            add(start, end, new_text, operator)
        if isinstance(stmt, (ast.If, ast.While)):
            start, end = src.span(stmt.test)
            add(start, end, f"not ({text[start:end]})", "negate condition")
            add(start, end, "True", "drop condition")
            add(start, end, "False", "drop condition")
        if stmt.lineno == line:
            for start, end, new_text, operator in _statement_edits(src, stmt, body):
                add(start, end, new_text, operator)
        for start, end, new_text, operator in ingredients.expression_edits(src, tree, stmt, line):
            add(start, end, new_text, operator)
        for start, end, new_text, operator in ingredients.statement_edits(src, tree, stmt, body, line):
            add(start, end, new_text, operator)
    return edits


def apply(files: dict[str, str], edits: list[Edit]) -> dict[str, str] | None:
    """Apply non-overlapping edits (to one or several files); None when two overlap or the result won't parse."""
    out = files.copy()  # a by-reference task's files keep reading through to its base
    by_file: dict[str, list[Edit]] = {}
    for e in edits:
        by_file.setdefault(e.file, []).append(e)
    for path, file_edits in by_file.items():
        file_edits.sort(key=lambda e: e.start)
        for a, b in itertools.pairwise(file_edits):
            if b.start < a.end:
                return None
        text = out[path]
        for e in reversed(file_edits):
            text = text[: e.start] + e.text + text[e.end :]
        try:
            _parse(text)
        except SyntaxError:
            return None
        out[path] = text
    return out
