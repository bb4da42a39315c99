"""Runs inside the sandbox (shipped as _chain_batch_swap.py; standard library only): switching a candidate's
code into modules that are already imported, without importing them again (mutmut 3's trampoline, done by
swapping code objects).

A candidate's version of a module is compiled (never executed); every function and method whose code differs
from the imported one's gets the candidate's code object (`f.__code__ = new`), so every reference to it (a test
module's `from mod import f`, a class's method, a dict of handlers built at import) runs the candidate's code.
That gives the state a fresh import of the candidate would give only when the module's import would have done
the same thing, so `plan` refuses (the caller then imports the candidate fresh) unless all of these hold:
- the file is a .py module the session imported, and neither a test module nor a conftest.py;
- outside function bodies nothing changed: every module- and class-level statement other than a def is the
  same (AST, positions aside), the same defs in the same order, each def's header the same (name,
  decorators, arguments, defaults, annotations, docstring);
- none of the functions whose code changes ran while the session was imported and collected (the collector
  records the calls into the candidates' files), unless only its positions moved: a value computed at
  import or collection stays the same;
- each changed function is found as a live function object with exactly the imported code (a decorator that
  hides it, or code pytest rewrote, is not) and the new code fits it (same free variables: a closure's cells).
Functions defined inside changed ones are created from the new code when the outer one runs.
"""

import ast
import copy
import os
import types

FUNCTION_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


class Refused(Exception):
    """The swap cannot be shown to equal a fresh import: why."""


def _header(node):
    head = copy.copy(node)
    head.body = []
    return ast.dump(head), ast.get_docstring(node, clean=False)


def _shape(body):
    """What must be equal between two versions for a swap: everything outside function bodies."""
    out = []
    for stmt in body:
        if isinstance(stmt, FUNCTION_DEFS):
            out.append(("def", _header(stmt)))
        elif isinstance(stmt, ast.ClassDef):
            out.append(("class", _header(stmt), _shape(stmt.body)))
        else:
            out.append(("stmt", ast.dump(stmt)))
    return out


def _defs(code, out):
    """Code objects of the defs reachable from a module's code (not through function bodies), in order."""
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out.append(const)
            if not const.co_flags & 0x2:  # CO_NEWLOCALS unset: a class body, whose methods are its constants
                _defs(const, out)
    return out


def _positions_only(a, b):
    """Whether two code objects differ in line and column positions only (a def moved by an edit above it)."""
    if a.co_code != b.co_code or a.co_names != b.co_names or len(a.co_consts) != len(b.co_consts):
        return False
    names = ("co_varnames", "co_freevars", "co_cellvars", "co_flags")
    if any(getattr(a, n) != getattr(b, n) for n in names):
        return False
    for x, y in zip(a.co_consts, b.co_consts):
        if isinstance(x, types.CodeType) and isinstance(y, types.CodeType):
            if not _positions_only(x, y):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


def _is_def(code):
    name = getattr(code, "co_qualname", code.co_name).rsplit(".", 1)[-1]
    return not name.startswith("<")


def _parsed(text):
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        raise Refused(f"does not parse: {exc.msg}") from None


class Original:
    """What a swap compares a candidate's version of a module with, computed once per batch in the collected
    session (before the children fork) rather than in every child: the imported version's shape and defs."""

    def __init__(self, text):
        self.text = text
        self.shape = _shape(_parsed(text).body)
        self._defs = {}

    def defs(self, filename):
        found = self._defs.get(filename)
        if found is None:
            found = self._defs[filename] = _defs(compile(self.text, filename, "exec", dont_inherit=True), [])
        return found


def _same_shape(old_shape, new_text):
    if old_shape != _shape(_parsed(new_text).body):
        raise Refused("a module- or class-level statement, a def's header or the set of defs changed")


def same_shape(old_text, new_text):
    """Refused unless the two versions differ inside function bodies only."""
    _same_shape(Original(old_text).shape, new_text)


def changed_code(filename, old, new_text):
    """[(imported code, candidate code)] for each def whose code differs (line moves included); `old` is the
    imported version (an Original, or its text)."""
    if not isinstance(old, Original):
        old = Original(old)
    _same_shape(old.shape, new_text)
    new = _defs(compile(new_text, filename, "exec", dont_inherit=True), [])
    old = old.defs(filename)
    if len(old) != len(new):
        raise Refused("the module's code objects differ in number")
    pairs = []
    for a, b in zip(old, new):
        if a.co_name != b.co_name:
            raise Refused(f"code objects out of step: {a.co_name} / {b.co_name}")
        if a != b and _is_def(a) and a.co_flags & 0x2:
            pairs.append((a, b))
    return pairs


class Index:
    """Built in the collector once the session is collected: the live functions of the watched files, by code
    object, and which of their code objects ran meanwhile."""

    def __init__(self, watched):
        self.watched = {os.path.realpath(p) for p in watched}
        self._cache = {}
        self.called = set()
        self.functions = {}  # code -> [function]
        self.filenames = {}  # realpath -> {co_filename spellings}
        self.special = set()  # test modules and conftest files (realpaths)
        self.originals = {}  # path -> Original, of the files the batch's candidates change

    def prepare(self, path, text):
        """The imported version of `path` parsed and compiled once, in the collected session: every child
        forked afterwards compares with it (a version that does not parse is left to each swap to refuse)."""
        try:
            original = Original(text)
        except Refused:
            return
        for filename in sorted(self.filenames.get(os.path.realpath(path), ())):
            original.defs(filename)
        self.originals[path] = original

    def _watched(self, filename):
        found = self._cache.get(filename)
        if found is None:
            found = self._cache[filename] = os.path.realpath(filename) in self.watched
        return found

    def profile(self, frame, event, arg):
        if event == "call" and self._watched(frame.f_code.co_filename):
            self.called.add(frame.f_code)

    def scan(self, objects):
        for obj in objects:
            if type(obj) is types.FunctionType and self._watched(obj.__code__.co_filename):
                self.functions.setdefault(obj.__code__, []).append(obj)
                real = os.path.realpath(obj.__code__.co_filename)
                self.filenames.setdefault(real, set()).add(obj.__code__.co_filename)

    def swap(self, path, old_text, new_text):
        """Switch `path`'s changed functions to the candidate's code; Refused (before changing anything) when
        that is not what a fresh import would give."""
        if not path.endswith(".py"):
            raise Refused("not a Python module")
        real = os.path.realpath(path)
        if real in self.special:
            raise Refused("a test module or conftest.py")
        spellings = self.filenames.get(real)
        if not spellings:
            raise Refused("not imported by the session")
        plan = []
        original = self.originals.get(path)
        imported = original if original is not None and original.text == old_text else old_text
        for filename in sorted(spellings):
            for old, new in changed_code(filename, imported, new_text):
                if old in self.called and not _positions_only(old, new):
                    raise Refused(f"{old.co_name} ran at import or collection")
                funcs = self.functions.get(old)
                if not funcs:
                    raise Refused(f"{old.co_name}: no live function with the imported code")
                for fn in funcs:
                    if len(fn.__closure__ or ()) != len(new.co_freevars) or fn.__code__.co_freevars != new.co_freevars:
                        raise Refused(f"{old.co_name}: its closure does not fit the new code")
                    plan.append((fn, new))
        for fn, new in plan:
            fn.__code__ = new
        return len(plan)
