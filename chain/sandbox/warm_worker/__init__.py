"""The warm template, its workers and their runners: pytest imported and configured once, a fresh child
per run. Everything in this package runs in those processes, under the task's interpreter, and is
stdlib-only (+ pytest); chain itself imports only `protocol` from here.

`chain.sandbox.warm_pool` starts `__main__.py` by path (so it imports nothing of chain but the report
plugin) as `python .../warm_worker/__main__.py CTRL_FD [--namespaces PATH...]`, inside the same sandbox a
cold run gets. That process, the template (`template.py`), imports pytest and builds a configured pytest
Config (`pytest_patches.py`), then forks a worker whenever chain asks. With --namespaces (bwrap) each
worker enters its own mount, PID, network, IPC and UTS namespaces and mounts its own directory as /tmp
(`namespaces.py`), so workers are as separate from each other as cold bwrap runs are, and a new worker
costs a fork rather than a Python start.

A worker serves one run at a time through its runners (`supervision.py`): a plain runner, whose children
each run a whole session, and up to two prepared runners (`prepared_session.py`), which have gone through
a session's start-up once for one key (see `prepared_key.prepare_key`) and whose children go on from there.
Each run is a fresh fork of a runner (`run_child.py`). With namespaces a runner is PID 1 of a PID namespace
of its own and has no capabilities; after each run it kills whatever the run left behind with kill(-1)
(atomic: nothing can fork past it); without namespaces chain kills the worker's cgroup around the worker
and its runners.

What a run no longer pays for: starting Python, importing pytest and its plugins, scanning installed
distributions for pytest11 entry points, registering the ~40 built-in plugins (a prebuilt Config is handed
to `pytest.main` through `get_config`), scanning those plugins for fixtures (`cache_fixture_scans`),
importing what every session imports (`learn_imports`), and from a prepared runner the session's start-up
and compiling sources it has seen before (`code_cache.py`). gc.freeze() keeps the warm heap out of every
collection.

Each child starts a new session, closes its socket, takes the run's cwd, environment and rlimits, and
leaves with os._exit. Messages are declared in `protocol.py`, JSON over SOCK_SEQPACKET sockets; a run
request carries the child's stdout and stderr as passed file descriptors, which the worker hands on to the
runner.
"""
