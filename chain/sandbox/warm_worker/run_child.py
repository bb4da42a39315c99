"""What every run's child does between the fork and pytest: its own session, the run's pipes, cwd,
environment and rlimits, then `confine`, and it leaves with os._exit. stdlib only (+ pytest via `warm`)."""

import os
import resource
import signal
import sys
import time

# Signals a run could send its runner (its parent, and with namespaces its PID 1): ignored by the runner,
# restored in each run's child.
RUNNER_IGNORES = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def set_limits(limits):
    mb = 1 << 20
    for which, value in (
        (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_AS, limits.memory_mb * mb),
        (resource.RLIMIT_FSIZE, limits.file_mb * mb),
        (resource.RLIMIT_NPROC, limits.nproc),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))


CONFINE = None  # chain/sandbox/confine.py, loaded by the template when its runs are confined (landlock-warm)


def load_confine():
    """confine.py sits in chain/sandbox beside this package and, like it, needs nothing but the standard
    library. Loaded once in the template (`--confine`), so a run's child pays only for the syscalls."""
    global CONFINE
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "confine.py")
    spec = importlib.util.spec_from_file_location("_chain_confine", path)
    CONFINE = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(CONFINE)


def confine(request):
    """The one place where a run's child restricts itself further, after the fork, its rlimits and its
    environment, and just before any code of the task runs (both the plain and the prepared path call it):
    Landlock and seccomp when chain asks (`request.confine`; the landlock-warm backend). A run that asked
    and cannot be confined does not run at all."""
    if request.confine is None:
        return
    try:
        if CONFINE is None:
            raise RuntimeError("this warm template was started without --confine")
        CONFINE.apply(request.confine)
    except BaseException as exc:
        os.write(2, f"chain-confine: cannot confine the run: {exc}\n".encode())
        os._exit(126)


def take_environment(request):
    """The run's cwd, environment, sys.path and argv, as `python -m pytest` in that directory would have them."""
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    for entry in reversed(request.env.get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    if request.cwd_on_path:  # `python -m pytest` puts the working directory first on sys.path
        sys.path.insert(0, request.cwd)
    sys.argv = ["pytest", *request.args]
    workspace = [p for p in sys.path if p == request.cwd or p.startswith(request.cwd + os.sep)]
    forget_shadowed(workspace)
    # The template imported tempfile (pytest does) and may have cached its directory: a run's temporary
    # files belong in the run's own TMPDIR (the only temp dir a confined run can write), not the template's.
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None


KEEP = ("pytest", "_pytest", "pluggy", "py", "chain_pytest_report", "chain_test_limits", "chain_spectrum")


def forget_shadowed(workspace):
    """Forget what the template imported (pytest itself imports pygments, packaging, iniconfig, ...) that a
    workspace directory first on sys.path has a copy of: the run imports the workspace's, as `python -m
    pytest` there would (the task's code, not the installed original). The standard library and pytest's own
    packages stay: the worker runs on them."""
    import importlib.machinery

    if not workspace:
        return
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    package = __name__.partition(".")[0]
    tops = {name.partition(".")[0] for name in list(sys.modules)}
    for top in tops - set(stdlib) - set(KEEP) - {package, "__main__"}:
        module = sys.modules.get(top)
        origin = getattr(module, "__file__", None)
        if not origin or any(origin.startswith(d + os.sep) for d in workspace):
            continue
        try:
            spec = importlib.machinery.PathFinder.find_spec(top, workspace)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]


def become_run(fds, sock):
    """First steps of every run's child: its own session, no line to chain, stdin empty, stdout/stderr the
    run's pipes, and signals as a fresh Python has them (the runner ignores the ones a run could send it)."""
    os.setsid()
    sock.close()  # the code under test must not be able to talk to chain
    out, err = fds
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(null)
    for sig in RUNNER_IGNORES:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def mark_started():
    """The report plugin times the run from here, not from when the warm process imported it."""
    report_plugin = sys.modules.get("chain_pytest_report")
    if report_plugin is not None:
        report_plugin._started = time.time()


def finish_run(code):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(code)


def plain_child(request, fds, sock, warm):
    """In the forked child of a plain runner: become the run, then run a whole pytest session. Never returns."""
    code = 70
    try:
        become_run(fds, sock)
        for fd in fds:
            os.close(fd)
        take_environment(request)
        set_limits(request.limits)
        confine(request)
        mark_started()
        code = int(warm.main(request.args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        finish_run(code)
