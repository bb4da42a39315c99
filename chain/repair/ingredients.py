"""Operators that take their material from the program itself (the "plastic surgery" hypothesis: a fix's
ingredients are usually already in the same function or file) and templates for common fixes.

- ingredient: replace an expression on the line with one used elsewhere in the function (or class) that
  shares a name with it, a constant with a name in scope, a boolean constant with a condition used nearby;
- add condition: extend an if/while test with `and`/`or` a condition from the function, a bounds check
  for an index the test reads (`i + 1 < len(s)`), a `> 0` check on a loop counter, or a membership check
  against another container in scope;
- insert guard: `if not <param>: return <value>` before the line, and `if <condition>: continue/break` in loops;
- copy statement: a statement of the function or of a sibling method, inserted before or after the line;
- accumulate: `t = e` becomes `t = max(t, e)` / `t = min(t, e)`;
- wrap call / unwrap call: `e` becomes `f(e)` for a one-argument function called nearby, `f(e)` becomes `e`;
- swap operands (of -, /, //, %, **) / swap elements / swap indices / negate expression / regroup / off-by-one
  operand / swap augmented assignment: the small structural slips (`[j, i]`, `m[c][r]`, a missing minus sign,
  missing parentheses, `n` for `n - 1`, `+=` for `-=`).

Each yields (start, end, new text, operator) over the file's text; chain.repair.mutate checks that the result
parses and drops duplicates.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

MAX_INGREDIENT_CHARS = 48
PER_TARGET = 5  # ingredients tried per expression
CONDITIONS = 12  # conditions tried per if/while
COPIES = 16  # statements copied per line
AUG_SWAPS = {
    ast.Add: (ast.Sub, ast.Mult),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.FloorDiv, ast.Div, ast.Add),
    ast.Div: (ast.Mult,),
    ast.FloorDiv: (ast.Mult, ast.Mod),
    ast.Mod: (ast.FloorDiv,),
}
OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}
NON_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
Edit = tuple[int, int, str, str]


def _text(node: ast.AST) -> str:
    return ast.unparse(node)


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def enclosing(tree: ast.Module, line: int) -> tuple[ast.AST, ast.ClassDef | None]:
    """The innermost function around `line` (the module when none) and the class around that."""
    scope: ast.AST = tree
    cls = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= line <= node.end_lineno:
            if scope is tree or node.lineno >= scope.lineno:
                scope = node
        elif isinstance(node, ast.ClassDef) and node.lineno <= line <= node.end_lineno:
            if cls is None or node.lineno >= cls.lineno:
                cls = node
    return scope, cls


def _pool(scope: ast.AST, cls: ast.ClassDef | None) -> list[ast.expr]:
    """Candidate ingredients: small expressions of the function (and its class), first occurrence of each."""
    seen: dict[str, ast.expr] = {}
    for root in [scope, *([cls] if cls is not None and cls is not scope else [])]:
        for node in ast.walk(root):
            if isinstance(
                node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.UnaryOp, ast.BinOp, ast.Compare)
            ) and (
                isinstance(node, ast.Name) or not isinstance(getattr(node, "ctx", None), ast.Store)
            ):  # a name assigned is usable too
                text = _text(node)
                if len(text) <= MAX_INGREDIENT_CHARS:
                    seen.setdefault(text, node)
    return list(seen.values())


def _nodes_on(stmt: ast.stmt, line: int) -> list[ast.expr]:
    nodes = [n for n in ast.walk(stmt) if isinstance(n, ast.expr) and n.lineno <= line <= n.end_lineno]
    body = getattr(stmt, "body", None)
    if isinstance(body, list) and body and not isinstance(stmt, ast.Lambda):
        nodes = [n for n in nodes if n.lineno < body[0].lineno]
    return nodes


def expression_edits(src: Any, tree: ast.Module, stmt: ast.stmt, line: int) -> Iterator[Edit]:
    scope, cls = enclosing(tree, line)
    pool = _pool(scope, cls)
    nodes = _nodes_on(stmt, line)
    parents = {id(child): node for node in ast.walk(stmt) for child in ast.iter_child_nodes(node)}
    one_arg_calls = sorted(
        {
            n.func.id
            for n in ast.walk(scope)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and len(n.args) == 1 and not n.keywords
        }
    )
    for node in nodes:
        start, end = src.span(node)
        here = _text(node)
        parent = parents.get(id(node))
        if isinstance(getattr(node, "ctx", None), ast.Store):
            continue
        yield from ((start, end, t, "ingredient") for t in _ingredients_for(node, here, pool))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and len(node.args) == 1
            and not node.keywords
            and node.func.id not in ("range", "len", "print")
        ):
            yield start, end, src.text[slice(*src.span(node.args[0]))], "unwrap call"
        is_callee = isinstance(parent, ast.Call) and node is parent.func
        if isinstance(node, (ast.Name, ast.Subscript, ast.Attribute, ast.BinOp)) and not is_callee:
            for fn in one_arg_calls[:4]:
                if not (isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == fn):
                    yield start, end, f"{fn}({here})", "wrap call"
        if isinstance(node, (ast.List, ast.Tuple)) and 2 <= len(node.elts) <= 4:
            for i in range(len(node.elts) - 1):
                elts = [src.text[slice(*src.span(e))] for e in node.elts]
                elts[i], elts[i + 1] = elts[i + 1], elts[i]
                inner = ", ".join(elts)
                yield start, end, f"[{inner}]" if isinstance(node, ast.List) else f"({inner})", "swap elements"
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Subscript):
            outer, inner_ix = node.slice, node.value.slice
            if not isinstance(outer, ast.Slice) and not isinstance(inner_ix, ast.Slice):
                base = src.text[slice(*src.span(node.value.value))]
                yield start, end, f"{base}[{_text(outer)}][{_text(inner_ix)}]", "swap indices"
        if isinstance(parent, ast.Tuple) and isinstance(node, (ast.Name, ast.Subscript, ast.Attribute)):
            yield start, end, f"-{here}", "negate expression"
        if isinstance(parent, ast.BinOp) and isinstance(node, (ast.Name, ast.Call, ast.Attribute, ast.Subscript)):
            yield start, end, f"({here} - 1)", "off-by-one operand"
            yield start, end, f"({here} + 1)", "off-by-one operand"
        if isinstance(node, ast.BinOp) and type(node.op) in NON_COMMUTATIVE:
            yield start, end, _text(ast.BinOp(node.right, node.op, node.left)), "swap operands"
        if isinstance(node, ast.BinOp) and not isinstance(parent, ast.BinOp):
            yield from ((start, end, t, "regroup") for t in _regroupings(node, src))


def _ingredients_for(node: ast.expr, here: str, pool: list[ast.expr]) -> list[str]:
    """Replacements for `node` from the pool, most alike first: same kind, most names shared."""
    mine = _names(node)
    scored = []
    for ing in pool:
        text = _text(ing)
        if text == here:
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                ok = isinstance(ing, (ast.UnaryOp, ast.Compare, ast.Name))
            else:
                ok = isinstance(ing, (ast.Name, ast.Attribute))
            shared = 0
        else:
            shared = len(mine & _names(ing))
            ok = shared > 0 and not (isinstance(node, ast.Name) and isinstance(ing, ast.Name))  # names: replace name
            if isinstance(node, ast.Name):
                ok = ok and here in text  # a name grows into a use of it: part -> int(part)
        if ok:
            scored.append((type(ing) is not type(node), -shared, abs(ing.lineno - node.lineno), text))
    scored.sort()
    return [text for *_, text in scored[:PER_TARGET]]


def _flatten(node: ast.expr) -> tuple[list[ast.expr], list[type]] | None:
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        left = _flatten(node.left)
        right = _flatten(node.right)
        if left is None or right is None:
            return None
        return left[0] + right[0], left[1] + [type(node.op)] + right[1]
    return [node], []


def _regroupings(node: ast.BinOp, src: Any) -> Iterator[str]:
    """Parentheses around each run of leaves, for chains written without any (`f - 32 * 5 / 9`)."""
    flat = _flatten(node)
    if flat is None or not 3 <= len(flat[0]) <= 5:
        return
    leaves = [src.text[slice(*src.span(leaf))] for leaf in flat[0]]
    ops = [OPS[o] for o in flat[1]]
    plain = leaves[0] + "".join(f" {op} {leaf}" for op, leaf in zip(ops, leaves[1:]))
    if ast.dump(ast.parse(plain, mode="eval").body) != ast.dump(node):
        return  # the original has its own parentheses: leave it
    for i in range(len(leaves)):
        for j in range(i + 1, len(leaves)):
            if i == 0 and j == len(leaves) - 1:
                continue
            parts = []
            for k, leaf in enumerate(leaves):
                piece = ("(" if k == i else "") + leaf + (")" if k == j else "")
                parts.append(piece if k == 0 else f" {ops[k - 1]} {piece}")
            yield "".join(parts)


def statement_edits(src: Any, tree: ast.Module, stmt: ast.stmt, body: list[ast.stmt], line: int) -> Iterator[Edit]:
    scope, cls = enclosing(tree, line)
    start, end = src.line_span(stmt)
    block = src.text[start:end]
    indent = block[: len(block) - len(block.lstrip())]
    if isinstance(stmt, (ast.If, ast.While)) and stmt.test.lineno <= line <= stmt.test.end_lineno:
        t_start, t_end = src.span(stmt.test)
        test = src.text[t_start:t_end]
        for cond in _conditions(stmt.test, scope)[:CONDITIONS]:
            yield t_start, t_end, f"{cond} and {test}", "add condition"
            yield t_start, t_end, f"{test} and {cond}", "add condition"
            yield t_start, t_end, f"{test} or {cond}", "add condition"
    if isinstance(stmt, ast.AugAssign) and stmt.lineno == stmt.end_lineno == line:
        target, value = src.text[slice(*src.span(stmt.target))], src.text[slice(*src.span(stmt.value))]
        for alt in AUG_SWAPS.get(type(stmt.op), ()):
            yield start, end, f"{indent}{target} {OPS[alt]}= {value}\n", "swap augmented assignment"
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and stmt.lineno == line:
        target = src.text[slice(*src.span(stmt.targets[0]))]
        v_start, v_end = src.span(stmt.value)
        value = src.text[v_start:v_end]
        if target not in value or isinstance(stmt.targets[0], (ast.Subscript, ast.Attribute)):
            for fn in ("max", "min"):
                yield v_start, v_end, f"{fn}({target}, {value})", "accumulate"
    if stmt.lineno != line or not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return
    yield from _guards(src, scope, stmt, indent, start)
    yield from _copies(src, scope, cls, stmt, indent, start, end)


def _conditions(test: ast.expr, scope: ast.AST) -> list[str]:
    """Conditions to add to `test`: from the function, then synthesized bounds, counter and membership checks."""
    here = _text(test)
    found: dict[str, None] = {}
    for node in ast.walk(scope):
        if isinstance(node, (ast.Compare, ast.UnaryOp)) or (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("is")
        ):
            text = _text(node)
            if text not in here and here not in text and len(text) <= MAX_INGREDIENT_CHARS:
                found.setdefault(text)
    for node in ast.walk(test):
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, (ast.Slice, ast.Constant)):
            found.setdefault(f"{_text(node.slice)} < len({_text(node.value)})")
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In):
            for other in _containers(scope):
                if other != _text(node.comparators[0]):
                    found.setdefault(f"{_text(node.left)} not in {other}")
    for counter in _counters(scope):
        found.setdefault(f"{counter} > 0")
    return list(found)


def _containers(scope: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            targets = node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else node.targets
            for target, value in zip(targets, values):
                empty = isinstance(value, (ast.List, ast.Set, ast.Dict)) or (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name)
                    and value.func.id in ("set", "dict", "list")
                )
                if empty and isinstance(target, ast.Name) and target.id not in out:
                    out.append(target.id)
    return out


def _counters(scope: ast.AST) -> list[str]:
    """Loop counters: the index of `for i, x in enumerate(...)` and the variable of `for i in range(...)`."""
    out = []
    for node in ast.walk(scope):
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Name):
            if node.iter.func.id == "enumerate" and isinstance(node.target, ast.Tuple) and node.target.elts:
                first = node.target.elts[0]
                if isinstance(first, ast.Name):
                    out.append(first.id)
            elif node.iter.func.id == "range" and isinstance(node.target, ast.Name):
                out.append(node.target.id)
    return out


def _guards(
    src: Any, scope: ast.FunctionDef | ast.AsyncFunctionDef, stmt: ast.stmt, indent: str, start: int
) -> Iterator[Edit]:
    params = [a.arg for a in [*scope.args.posonlyargs, *scope.args.args] if a.arg not in ("self", "cls")][:3]
    returns = [
        _text(r.value)
        for r in ast.walk(scope)
        if isinstance(r, ast.Return) and r.value is not None and len(_text(r.value)) <= MAX_INGREDIENT_CHARS
    ]
    values = list(dict.fromkeys(["[]", "None", "0", *returns]))[:5]
    for p in params:
        for value in values:
            yield start, start, f"{indent}if not {p}:\n{indent}    return {value}\n", "insert guard"
    in_loop = any(
        isinstance(n, (ast.For, ast.While)) and n.lineno < stmt.lineno <= n.end_lineno for n in ast.walk(scope)
    )
    if in_loop:
        conds = [_text(n) for n in ast.walk(scope) if isinstance(n, ast.Compare)][:4]
        for cond in conds:
            for jump in ("continue", "break"):
                yield start, start, f"{indent}if {cond}:\n{indent}    {jump}\n", "insert guard"


def _copies(
    src: Any, scope: ast.AST, cls: ast.ClassDef | None, stmt: ast.stmt, indent: str, start: int, end: int
) -> Iterator[Edit]:
    roots = [scope] + ([cls] if cls is not None else [])
    seen: dict[str, int] = {}
    for root in roots:
        for node in ast.walk(root):
            if node is stmt or not isinstance(node, (ast.Expr, ast.Assign, ast.AugAssign, ast.If)):
                continue
            if node.end_lineno - node.lineno > 2 or (
                isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call)
            ):
                continue
            n_start, n_end = src.line_span(node)
            block = src.text[n_start:n_end]
            own = block[: len(block) - len(block.lstrip())]
            lines = [indent + ln[len(own) :] if ln.startswith(own) else ln for ln in block.splitlines(keepends=True)]
            text = "".join(lines)
            if text.strip() and text.strip() != src.text[start:end].strip():
                seen.setdefault(text, abs(node.lineno - stmt.lineno))
    ranked = sorted(seen.items(), key=lambda kv: (kv[1], kv[0]))[:COPIES]
    following = src.text[end:]
    for text, _ in ranked:
        yield start, start, text, "copy statement"
        if not isinstance(stmt, (ast.Return, ast.Continue, ast.Break, ast.Raise)) and following is not None:
            yield end, end, text, "copy statement"
