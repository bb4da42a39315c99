"""Compiled code for workspace sources a prepared runner has seen before (patches pytest's assertion
rewriting and the source loader's compile step). stdlib + pytest only."""

import ast
import importlib.machinery
import importlib.util
import os


class CodeCache:
    """Compiled code for workspace sources a runner has seen before, so its children skip compiling them.

    Repair and optimization evaluate many variants of one task: the tests and most modules are the same
    bytes every time, and a child compiles (test files: parses, rewrites asserts, compiles) each again.
    The runner reads the workspace before each run; a source seen a second time (same path, same bytes)
    is compiled here, by the runner, from the bytes it read, and every later child that imports exactly
    those bytes from that path gets the code object instead of compiling (a dict lookup on path and
    bytes). Nothing a run does can reach this cache: it lives in the runner, and children get a copy."""

    LIMIT = 256  # entries; oldest go first
    MAX_FILES = 64  # beyond this many .py files only test files are compiled ahead
    MAX_BYTES = 256 << 10

    def __init__(self, config):
        import fnmatch

        import _pytest.assertion.rewrite as rewrite

        self.config, self.rewrite, self.fnmatch = config, rewrite, fnmatch
        self.patterns = list(config.getini("python_files") or [])
        self.seen = {}  # (path, bytes) -> True, for sources seen once
        self.plain = {}  # (path, bytes) -> code
        self.rewritten = {}  # (path, bytes) -> (source hash, code)
        real_rewrite, real_compile = rewrite._rewrite_test, importlib.machinery.SourceFileLoader.source_to_code

        def rewrite_test(fn, config):
            try:
                cached = self.rewritten.get((str(fn), fn.read_bytes()))
            except OSError:
                cached = None
            return cached if cached is not None else real_rewrite(fn, config)

        def source_to_code(loader, data, path, *args, **kwargs):
            cached = self.plain.get((path, data)) if not args and not kwargs and isinstance(data, bytes) else None
            return cached if cached is not None else real_compile(loader, data, path, *args, **kwargs)

        rewrite._rewrite_test = rewrite_test
        importlib.machinery.SourceFileLoader.source_to_code = source_to_code
        self.real_rewrite, self.real_compile = real_rewrite, real_compile

    def _sources(self, root):
        found = []
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            found += [os.path.join(directory, f) for f in files if f.endswith(".py")]
            if len(found) > 4 * self.MAX_FILES:
                break
        return found

    def observe(self, root):
        paths = self._sources(root)
        only_tests = len(paths) > self.MAX_FILES
        for path in paths:
            is_test = any(self.fnmatch.fnmatch(os.path.basename(path), p) for p in self.patterns)
            if only_tests and not is_test:
                continue
            try:
                if os.path.getsize(path) > self.MAX_BYTES:
                    continue
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            key = (path, data)
            if key in self.plain:
                continue
            if key not in self.seen:
                self._bounded(self.seen)[key] = True
                continue
            try:
                self._bounded(self.plain)[key] = compile(data, path, "exec", dont_inherit=True)
                if is_test:  # what rewrite._rewrite_test does, from the bytes read here
                    tree = ast.parse(data, filename=path)
                    self.rewrite.rewrite_asserts(tree, data, path, self.config)
                    self._bounded(self.rewritten)[key] = (
                        importlib.util.source_hash(data),
                        compile(tree, path, "exec", dont_inherit=True),
                    )
            except Exception:  # a syntax error and the like: the child reports it the ordinary way
                self.plain.pop(key, None)

    def _bounded(self, table):
        while len(table) >= self.LIMIT:
            del table[next(iter(table))]
        return table
