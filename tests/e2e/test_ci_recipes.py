"""The CI recipes the README quotes (docs/ci/*), run: GitLab's jobs' scripts, the GitHub workflow's use of
action.yml, the pre-commit config's hook; and the README quoting them as they are."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import yaml

from tests.conftest import ROOT
from tests.e2e.test_ci_action import action_run, wheel  # noqa: F401  (wheel is a fixture)

RECIPES = ROOT / "docs" / "ci"


def run_gitlab_job(job: dict, workspace: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    # GitLab's runner runs `script:` in one bash session that stops at the first failing line (set -eo pipefail).
    # `before_script` installs chain from PyPI: here chain is installed already, so it is not run.
    script = "set -eo pipefail\n" + "\n".join(job["script"])
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    return subprocess.run(["bash", "-c", script], cwd=workspace, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": path, "CHAIN_PLUGINS": "", **env})


def test_gitlab_recipe_parallel_jobs_and_merge_learn_across_pipelines(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAIN_STATE")
    config = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())
    jobs, merge = config["chain"], config["chain-merge"]
    state = ".chain/state.db"
    assert jobs["cache"]["paths"] == merge["cache"]["paths"] == [state]
    assert jobs["cache"]["key"] == merge["cache"]["key"] and merge["cache"]["policy"] == "pull-push"
    workspace = tmp_path / "repo"
    for n in range(2 * jobs["parallel"]):  # small projects whose tests pass (the repair search is not what this tests)
        shutil.copytree(ROOT / "examples" / "projects" / "wordfreq", workspace / "projects" / f"wordfreq_{n}")
    nodes = jobs["parallel"]
    for pipeline in range(2):  # the second pipeline starts from the cache the first one's merge job saved
        for job_dir in (workspace / ".chain").glob("job-*.db"):
            job_dir.unlink()
        # The parallel jobs run at once, as GitLab runs them: each learns into its own database.
        with ThreadPoolExecutor(nodes) as pool:
            procs = list(pool.map(lambda node: run_gitlab_job(
                jobs, workspace, {"CI_NODE_INDEX": str(node), "CI_NODE_TOTAL": str(nodes)}), range(1, nodes + 1)))
        for node, proc in enumerate(procs, start=1):
            assert proc.returncode == 0, proc.stderr
            assert (workspace / f"junit-{node}.xml").exists()  # matches artifacts:reports:junit
            assert proc.stdout.startswith("### chain: 2 task(s)")
        proc = run_gitlab_job(merge, workspace, {})
        assert proc.returncode == 0, proc.stderr
        assert f"merged {nodes} database(s)" in proc.stderr
        rows = dict(sqlite3.connect(workspace / state).execute(
            "SELECT stage, SUM(executions) FROM profile_stats GROUP BY stage").fetchall())
        # every project once per pipeline; the base every job restored counts once
        tasks = 2 * nodes * (pipeline + 1)
        assert rows == {"analyze": tasks, "process": tasks}


def test_github_workflow_recipe_runs_the_action_with_its_inputs(tmp_path, wheel, monkeypatch):  # noqa: F811
    monkeypatch.delenv("CHAIN_STATE")
    workflow = yaml.safe_load((RECIPES / "github-workflow.yml").read_text())
    steps = workflow["jobs"]["chain"]["steps"]
    (chain_step,) = [s for s in steps if s.get("id") == "chain"]
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert set(chain_step["with"]) <= set(action["inputs"])
    (upload,) = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif")]
    assert upload["with"]["sarif_file"] == "${{ steps.chain.outputs.sarif }}" and "sarif" in action["outputs"]

    run = action_run(tmp_path, wheel, chain_step["with"]["pipeline"])
    shutil.rmtree(run.workspace)
    # The repository is one small project (the repair search is the action test's and the report tests' concern).
    shutil.copytree(ROOT / "examples" / "projects" / "wordfreq", run.workspace)
    run.contexts["inputs"].update({k: v for k, v in chain_step["with"].items() if k != "pipeline"})
    run.run()
    assert run.exit_codes == [0, 0, 0, 0], getattr(run, "failed_step", None)
    ndjson = (run.workspace / "chain.ndjson").read_bytes()
    (result,) = [orjson.loads(line) for line in ndjson.splitlines()]
    assert [h["stage"] for h in result["task"]["history"]] == ["analyze", "process"] and result["status"] == "passed"
    sarif = orjson.loads((run.workspace / run.contexts["steps"]["report"]["outputs"]["sarif"]).read_bytes())
    assert sarif["version"] == "2.1.0"  # the file upload-sarif is given exists and is SARIF


def test_pre_commit_recipe_names_the_hook_this_repository_defines():
    config = yaml.safe_load((RECIPES / "pre-commit-config.yaml").read_text())
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    ((hook,),) = [r["hooks"] for r in config["repos"]]
    assert hook["id"] in hooks  # tests/e2e/test_ci_precommit.py runs that hook with pre-commit try-repo


def test_readme_quotes_the_recipes_as_they_are():
    proc = subprocess.run([sys.executable, "scripts/readme_sections.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    readme = (ROOT / "README.md").read_text()
    for name in ("github-workflow.yml", "gitlab-ci.yml", "pre-commit-config.yaml"):
        assert (RECIPES / name).read_text() in readme
