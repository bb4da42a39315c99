"""Runs inside the sandbox after `coverage run` with dynamic contexts: prints, on one marked line, which test
executed which lines of the workspace's files ({file: {line: [test contexts]}}). Standard library + coverage."""

import json
import os
import sys

MARK = "CHAIN-SPECTRUM "


def main():
    import coverage

    data = coverage.CoverageData(basename=os.environ.get("COVERAGE_FILE", ".coverage"))
    data.read()
    root = os.getcwd()
    out = {}
    for path in data.measured_files():
        rel = os.path.relpath(path, root)
        if rel.startswith(".."):
            continue
        by_line = data.contexts_by_lineno(path)
        out[rel] = {str(line): sorted(c for c in contexts if c) for line, contexts in by_line.items()}
    sys.stdout.write(MARK + json.dumps(out, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
