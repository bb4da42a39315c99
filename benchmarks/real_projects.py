"""Real projects' own test suites: `python -m pytest` against `chain task DIR | chain analyze`, same environment.

Each project's sdist is downloaded from PyPI at run time (`pip download --no-binary :all: --no-deps`; nothing
is committed), unpacked under --workdir, installed editable (with what its tests import) into one venv that
also holds chain, then run once directly with `python -m pytest -q` and once through chain with its defaults
(`chain task DIR | chain analyze` as one pipe, `--sandbox auto`, the default profile). It prints one row per
project: both tallies, both wall times, and whether they match; then chain's wall time over pytest's for the
suites that take >= 10 s (targets: <= 1.05x when all pass, <= 2x when a failure makes analyze localize with
coverage).

    .venv/bin/python benchmarks/real_projects.py [--workdir DIR] [--only six,toolz] [--sandbox bwrap] [--no-failing]
                                                 [--repeat 3]

A project with a `mutant` (Pygments) gets a second row with a one-line bug that makes one test fail, for the
ratio with localization; the edit is made in its unpacked tree for that row only and put back after.

The machine may be shared: absolute times are noisy, the ratio is measured in the same run. Exit code 0 when
every row matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^=*\s*(\d+ [a-z].*?) in [\d.]+s")
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # a project's addopts may say --color=yes (wcwidth does)
FIELDS = {"passed": "passed", "failed": "failed", "error": "errors", "errors": "errors", "skipped": "skipped",
          "xfailed": "xfailed", "xpassed": "xpassed", "subtests passed": "subtests_passed"}


@dataclass
class Project:
    name: str  # the PyPI name
    version: str
    layout: str  # what makes it a different case
    args: str = ""  # pytest arguments (paths), as the project's CI runs them
    deps: list[str] = field(default_factory=list)  # what its tests import beyond the project itself
    # A one-line edit (path, old text, new text) that makes one of its tests fail: a second row, "NAME
    # (1 failing)", times analyze when a failure makes it rerun the failing test and localize with coverage.
    mutant: tuple[str, str, str] | None = None


PROJECTS = [
    Project("six", "1.17.0", "flat: one module and one test file at the top"),
    Project("more-itertools", "11.2.1", "flat package + tests/ (unittest-style classes, doctests off)", "tests"),
    Project("toolz", "1.2.0", "tests inside the package (toolz/tests)", "toolz"),
    Project("idna", "3.20", "tests/ reading Unicode data files next to them", "tests", ["hypothesis"]),
    Project("boltons", "26.2.0", "flat package + tests/ with conftest and data files", "tests"),
    Project("cachetools", "8.0.2", "src layout, tests/", "tests"),
    Project("iniconfig", "2.3.1", "src layout, testing/ with a conftest", "testing"),
    Project("packaging", "26.4", "src layout, tests/ with manylinux/musllinux data, pretend", "tests",
            ["pretend", "tomli_w", "hypothesis"]),
    # Markdown 3.10 was here: its suite is run with unittest upstream, and under pytest its own collection fails
    # (a TestSuite class with __init__, the warning made an error by the suite): 1 error either way, a row that
    # says nothing. pyparsing has the same layout (flat package, tests/ of unittest TestCases with data files).
    Project("pyparsing", "3.3.3", "flat package + tests/ (unittest TestCase classes, data files, diagrams)", "tests",
            ["railroad-diagrams", "jinja2"]),
    Project("jmespath", "1.0.1", "flat package + tests/ with JSON compliance data", "tests"),
    Project("wcwidth", "0.2.14", "flat package + tests/ with data tables, addopts --cov", "tests", ["pytest-cov"]),
    Project("simplejson", "3.20.2", "tests inside the package (simplejson/tests, unittest)", "simplejson/tests"),
    Project("pytz", "2025.2", "tests inside the package (pytz/tests, doctests in text files)", "pytz/tests"),
    # Pygments' tox installs pytest-randomly, and its suite needs it: test_basic_api shuffles its random input at
    # import, and unseeded some orders send a lexer's regex into minutes of backtracking (seen here: one test
    # over 20 minutes). With a fixed seed both runs get the same input and order. The other projects run with
    # `-p no:randomly` (pytest_args), since this one venv holds it for all.
    Project("Pygments", "2.19.2", "> 5,000 tests, example files as data, conftest plugins, pytest-randomly",
            "tests --randomly-seed=1", ["wcag-contrast-ratio", "pytest-randomly"],
            mutant=("pygments/util.py", "lines.append(base_indent + var_name + ' = (')",
                    "lines.append(base_indent + var_name + ' = [')")),  # test_util.py::test_format_lines fails
]


def sh(argv: list[str], cwd: Path | None = None, env: dict | None = None, stdin: bytes | None = None,
       timeout: float = 1800) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, timeout=timeout,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    return done, time.monotonic() - started


def tally(summary: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in summary.split(", "):
        n, _, category = part.partition(" ")
        if category in FIELDS and n.isdigit():
            counts[FIELDS[category]] = counts.get(FIELDS[category], 0) + int(n)
    return counts


def pytest_tally(stdout: str) -> dict[str, int] | None:
    for line in reversed(ANSI.sub("", stdout).splitlines()):
        m = SUMMARY.match(line)
        if m:
            return tally(m.group(1))
    return None


def prepare_venv(work: Path) -> Path:
    env_dir = work / "venv"
    python = env_dir / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(env_dir)
        done, _ = sh([str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)])
        if done.returncode:
            sys.exit(f"cannot install chain into {env_dir}: {done.stderr.decode()[-2000:]}")
    return python


def fetch(project: Project, python: Path, work: Path) -> Path | str:
    """The unpacked, installed project directory, or why not. Installed once (the marker is kept outside the
    tree, which chain task reads whole)."""
    target = work / "src" / f"{project.name}-{project.version}"
    marker = work / "installed" / f"{project.name}-{project.version}-{'+'.join(project.deps)}"
    if not target.exists():
        sdists = work / "sdists"
        sdists.mkdir(parents=True, exist_ok=True)
        done, _ = sh([str(python), "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
                      f"{project.name}=={project.version}", "-d", str(sdists)])
        if done.returncode:
            return f"download failed: {done.stderr.decode().strip().splitlines()[-1:]}"
        stem = f"{project.name.replace('-', '_')}-{project.version}".lower()
        archive = next((p for p in sdists.iterdir() if p.name.lower().startswith(stem)
                        or p.name.lower().startswith(f"{project.name.lower()}-{project.version}")), None)
        if archive is None:
            return "sdist not found after download"
        with tarfile.open(archive) as tar:
            top = tar.getnames()[0].split("/")[0]
            tar.extractall(work / "src", filter="data")
        unpacked = work / "src" / top
        if unpacked != target:
            unpacked.rename(target)
    if not marker.exists():
        done, _ = sh([str(python), "-m", "pip", "install", "-q", "-e", str(target), *project.deps])
        if done.returncode:
            return f"install failed: {done.stderr.decode().strip().splitlines()[-1:]}"
        marker.parent.mkdir(exist_ok=True)
        marker.write_text("")
    return target


def pytest_args(project: Project) -> list[str]:
    """The project's pytest arguments; pytest-randomly (installed for one project) off for the others."""
    return [*project.args.split(), *([] if "pytest-randomly" in project.deps else ["-p", "no:randomly"])]


def run_direct(project: Project, python: Path, where: Path) -> tuple[dict | None, float, int]:
    env = {**os.environ, "PATH": f"{python.parent}:{os.environ['PATH']}", "VIRTUAL_ENV": str(python.parent.parent)}
    done, wall = sh([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args(project)],
                    cwd=where, env=env)
    return pytest_tally(done.stdout.decode(errors="replace")), wall, done.returncode


def run_chain(project: Project, python: Path, where: Path, sandbox: str, state: Path) -> tuple[dict | None, float, str]:
    chain = str(python.parent / "chain")
    env = {**os.environ, "PATH": f"{python.parent}:{os.environ['PATH']}", "VIRTUAL_ENV": str(python.parent.parent),
           "CHAIN_STATE": str(state)}
    test = " ".join(["python -m pytest -q", *pytest_args(project)])
    started = time.monotonic()
    # A pipe, as the user runs it: analyze starts its sandbox while task is still reading the tree.
    task = subprocess.Popen([chain, "task", str(where), "--test", test], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    analyze = subprocess.run([chain, "analyze", "--sandbox", sandbox], stdin=task.stdout, capture_output=True,
                             env=env, timeout=1800)
    task.stdout.close()
    task.wait()
    wall = time.monotonic() - started
    (state.parent / "out").mkdir(exist_ok=True)  # what analyze said, kept for a look at a row that differs
    (state.parent / "out" / f"{where.name}.ndjson").write_bytes(analyze.stdout)
    results = [json.loads(line) for line in analyze.stdout.splitlines() if line.strip()]
    result = next((r for r in results if r.get("type") == "result"), None)
    if result is None:
        errors = [r.get("message") for r in results if r.get("type") == "error"]
        return None, wall, f"no result: {errors or analyze.stderr.decode()[-300:]}"
    counts = {k: v for k, v in result["tests"].items() if v and k != "total"}
    return counts, wall, f"{result['status']}: {result['result'][:150]}"


class Mutated:
    """The project's tree with its `mutant` edit applied for the rows inside the block, put back after (also
    when an earlier run was interrupted: the original is kept beside the tree until it is restored)."""

    def __init__(self, project: Project, where: Path, work: Path):
        path, self.old, self.new = project.mutant or ("", "", "")
        self.file = where / path
        self.saved = work / "installed" / f"{where.name}.{path.replace('/', '_')}.orig"

    def restore(self) -> None:
        if self.saved.exists():
            self.file.write_bytes(self.saved.read_bytes())
            self.saved.unlink()

    def __enter__(self) -> Mutated:
        self.restore()
        text = self.file.read_text(encoding="utf-8")
        if text.count(self.old) != 1:
            raise SystemExit(f"{self.file}: the mutant's line is not there exactly once")
        self.saved.write_text(text, encoding="utf-8")
        self.file.write_text(text.replace(self.old, self.new), encoding="utf-8")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()


def fmt(counts: dict | None) -> str:
    if not counts:
        return "-"
    short = {"passed": "p", "failed": "f", "errors": "e", "skipped": "s", "xfailed": "xf", "xpassed": "xp",
             "subtests_passed": "sub"}
    return " ".join(f"{v}{short.get(k, k)}" for k, v in counts.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/chain-real-projects"),
                        help="downloads, unpacked projects and the venv (outside /tmp: bwrap hides /tmp)")
    parser.add_argument("--only", default="", help="comma-separated project names")
    parser.add_argument("--sandbox", default="auto")
    parser.add_argument("--no-failing", action="store_true", help="skip the rows with a one-line bug (mutant)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each row's pair (pytest, then chain) this many times, interleaved; the times "
                             "shown and the ratio are the medians (a shared machine's stalls hit one run, not all)")
    opts = parser.parse_args()
    work = opts.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    python = prepare_venv(work)
    chosen = [p for p in PROJECTS if not opts.only or p.name in opts.only.split(",")]
    rows, ratios, all_match = [], [], True
    header = f"{'project':16} {'layout':58} {'pytest':28} {'chain':28} {'pytest s':>8} {'chain s':>8}  match"
    print(header, flush=True)
    for project in chosen:
        where = fetch(project, python, work)
        if isinstance(where, str):
            print(f"{project.name:16} {project.layout[:58]:58} {where}", flush=True)
            all_match = False
            continue
        variants = [(project.name, project.layout, None)]
        if project.mutant and not opts.no_failing:
            variants.append((f"{project.name} (1 failing)", f"one-line bug in {project.mutant[0]}", project))
        for name, layout, mutant in variants:
            pairs = []
            for i in range(max(1, opts.repeat)):
                # Pairs alternate their order (pytest first, then chain first, ...): a machine that slows down
                # during a long benchmark would otherwise always charge the second run of each pair.
                def one_pair(first_direct: bool = i % 2 == 0) -> tuple:
                    if first_direct:
                        d = run_direct(project, python, where)
                        return d, run_chain(project, python, where, opts.sandbox, work / "state.db")
                    c = run_chain(project, python, where, opts.sandbox, work / "state.db")
                    return run_direct(project, python, where), c

                if mutant is not None:
                    with Mutated(mutant, where, work):
                        pairs.append(one_pair())
                else:
                    pairs.append(one_pair())
            (direct, _, code), (chained, _, status) = pairs[-1]
            direct_s = statistics.median(d[1] for d, _ in pairs)
            chain_s = statistics.median(c[1] for _, c in pairs)
            match = all(d[0] is not None and d[0] == c[0] for d, c in pairs)
            all_match &= match
            print(f"{name[:16]:16} {layout[:58]:58} {fmt(direct):28} {fmt(chained):28} {direct_s:8.1f} "
                  f"{chain_s:8.1f}  {'yes' if match else 'NO'}", flush=True)
            if not match or mutant is not None:
                print(f"    chain said: {status}", flush=True)
            if len(pairs) > 1:
                print("    each pair, chain/pytest: " + ", ".join(f"{c[1]:.1f}/{d[1]:.1f} s" for d, c in pairs), flush=True)
            if direct_s >= 10:  # the median of each pair's own ratio: its two runs are next to each other in time
                ratios.append((name, statistics.median(c[1] / d[1] for d, c in pairs), code == 0))
            rows.append((project, direct, chained))
    if ratios:
        print("\nchain/pytest wall time, suites >= 10 s (target <= 1.05x all passing, <= 2x with a failure)"
              + (f", median of {opts.repeat} pairs:" if opts.repeat > 1 else ":"))
        for name, ratio, passing in ratios:
            print(f"  {name:16} {ratio:5.2f}x  ({'all pass' if passing else 'failures: analyze localizes'})")
    print(f"\n{sum(1 for _, d, c in rows if d is not None and d == c)} of {len(rows)} rows match")
    return 0 if all_match else 1


if __name__ == "__main__":
    sys.exit(main())
