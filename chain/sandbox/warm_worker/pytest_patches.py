"""What the warm worker changes in pytest, all in one place: a prebuilt Config handed to every run, entry
points scanned once, the fixture scan of long-lived plugins answered from a table, and session timers
restarted in a prepared session's children. (`code_cache.CodeCache` patches compiling; it is built only by
prepared sessions.)

All of it reaches into pytest's internals (`_main`, `get_config`, `Config._mark_plugins_for_rewrite`,
`_pytest.fixtures`, `_pytest.timing`, assertion rewriting), so it is done only for the pytest versions it is
tested with (`TESTED_PYTEST`, the same range as pyproject.toml's dependency). Any other pytest gets the
plain path: each run's child calls the public `pytest.main`, no prepared sessions, and chain says so.

stdlib + pytest only: this module runs inside the task's interpreter.
"""

import json
import os
import pathlib
import re
import sys

TESTED_PYTEST = ((8, 4), (10, 0))  # [low, high): pyproject.toml says `pytest>=8.4,<10` (a test holds them equal)
VERSION_ENV = "CHAIN_WARM_PYTEST_VERSION"  # the version the gate sees instead of pytest's own (for tests)


def version_gate(version):
    """None when pytest `version` is in TESTED_PYTEST, else the one-line notice saying what happens instead."""
    found = re.match(r"(\d+)\.(\d+)", version)
    low, high = TESTED_PYTEST
    if found and low <= (int(found.group(1)), int(found.group(2))) < high:
        return None
    return (
        f"pytest {version} is outside the range chain's warm workers are tested with "
        f"(pytest>={low[0]}.{low[1]},<{high[0]}): warm runs call plain pytest.main, without prepared sessions"
    )


class WarmPytest:
    """pytest imported once, with a Config whose plugins are registered before any run asks for one."""

    def __init__(self):
        self.pc = None  # _pytest.config, once installed
        self.config = None
        self.entrypoint_plugins = []
        self.notice = None  # why pytest's internals are left alone (see version_gate), if they are
        self.patched = False
        self._main = None

    def install(self):
        """Import pytest and, for a tested version, patch it; else leave it alone and keep the notice."""
        import _pytest.config as pytest_config
        import pytest  # imported here so every child has it

        self.notice = version_gate(os.environ.get(VERSION_ENV) or pytest.__version__)
        if self.notice:
            self._main = pytest.main
            return self
        self.patched = True
        # pytest 9 runs the command line through _main(prog=...); pytest 8 through main() itself.
        internal_main = getattr(pytest_config, "_main", None)
        self._main = (lambda args: internal_main(args=args, prog="pytest")) if internal_main else pytest_config.main
        self.pc = pytest_config
        # ...and only pytest 9's get_config takes the program name.
        self.config = pytest_config.get_config(None, prog="pytest") if internal_main else pytest_config.get_config()
        pm = self.config.pluginmanager
        before = {name for name, _ in pm.list_name_plugin()}
        pm.load_setuptools_entrypoints("pytest11")  # what a cold run scans site-packages for, done once
        self.entrypoint_plugins = [n for n, _ in pm.list_name_plugin() if n not in before]
        pm.load_setuptools_entrypoints = lambda group, name=None: 0  # already loaded
        # The scan that marks entry-point plugins for assertion rewriting is moot once they are imported
        # (and would warn that they were); keep only its side effect of handing the hook over.
        self.config._mark_plugins_for_rewrite = lambda hook, disable_autoload: setattr(pm, "rewrite_hook", hook)
        self._preregister_env_plugins(pm)
        cache_fixture_scans()
        pytest_config.get_config = self._get_config
        return self

    @staticmethod
    def _preregister_env_plugins(pm):
        """Import and register PYTEST_PLUGINS now (chain's report plugin); the run's own lookup then finds
        them registered and skips the import and its assertion rewriting."""
        for name in filter(None, (n.strip() for n in os.environ.get("PYTEST_PLUGINS", "").split(","))):
            try:
                pm.register(__import__(name), name)
            except Exception:
                pass  # the run imports it the ordinary way and reports any error itself

    def _get_config(self, args=None, plugins=None, *, prog=None):
        config = self.config
        config.invocation_params = self.pc.Config.InvocationParams(
            args=args or (), plugins=plugins, dir=pathlib.Path.cwd()
        )
        if args:
            config.pluginmanager.consider_preparse(args, exclude_only=True)
        if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
            for name in self.entrypoint_plugins:
                config.pluginmanager.unregister(name=name)
        return config

    def main(self, args):
        return self._main(args)

    def learn_imports(self):
        """Run one throwaway session in a child and import, here, the modules it needed (pdb, faulthandler,
        plugins' hook modules, ...), so that no real run imports them again."""
        import importlib
        import shutil
        import tempfile

        where = tempfile.mkdtemp(prefix="warmup-")
        with open(os.path.join(where, "test_chain_warmup.py"), "w") as fh:
            fh.write("def test_warmup():\n    assert True\n")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.dup2(null, 2)
                os.chdir(where)
                os.environ.pop("CHAIN_PYTEST_REPORT", None)
                before = set(sys.modules)
                self.main(["-q"])
                os.write(write_end, json.dumps(sorted(set(sys.modules) - before)).encode())
            except BaseException:
                code = 1
            os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as fh:
            names = json.loads(fh.read() or b"[]")
        os.waitpid(pid, 0)
        shutil.rmtree(where, ignore_errors=True)
        for name in names:
            if "warmup" not in name:
                try:
                    importlib.import_module(name)
                except Exception:
                    pass


def cache_fixture_scans():
    """Make pytest's fixture scan of long-lived plugins cheap.

    At every session start pytest walks dir() of each registered plugin (~2,000 names) looking for fixtures.
    The plugins are the same modules and classes in every run, so the worker computes once which names can
    matter to that scan (fixture definitions, and anything wrapped that the scan would warn about) and
    `_pytest.fixtures` gets a dir() that answers from this table for those holders; any other holder (test
    modules, test classes, conftests) gets the real dir()."""
    import builtins
    import inspect
    import types

    import _pytest.fixtures as fixtures

    definition = getattr(fixtures, "FixtureFunctionDefinition", None)
    if definition is None:
        return  # another pytest: leave its scan alone
    real_dir = builtins.dir

    def relevant(holder, name):
        raw = (
            holder.__dict__.get(name)
            if isinstance(holder, types.ModuleType)
            else inspect.getattr_static(holder, name, None)
        )
        try:
            value = getattr(holder, name, None)
        except Exception:
            return True
        return (
            type(value) is definition
            or type(raw) is definition
            or isinstance(raw, (staticmethod, classmethod))
            or hasattr(raw, "__wrapped__")
            or hasattr(raw, "_mock_name")
        )

    holders = set()
    for name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType) or name == "__main__":
            continue
        if name.startswith(("_pytest", "pytest", "pluggy", "xdist", "pytest_", "chain_pytest_report")):
            holders.add(module)
            holders.update(v for v in vars(module).values() if isinstance(v, type) and v.__module__ == name)
    table = {}
    for holder in holders:
        try:
            table[holder] = [n for n in real_dir(holder) if relevant(holder, n)]
        except Exception:
            pass

    def fast_dir(*args):
        if len(args) != 1:
            return real_dir(*args)
        obj = args[0]
        holder = obj if isinstance(obj, (types.ModuleType, type)) else type(obj)
        try:
            names = table.get(holder)
        except TypeError:
            names = None
        # For an instance, the scan looks every name up on its type, so the type's names are all that matter.
        return real_dir(obj) if names is None else list(names)

    fixtures.dir = fast_dir


def restart_timers(config):
    """Timers plugins started with the session (the terminal's "in 0.01s") start again with the run."""
    timing = sys.modules.get("_pytest.timing")
    instant = getattr(timing, "Instant", None)
    if instant is None:
        return
    for plugin in config.pluginmanager.get_plugins():
        attrs = getattr(plugin, "__dict__", None)
        if not isinstance(attrs, dict) or isinstance(plugin, type(sys)):
            continue
        for name, value in list(attrs.items()):
            if type(value) is instant:
                setattr(plugin, name, instant())
