"""Runs inside the sandbox after `coverage run` with dynamic contexts: adds to chain's report file (the run's
$CHAIN_PYTEST_REPORT, outside the workspace) which test executed which lines of the workspace's files.

The report file is the channel because it has no size limit and every backend already brings it back (a remote
one downloads it); the run's stdout stays the user's code's, captured up to its cap. The spectrum is stored
compactly, each context name once: {"contexts": [name, ...], "files": {file: {line: [context index, ...]}}}.
Standard library + coverage: it runs in the task's interpreter, not chain's.
"""

import json
import os
import sys


def spectrum(data, root):
    index = {}
    files = {}
    for path in data.measured_files():
        rel = os.path.relpath(path, root)
        if rel.startswith(".."):
            continue
        lines = {}
        for line, contexts in data.contexts_by_lineno(path).items():
            lines[str(line)] = sorted(index.setdefault(c, len(index)) for c in contexts if c)
        files[rel] = lines
    return {"contexts": sorted(index, key=index.get), "files": files}


def main():
    import coverage

    path = os.environ.get("CHAIN_PYTEST_REPORT")
    if not path:
        sys.stderr.write("chain_spectrum: CHAIN_PYTEST_REPORT is not set, nowhere to write the spectrum\n")
        return 2
    data = coverage.CoverageData(basename=os.environ.get("COVERAGE_FILE", ".coverage"))
    data.read()
    try:
        with open(path, encoding="utf-8") as fh:
            report = json.load(fh)
    except (OSError, ValueError):
        report = {}  # pytest died before writing its report: the spectrum alone still says what ran
    report["spectrum"] = spectrum(data, os.getcwd())
    tmp = path + ".spectrum.tmp"
    text = json.dumps(report, separators=(",", ":"))  # one-shot in C; json.dump writes chunk by chunk
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
