"""`remote_confine.py CONFIG_JSON -- COMMAND...`: the minimal view inside a remote sandbox (E2B), then COMMAND.

A remote sandbox is a whole machine chain does not know in advance: which Python the template has, where its
packages live. So this wrapper, uploaded with the run beside `confine.py` and `interpreter_dirs.py` (standard
library only, loaded from this directory), learns the view there: CONFIG_JSON is confine.py's config plus

  "interpreters": names looked up on PATH (python3, python): each one found adds the directories it needs
                  (interpreter_dirs.py) to "read";
  "status":       a file where the outcome goes, read back by chain for the run's `isolation`:
                  {"confined": true, "landlock_abi": N, "read": [...]} or {"confined": false, "reason": "..."};
  "unset":        environment variables to remove before COMMAND starts;
  "required":     when false, a machine that cannot confine (an old kernel, Landlock off) runs COMMAND
                  unconfined and says so in the status file; when true it does not run it (exit 126).
"""

import importlib.util
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_chain_{name}", os.path.join(HERE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_status(path, status):
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(status, fh)


def view(config, interpreter_dirs):
    """confine.py's config, with the directories of the interpreters found on this machine's PATH."""
    read = list(config.get("read", ()))
    probed = set()
    for name in config.get("interpreters", ()):
        python = shutil.which(name)
        if python is None or os.path.realpath(python) in probed:
            continue  # python and python3 are often one interpreter: each probe starts a process, once is enough
        probed.add(os.path.realpath(python))
        try:
            read += interpreter_dirs.directories(interpreter_dirs.probe(python))
        except Exception as exc:  # a broken interpreter: the tests will say so themselves
            print(f"chain-confine: cannot probe {python}: {exc}", file=sys.stderr)
    out = {k: v for k, v in config.items() if k not in ("interpreters", "status", "required")}
    out["read"] = [p for p in dict.fromkeys(read) if os.path.exists(p)]
    return out


def main(argv):
    if len(argv) < 3 or argv[1] != "--":
        print("usage: remote_confine.py CONFIG_JSON -- COMMAND...", file=sys.stderr)
        return 2
    config = json.loads(argv[0])
    for name in config.get("unset", ()):  # chain's own variables that carried this config: not the task's
        os.environ.pop(name, None)
    status_path, required = config.get("status"), bool(config.get("required"))
    try:
        confine = _load("confine")
        wanted = view(config, _load("interpreter_dirs"))
        abi = confine.apply(wanted)
        _write_status(status_path, {"confined": True, "landlock_abi": abi, "read": wanted["read"]})
    except (OSError, ValueError, AttributeError) as exc:  # AttributeError: no libc symbol (not Linux)
        _write_status(status_path, {"confined": False, "reason": str(exc)})
        print(f"chain-confine: cannot confine the run: {exc}", file=sys.stderr)
        if required:
            return 126
    try:
        os.execvp(argv[2], argv[2:])
    except OSError as exc:
        print(f"chain-confine: cannot start {argv[2]}: {exc}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
