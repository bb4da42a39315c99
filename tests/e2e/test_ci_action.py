"""action.yml, run locally: its shell steps for real (bash, chain installed from a wheel of this tree, real
sandboxes), its `uses:` steps skipped but their inputs checked. The GitHub cache service is the one boundary we
cannot reach; where a test needs a second run to restore the first one's state, it copies the files the way
actions/cache restores them (newest entry whose key starts with `restore-keys`) and says so in its name."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class ActionRun:
    """One run of the composite action's steps, with GitHub's expression contexts for what action.yml uses."""

    def __init__(self, inputs: dict[str, str], workspace: Path, env: dict[str, str], run_id: str = "1"):
        self.action = yaml.safe_load((ROOT / "action.yml").read_text())
        declared = self.action["inputs"]
        assert set(inputs) <= set(declared), f"undeclared inputs: {set(inputs) - set(declared)}"
        self.contexts = {
            "inputs": {name: str(spec.get("default", "")) for name, spec in declared.items()} | inputs,
            "github": {"action_path": str(ROOT), "run_id": run_id, "run_attempt": "1"},
            "steps": {},
        }
        self.workspace, self.env = workspace, env
        self.files = {name: workspace.parent / f"{name}-{run_id}" for name in ("output", "summary")}
        self.uses: list[tuple[str, dict[str, str]]] = []
        self.exit_codes: list[int] = []

    def _value(self, term: str) -> str:
        term = term.strip()
        if term.startswith("'") and term.endswith("'"):
            return term[1:-1]
        value: object = self.contexts
        for part in term.split("."):
            assert isinstance(value, dict), term
            value = value.get(part, "")
        return str(value)

    def evaluate(self, expr: str) -> str | bool:
        expr = expr.strip()
        if expr == "always()":
            return True
        if m := re.fullmatch(r"(.+?)\s*(!=|==)\s*(.+)", expr):
            equal = self._value(m[1]) == self._value(m[3])
            return equal if m[2] == "==" else not equal
        # `a || b`: the first truthy operand, as GitHub evaluates it
        return next((v for v in (self._value(t) for t in expr.split("||")) if v), "")

    def substitute(self, text: str) -> str:
        return EXPR.sub(lambda m: str(self.evaluate(m[1])), text)

    def run(self, on_uses=None) -> None:
        """Every step in order; a `uses:` step is recorded with its inputs (and handed to `on_uses`)."""
        failed = False
        for step in self.action["runs"]["steps"]:
            condition = step.get("if")
            if condition is None and failed:
                continue  # success() is the default condition
            if condition is not None and not self.evaluate(EXPR.sub(lambda m: m[1], str(condition))):
                continue
            if "uses" in step:
                self.uses.append((step["uses"], {k: self.substitute(str(v)) for k, v in step.get("with", {}).items()}))
                if on_uses:
                    on_uses(*self.uses[-1])
                continue
            assert step["shell"] == "bash"
            self.files["output"].write_text("")
            env = {**os.environ, **self.env, **{k: self.substitute(str(v)) for k, v in step.get("env", {}).items()},
                   "GITHUB_OUTPUT": str(self.files["output"]), "GITHUB_STEP_SUMMARY": str(self.files["summary"])}
            script = self.workspace.parent / "step.sh"
            script.write_text(self.substitute(step["run"]))
            # GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`.
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                                  cwd=self.workspace, env=env, capture_output=True, timeout=600)
            self.exit_codes.append(proc.returncode)
            self.stdout = getattr(self, "stdout", b"") + proc.stdout
            outputs = dict(line.split("=", 1) for line in self.files["output"].read_text().splitlines() if "=" in line)
            if "id" in step:
                self.contexts["steps"][step["id"]] = {"outputs": outputs}
            if proc.returncode:
                failed = True
                self.failed_step = step.get("name"), proc.returncode, proc.stderr.decode()[-2000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """chain's wheel, built offline from the files git tracks in this tree (what `pip install <action_path>` builds)."""
    work = tmp_path_factory.mktemp("wheel")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    src = work / "src"
    for rel in filter(None, files.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(work / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    (built,) = (work / "dist").glob("chain_pipeline-*.whl")
    return built


def action_run(tmp_path, wheel, pipeline, run_id="1") -> ActionRun:
    workspace = tmp_path / "repo"
    if not workspace.exists():
        shutil.copytree(ROOT / "examples" / "projects", workspace / "projects")
    target = tmp_path / "site"  # the wheel goes here; its dependencies come from the test environment
    inputs = {"pipeline": pipeline, "install": str(wheel),
              "pip-args": f"--no-deps --no-index --upgrade --target {target}"}
    # `python` is the test's interpreter (as actions/setup-python would put one first on PATH)
    path = os.pathsep.join([str(target / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {"PATH": path, "PYTHONPATH": str(target),
           "CHAIN_PLUGINS": ""}
    env.pop("CHAIN_STATE", None)
    return ActionRun(inputs, workspace, env, run_id)


class EmulatedCache:
    """What actions/cache/restore and /save do with a path: save a copy under the key; restore the newest entry
    whose key starts with `restore-keys` (GitHub's cache service is not reachable from a test)."""

    def __init__(self, root: Path, workspace: Path):
        self.root, self.workspace = root, workspace

    def __call__(self, uses: str, with_: dict[str, str]) -> None:
        state = self.workspace / with_.get("path", "")
        if uses.startswith("actions/cache/restore"):
            entries = sorted(self.root.glob(f"{with_['restore-keys']}*"), key=lambda p: p.stat().st_mtime_ns)
            if entries:
                state.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(entries[-1] / "state.db", state)
        elif uses.startswith("actions/cache/save"):
            (self.root / with_["key"]).mkdir(parents=True)
            shutil.copy2(state, self.root / with_["key"] / "state.db")


def test_action_steps_install_run_report_and_keep_the_pipeline_status(tmp_path, wheel, monkeypatch):
    monkeypatch.delenv("CHAIN_STATE")
    run = action_run(tmp_path, wheel, "chain task projects/stats_bug | chain analyze --fail-on failed")
    run.run()
    assert run.exit_codes[:-1] == [0, 0, 0], getattr(run, "failed_step", None)  # install, run, report
    assert run.exit_codes[-1] == 6  # the last step exits with the pipeline's status (--fail-on matched)
    # chain ran from the wheel the install step installed, not from the source tree
    installed = subprocess.run(["python", "-c", "import chain; print(chain.__file__)"], cwd=run.workspace,
                               env={**os.environ, **run.env}, capture_output=True, text=True)
    assert installed.stdout.startswith(str(tmp_path / "site")), installed
    assert run.contexts["steps"]["run"]["outputs"] == {"status": "6"}
    # uses: steps, with their inputs as the action wires them
    uses = dict(run.uses)
    assert set(uses) == {"actions/cache/restore@v4", "actions/upload-artifact@v4", "actions/cache/save@v4"}
    assert uses["actions/cache/restore@v4"]["path"] == uses["actions/cache/save@v4"]["path"] == ".chain/state.db"
    assert uses["actions/cache/restore@v4"]["key"] == uses["actions/cache/save@v4"]["key"] == "chain-state-1-1"
    assert uses["actions/cache/restore@v4"]["restore-keys"] == "chain-state-"
    assert uses["actions/upload-artifact@v4"] == {"name": "chain-ndjson", "path": "chain.ndjson",
                                                  "if-no-files-found": "warn"}
    ndjson = (run.workspace / "chain.ndjson").read_bytes()
    assert b'"task_id":"stats_bug"' in ndjson and b'"status":"failed"' in ndjson
    # annotations on stdout, the summary in $GITHUB_STEP_SUMMARY, JUnit and SARIF beside the NDJSON
    assert b"::error file=projects/stats_bug/test_stats.py,line=20,title=test_stats.py%3A%3Atest_median_even failed::" \
        in run.stdout
    assert b"::warning file=projects/stats_bug/stats.py,line=18," in run.stdout
    assert run.files["summary"].read_text().startswith("### chain: 1 task(s), 0 passing, 1 failing")
    assert b"<testsuite name=\"stats_bug\"" in (run.workspace / "chain-junit.xml").read_bytes()
    assert b'"ruleId": "chain/suspicious-line"' in (run.workspace / "chain.sarif").read_bytes()
    # the state the save step would upload exists, its log folded in
    state = run.workspace / ".chain" / "state.db"
    assert sqlite3.connect(state).execute("SELECT SUM(executions) FROM profile_stats").fetchone() == (1,)
    assert not Path(f"{state}-wal").exists() or Path(f"{state}-wal").stat().st_size == 0


def test_learning_survives_two_runs_with_the_cache_service_emulated(tmp_path, wheel, monkeypatch):
    monkeypatch.delenv("CHAIN_STATE")
    cache = tmp_path / "cache"
    cache.mkdir()
    for run_id in ("1", "2"):
        run = action_run(tmp_path, wheel, "chain task projects/stats_bug projects/wordfreq | chain analyze", run_id)
        shutil.rmtree(run.workspace / ".chain", ignore_errors=True)  # every job starts on a fresh machine
        run.run(on_uses=EmulatedCache(cache, run.workspace))
        assert run.exit_codes == [0, 0, 0, 0], getattr(run, "failed_step", None)
    state = run.workspace / ".chain" / "state.db"
    (runs,) = sqlite3.connect(state).execute("SELECT executions FROM profile_stats WHERE stage = 'analyze'").fetchone()
    assert runs == 4  # two tasks in each of two jobs: the second job learned on top of the first
