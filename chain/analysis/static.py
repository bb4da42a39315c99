"""What the AST says without running anything: syntax errors with file and line, functions, lines and
cyclomatic complexity (McCabe: 1 + decision points per function)."""

from __future__ import annotations

import ast
import functools
import re
from typing import Any

DECISIONS = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.IfExp,
    ast.ExceptHandler,
    ast.With,
    ast.AsyncWith,
    ast.Assert,
    ast.comprehension,
    ast.match_case,
)


@functools.lru_cache(maxsize=256)
def _parse(source: str, path: str) -> ast.AST | SyntaxError:
    """One parse per source: analyze asks for errors and metrics of the same files, and repair and optimize
    see the same files many times. (The trees are only read.)"""
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as exc:
        return exc


def _syntax_error(path: str, exc: SyntaxError) -> dict[str, Any]:
    return {
        "file": path,
        "line": exc.lineno,
        "column": exc.offset,
        "message": exc.msg,
        "code": (exc.text or "").strip(),
    }


def syntax_errors(files: dict[str, str]) -> list[dict[str, Any]]:
    errors = []
    for path, source in sorted(files.items()):
        if not path.endswith(".py"):
            continue
        exc = _parse(source, path)
        if isinstance(exc, SyntaxError):
            errors.append(_syntax_error(path, exc))
    return errors


def summary(files: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(metrics(files), syntax_errors(files)) with one parse per file: asked one after the other, a project
    of more files than the parse cache holds (Pygments: 400) was parsed twice, seconds of its analyze."""
    per_file: dict[str, dict[str, Any]] = {}
    errors = []
    for path, source in sorted(files.items()):
        if not path.endswith(".py"):
            continue
        per_file[path] = _file_metrics(source, path)
        exc = _parse(source, path)  # the cache's newest entry: parsed just now for the metrics
        if isinstance(exc, SyntaxError):
            errors.append(_syntax_error(path, exc))
    return _totals(per_file), errors


IMPORT_ERROR = re.compile(r"^E\s+(?P<kind>ModuleNotFoundError|ImportError): (?P<message>.+)$", re.M)
FRAME = re.compile(r"^(?P<file>[^\s:]+\.py):(?P<line>\d+): in ", re.M)


def import_errors(collect_errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """File, line and message of import failures, from pytest's collection error reports."""
    found = []
    for err in collect_errors:
        text = err.get("message") or ""
        match = IMPORT_ERROR.search(text)
        if not match:
            continue
        frames = FRAME.findall(text)
        file, line = (frames[-1][0], int(frames[-1][1])) if frames else (err.get("nodeid"), None)
        found.append({"file": file, "line": line, "kind": match["kind"], "message": match["message"].strip()})
    return found


def _complexity(func: ast.AST) -> int:
    score = 1
    for node in ast.walk(func):
        if isinstance(node, DECISIONS):
            score += 1
        elif isinstance(node, ast.BoolOp):
            score += len(node.values) - 1
    return score


def metrics(files: dict[str, str]) -> dict[str, Any]:
    return _totals({path: _file_metrics(s, path) for path, s in sorted(files.items()) if path.endswith(".py")})


def _totals(per_file: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "files": per_file,
        "functions": sum(f.get("functions", 0) for f in per_file.values()),
        "lines": sum(f["lines"] for f in per_file.values()),
        "max_complexity": max((f.get("max_complexity", 0) for f in per_file.values()), default=0),
    }


def _file_metrics(source: str, path: str) -> dict[str, Any]:
    entry = _cached_file_metrics(source, path)
    return {**entry, "complexity": dict(entry["complexity"])} if "complexity" in entry else dict(entry)


@functools.lru_cache(maxsize=256)  # repair and optimize measure the same unchanged files over and over
def _cached_file_metrics(source: str, path: str) -> dict[str, Any]:
    lines = source.splitlines()
    entry: dict[str, Any] = {
        "lines": len(lines),
        "code_lines": sum(1 for text in lines if text.strip() and not text.strip().startswith("#")),
    }
    tree = _parse(source, path)
    if isinstance(tree, SyntaxError):
        entry["parse_error"] = True
        return entry
    funcs, classes = [], 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs.append(node)
        elif isinstance(node, ast.ClassDef):
            classes += 1
    entry["functions"] = len(funcs)
    entry["classes"] = classes
    entry["complexity"] = {f.name: _complexity(f) for f in funcs}
    entry["max_complexity"] = max(entry["complexity"].values(), default=0)
    return entry
