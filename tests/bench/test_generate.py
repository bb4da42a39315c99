"""`chain generate`: deterministic suites whose ground truth holds, checked with real pytest runs."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from chain.bench.families import registry, slow_capable
from chain.bench.gen_task import build_task
from chain.bench.generate import generate_suite, parse_mix, truth_path_for, write_suite
from chain.bench.generate_cmd import generate
from chain.errors import ConfigError, ExitStatus
from chain.optimize.rewrites import candidates
from chain.protocol import Task
from chain.repair.mutate import mutations
from tests.conftest import ROOT

FAMILIES = list(registry())
SLOW_FAMILIES = slow_capable(registry())
OPERATORS = ("swap comparison", "swap arithmetic", "swap boolean", "off-by-one", "drop operation", "drop condition",
             "negate condition", "negate constant", "swap arguments", "replace name", "similar function",
             "replace return value", "delete statement")
TRUTH_WORDS = ("bug", "slow", "correct", "category", "difficulty", "easy", "medium", "hard", "truth", "operator",
               "mutat", "seeded", "rewrite", "speedup", "memoiz", "lru_cache", "optimi", "#@", "~~")


@pytest.fixture(scope="module")
def suite():
    return generate_suite(3, 36, difficulty="mixed")


def test_same_seed_writes_byte_identical_files(tmp_path):
    first = write_suite(generate_suite(5, 15), tmp_path / "a.ndjson")
    second = write_suite(generate_suite(5, 15), tmp_path / "b.ndjson")
    assert first == (tmp_path / "a.ndjson", tmp_path / "a.truth.json")
    for one, two in zip(first, second):
        assert one.read_bytes() == two.read_bytes()


def test_same_seed_is_identical_across_processes_with_different_hash_seeds():
    code = ("import sys; from chain.bench.generate import generate_suite; s = generate_suite(9, 14); "
            "sys.stdout.buffer.write(s.ndjson() + s.truth_json())")
    outputs = []
    for hash_seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        outputs.append(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                                      check=True).stdout)
    assert outputs[0] == outputs[1] and len(outputs[0]) > 10_000


def test_different_seeds_give_different_projects():
    one, two = generate_suite(1, 12), generate_suite(2, 12)
    assert one.ndjson() != two.ndjson()
    # Not only the ids: the code and tests differ too.
    assert sorted(map(str, (t.files for t in one.tasks))) != sorted(map(str, (t.files for t in two.tasks)))


def test_mix_sets_how_many_tasks_of_each_category():
    def categories(s):
        return sorted(t["category"] for t in s.truth.values())

    assert categories(generate_suite(0, 8, {"bugs": 0.5, "slow": 0.25, "correct": 0.25})) == \
        ["bug"] * 4 + ["correct"] * 2 + ["slow"] * 2
    assert categories(generate_suite(0, 5, parse_mix("bugs"))) == ["bug"] * 5
    assert parse_mix("bugs,slow") == {"bugs": 0.5, "slow": 0.5, "correct": 0.0}
    assert parse_mix("bug=3, correct=1") == {"bugs": 0.75, "slow": 0.0, "correct": 0.25}
    assert categories(generate_suite(0, 7, parse_mix("bugs,slow,correct"))).count("bug") == 3  # 7 = 3 + 2 + 2


@pytest.mark.parametrize("spec", ["bugz=1", "bugs=-1", "bugs=x", "bugs=0,slow=0", ""])
def test_bad_mix_is_a_config_error(spec):
    with pytest.raises(ConfigError):
        parse_mix(spec)


def test_suite_lines_are_chain_tasks_with_nothing_of_the_truth(suite):
    data = suite.ndjson()
    lines = data.splitlines()
    assert len(lines) == 36
    for index, line in enumerate(lines):
        raw = orjson.loads(line)
        task = Task.model_validate(raw)
        truth = suite.truth[task.id]
        assert task.id == f"gen-3-{index:04d}-{truth['family']}"
        assert set(raw) == {"type", "chain", "id", "kind", "files", "test", "bench", "metadata", "history"}
        assert task.metadata == {"generated": {"seed": 3, "generator_version": 1}}
        assert task.test == "python -m pytest -q" and task.bench == "python benchmark.py"
    text = data.decode().lower()
    for word in (*OPERATORS, *TRUTH_WORDS):
        assert word not in text, word
    assert {t["category"] for t in suite.truth.values()} == {"bug", "slow", "correct"}


@pytest.mark.parametrize("level", ["easy", "medium", "hard"])
def test_a_project_looks_the_same_whatever_its_category(level):
    # Same seed and index: names, layout, tests and benchmark do not tell the categories apart.
    for index in range(4):
        built = {c: build_task(4, index, c, "stairs", level)[0].files for c in ("bug", "slow", "correct")}
        assert set(built["bug"]) == set(built["slow"]) == set(built["correct"])
        for path in built["bug"]:
            if path == "benchmark.py" or path.startswith("test_") and level != "hard":  # hard drops some tests
                assert built["bug"][path] == built["slow"][path] == built["correct"][path]


def test_truth_file_describes_the_suite(tmp_path, suite):
    suite_path, truth_path = write_suite(suite, tmp_path / "s.ndjson")
    doc = orjson.loads(truth_path.read_bytes())
    assert doc["generator_version"] == 1 and doc["seed"] == 3 and doc["tasks"] == 36
    assert doc["difficulty"] == "mixed" and doc["mix"] == {"bugs": 0.6, "slow": 0.2, "correct": 0.2}
    assert doc["suite_sha256"] == hashlib.sha256(suite_path.read_bytes()).hexdigest()
    assert list(doc["truth"]) == sorted(t.id for t in suite.tasks)
    assert sum(doc["counts"].values()) == 36
    best = {"bug": "repair", "slow": "optimize", "correct": "none"}
    for truth in doc["truth"].values():
        assert truth["best_action"] == best[truth["category"]] and truth["difficulty"] in ("easy", "medium", "hard")


def test_truth_sits_where_chain_bench_looks_for_it(tmp_path):
    from chain.bench.bench_cmd import _load_truth

    for name in ("suite.ndjson", "suite.jsonl", "x"):
        suite = generate_suite(5, 3)
        written, _ = write_suite(suite, tmp_path / name)
        assert _load_truth(None, written) == orjson.loads(suite.truth_json())


def _bug_tasks(suite):
    return [(t, suite.truth[t.id]) for t in suite.tasks if suite.truth[t.id]["category"] == "bug"]


def test_bug_lines_are_where_buggy_and_correct_code_differ(suite):
    bug_tasks = _bug_tasks(suite)
    assert len(bug_tasks) >= 20
    for task, truth in bug_tasks:
        correct = truth["correct_files"]
        assert set(correct) == set(task.files)
        differing = set()
        for path in task.files:
            given, right = task.files[path].splitlines(), correct[path].splitlines()
            assert len(given) == len(right)  # every seeded bug is an edit within one line
            differing |= {(path, i + 1) for i, (a, b) in enumerate(zip(given, right)) if a != b}
        assert differing == {(b["file"], b["line"]) for b in truth["bugs"]}
        for bug in truth["bugs"]:
            assert correct[bug["file"]].splitlines()[bug["line"] - 1] == bug["original"]
            assert task.files[bug["file"]].splitlines()[bug["line"] - 1] == bug["mutated"]
            assert bug["operator"].startswith(OPERATORS) and bug["fix_operator"].startswith(OPERATORS)
            if truth["difficulty"] == "hard" and bug is truth["bugs"][0] and len(truth["bugs"]) == 1:
                assert len(bug["failing_tests"]) == 1


def test_chain_repair_can_undo_every_seeded_bug(suite):
    for task, truth in _bug_tasks(suite):
        files = dict(task.files)
        for bug in truth["bugs"]:  # undo one at a time: each is a single mutation at its line
            path, text = bug["file"], files[bug["file"]]
            lines = text.split("\n")
            wanted = "\n".join([*lines[: bug["line"] - 1], bug["original"], *lines[bug["line"]:]])
            results = [text[: e.start] + e.text + text[e.end:] for e in mutations(path, text, bug["line"])]
            assert wanted in results or ast.dump(ast.parse(wanted)) in {ast.dump(ast.parse(r)) for r in results}
            files[path] = wanted
        assert files == truth["correct_files"]


def test_only_slow_tasks_offer_an_optimize_rewrite_and_it_is_the_expected_one(suite):
    for task in suite.tasks:
        truth = suite.truth[task.id]
        offered = [(r.file, r.name, r.text) for r in candidates(task.files)]
        if truth["category"] == "slow":
            slow = truth["slow"]
            assert offered == [(slow["file"], slow["rewrite"], slow["optimized"][slow["file"]])]
            assert slow["speedup_class"] and slow["min_speedup"] >= 1.2
        else:
            assert offered == []


# --- real pytest runs ------------------------------------------------------------------------------------------


def _pytest(files: dict[str, str], where: Path) -> tuple[int, list[str], str]:
    where.mkdir(parents=True)
    for path, text in files.items():
        (where / path).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")  # the projects need no plugins
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider"], cwd=where,
                         capture_output=True, text=True, timeout=120, env=env)
    failed = sorted(re.findall(r"^FAILED (\S+)", run.stdout, re.M))
    return run.returncode, failed, run.stdout[-3000:]


def _sample():
    """Every family as a bug (whose correct files run too), every slow form, a few correct tasks, the
    difficulties in turn, and one task with two bugs."""
    levels = ("easy", "medium", "hard")
    jobs = [(i, "bug", f, levels[i % 3]) for i, f in enumerate(FAMILIES)]
    jobs += [(i, "correct", f, levels[(i + 1) % 3]) for i, f in enumerate(FAMILIES) if i % 3 == 0]
    jobs += [(i, "slow", f, levels[(i + 2) % 3]) for i, f in enumerate(SLOW_FAMILIES)]
    two_bugs = next(i for i in range(40) if len(build_task(7, i, "bug", "totals", "hard")[1]["bugs"]) == 2)
    return jobs + [(two_bugs, "bug", "totals", "hard")]


def test_generated_projects_behave_as_their_truth_says_under_real_pytest(tmp_path):
    def check(job):
        index, category, family, level = job
        task, truth = build_task(7, index, category, family, level)
        name = f"{category}-{family}-{level}-{index}"
        code, failed, out = _pytest(task.files, tmp_path / name / "given")
        problems = []
        if category == "bug":
            expected = sorted(t for b in truth["bugs"] for t in b["failing_tests"])
            if code != 1 or failed != expected:
                problems.append(f"{name}: exit {code}, failed {failed}, truth says {expected}\n{out}")
            code, _, out = _pytest(truth["correct_files"], tmp_path / name / "correct")
        if code != 0:
            problems.append(f"{name}: the correct code fails (exit {code})\n{out}")
        if category == "slow":
            optimized = {**task.files, **truth["slow"]["optimized"]}
            code, _, out = _pytest(optimized, tmp_path / name / "optimized")
            if code != 0:
                problems.append(f"{name}: the expected rewrite breaks the tests\n{out}")
        return problems

    jobs = _sample()
    assert {j[2] for j in jobs if j[1] == "bug"} == set(FAMILIES) and len(SLOW_FAMILIES) >= 4
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = [p for found in pool.map(check, jobs) for p in found]
    assert not problems, "\n\n".join(problems)


# --- the command ---------------------------------------------------------------------------------------------


def test_command_writes_the_suite_and_its_truth_beside_it(tmp_path):
    out = tmp_path / "suite.ndjson"
    res = CliRunner().invoke(generate, ["--seed", "4", "--tasks", "6", "--mix", "bugs=2,slow=1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    expected = generate_suite(4, 6, {"bugs": 2, "slow": 1}, "mixed")
    assert out.read_bytes() == expected.ndjson()
    assert (tmp_path / "suite.truth.json").read_bytes() == expected.truth_json()
    assert "6 tasks (4 bug, 2 slow, 0 correct)" in res.stderr and res.stdout == ""


def test_command_streams_tasks_to_stdout_and_truth_to_its_own_file(tmp_path):
    truth = tmp_path / "t.json"
    res = CliRunner().invoke(generate, ["--seed", "4", "--tasks", "3", "--difficulty", "easy", "--truth", str(truth)])
    assert res.exit_code == 0, res.output
    expected = generate_suite(4, 3, None, "easy")
    assert res.stdout_bytes == expected.ndjson() and truth.read_bytes() == expected.truth_json()


def test_command_warns_when_no_truth_is_written():
    res = CliRunner().invoke(generate, ["--tasks", "2"])
    assert res.exit_code == 0 and len(res.stdout_bytes.splitlines()) == 2
    assert "no ground truth is written" in res.stderr


@pytest.mark.parametrize("args, status, message", [
    (["--mix", "bugs=lots"], ExitStatus.USAGE, "is not a number"),
    (["--mix", "typos"], ExitStatus.USAGE, "unknown task category 'typos'"),
    (["--tasks", "0"], ExitStatus.USAGE, "--tasks"),
    (["--seed", "-1"], ExitStatus.USAGE, "--seed"),
    (["--difficulty", "brutal"], ExitStatus.USAGE, "--difficulty"),
    (["-o", "/dev/null/s.ndjson"], ExitStatus.CONFIG, "cannot write /dev/null/s.ndjson"),
])
def test_command_reports_bad_options_without_a_traceback(args, status, message):
    from chain.cli import cli

    res = CliRunner().invoke(cli, ["generate", *args])
    assert res.exit_code == status and message in res.stderr
    assert "Traceback" not in res.output and (res.exception is None or isinstance(res.exception, SystemExit))


def test_output_directories_are_created(tmp_path):
    res = CliRunner().invoke(generate, ["--tasks", "2", "-o", str(tmp_path / "new" / "dir" / "s.ndjson")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "new" / "dir" / "s.truth.json").exists()


def test_command_runs_as_part_of_chain():
    from chain.cli import cli

    res = CliRunner().invoke(cli, ["generate", "--tasks", "1", "--mix", "correct"])
    assert res.exit_code == 0 and Task.model_validate(orjson.loads(res.stdout_bytes)).id.startswith("gen-0-0000-")
