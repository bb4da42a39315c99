"""The bench report as a person opens it: written to disk, loaded from file:// in a real headless Chromium
(Debian's `chromium`, driven through Playwright over the DevTools protocol), charts measured in the live DOM."""

from __future__ import annotations

import csv
import random
import struct
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from chain.bench import browser
from chain.bench.runner import percentile
from chain.bench.outcomes import TIMELINE_MAX_ROWS
from chain.bench.report import write_report
from chain.bench.results import (Action, BenchResults, Config, EmaPoint, Metrics, Samples, Suite,
                                 TaskOutcome)
from tests.conftest import ROOT

CHARTS = ["throughput", "efficiency", "latency", "success", "outcomes", "ema", "timeline"]
HOSTILE_ID = '<img src="x" onerror="console.error(1)">&"q"'  # task ids are user input
TASK_IDS = ["bug_median", "bug_off_by_one", "slow_fib", "slow_dedupe", "correct_wordfreq", HOSTILE_ID]
PIPELINE = ["analyze", "process"]
SPECS = [("fanout", "conservative"), ("fanout", "balanced"), ("fanout", "aggressive"),
         ("race", "conservative,aggressive")]


def realistic_results() -> BenchResults:
    """A bench of 4 pattern/profile pairs at concurrency 1, 2, 4 over six tasks, simulated lane by lane on one
    clock, so the timeline, the EMA trace and the metrics agree with each other the way the runner's do."""
    rng = random.Random(7)
    configs, tasks, ema, timeline = [], [], [], []
    clock, single = 0.0, {}
    for pattern, profile in SPECS:
        for n in (1, 2, 4):
            cid = f"{pattern}:{'|'.join(PIPELINE)}:{profile}:c{n}"
            learned: dict[tuple[str, str], tuple[float, int]] = {}  # each config learns in a fresh store
            lanes, latencies, successes, optimality = [clock] * n, [], [], []
            for task_id in TASK_IDS:
                lane = min(range(n), key=lanes.__getitem__)
                start = t = lanes[lane]
                for stage in PIPELINE:
                    concrete = rng.choice(profile.split(","))
                    duration = rng.uniform(0.3, 1.6) * (1 + 0.15 * n)
                    status = "passed" if rng.random() < 0.75 else rng.choice(["failed", "failed", "error", "timeout"])
                    timeline.append(Action(config=cid, run=1, task_id=task_id, stage=stage, profile=concrete,
                                           status=status, start_s=t, end_s=t + duration))
                    t += duration
                    ema_value, executions = learned.get((stage, concrete), (0.5, 0))
                    learned[(stage, concrete)] = (0.6 * ema_value + 0.4 * (status == "passed"), executions + 1)
                    ema.append(EmaPoint(t_s=t, config=cid, stage=stage, profile=concrete,
                                        ema_success=learned[(stage, concrete)][0], executions=executions + 1))
                lanes[lane] = t
                category = task_id.split("_")[0] if "_" in task_id else "unknown"
                opt = None if category in ("correct", "unknown") else (1.0 if status == "passed" else 0.0)
                tasks.append(TaskOutcome(config=cid, run=1, task_id=task_id, category=category, status=status,
                                         profile=concrete, latency_ms=(t - start) * 1000, optimality=opt,
                                         location_hit=None if category != "bug" else status == "passed"))
                latencies.append((t - start) * 1000)
                successes.append(int(status == "passed"))
                if opt is not None:
                    optimality.append(opt)
            wall = max(lanes) - clock
            clock = max(lanes) + 0.5
            tput = len(TASK_IDS) / wall
            single.setdefault((pattern, profile), tput)
            configs.append(Config(
                id=cid, pattern=pattern, pipeline=PIPELINE, profile=profile, concurrency=n, runs=1, wall_s=wall,
                metrics=Metrics(throughput=tput, latency_p50_ms=percentile(latencies, 50),
                                latency_p95_ms=percentile(latencies, 95),
                                latency_p99_ms=percentile(latencies, 99),
                                success_rate=sum(successes) / len(successes),
                                optimality=sum(optimality) / len(optimality) if optimality else None,
                                location_accuracy=None,
                                efficiency=tput / (n * single[(pattern, profile)])),
                samples=Samples(throughput=[tput], latency_ms=latencies, success=successes, optimality=optimality)))
    return BenchResults(chain_version="0.1.0", created="2026-11-29T10:00:00+00:00",
                        machine={"cores": 2, "python": "3.11.2", "sandbox": "bwrap-warm"},
                        suite=Suite(path="suite.ndjson", tasks=len(TASK_IDS), sha256="ab" * 32,
                                    generator={"seed": 7, "mix": "bug,slow,correct"}),
                        configs=configs, tasks=tasks, ema=ema, timeline=timeline)


def degenerate_results() -> BenchResults:
    """One config at one concurrency, nothing finished (zero throughput), no samples, no EMA, no timeline."""
    metrics = Metrics(throughput=0.0, latency_p50_ms=0.0, latency_p95_ms=0.0, latency_p99_ms=0.0, success_rate=0.0)
    config = Config(id="fanout:analyze:balanced:c1", pattern="fanout", pipeline=["analyze"], profile="balanced",
                    concurrency=1, runs=1, wall_s=0.0, metrics=metrics, samples=Samples())
    return BenchResults(chain_version="0.1.0", created="2026-11-29T10:00:00+00:00", machine={},
                        suite=Suite(path="empty.ndjson", tasks=0, sha256="0" * 64), configs=[config])


# ---- the browser --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium_path() -> str:
    try:
        return browser.find_chromium()
    except browser.BrowserUnavailable as e:
        pytest.skip(f"no Chromium on this machine ({e}); .ci/run installs Debian's chromium")


@pytest.fixture(scope="module")
def chromium(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


class Loaded:
    """A report page opened from disk, with everything the browser said and fetched while loading it."""

    def __init__(self, chromium, html: Path):
        self.page = chromium.new_page(viewport={"width": 1280, "height": 900})
        self.url = html.resolve().as_uri()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed request {r.url}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.url, wait_until="load")

    def chart(self, name: str) -> dict:
        """The chart's drawn size and its data marks as the browser laid them out."""
        return self.page.evaluate("""name => {
            const svg = document.querySelector(`svg.chart[data-chart="${name}"]`);
            if (!svg) return null;
            const box = svg.getBoundingClientRect();
            const marks = [...svg.querySelectorAll('.mark')];
            const drawn = marks.filter(m => {
                const b = m.getBoundingClientRect();
                return b.width > 0 && b.height > 0;
            });
            return {width: box.width, height: box.height, marks: marks.length, drawn: drawn.length,
                    points: svg.querySelectorAll('.point').length, bars: svg.querySelectorAll('.bar').length,
                    untitled: marks.filter(m => !m.querySelector(':scope > title')).length,
                    legend: svg.querySelectorAll('.legend .legend-label').length,
                    ticks: svg.querySelectorAll('.tick-label').length};
        }""", name)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[BenchResults, dict[str, Path]]:
    results = realistic_results()
    return results, write_report(results, tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def loaded(chromium, report) -> Loaded:
    return Loaded(chromium, report[1]["index.html"])


def test_every_chart_is_drawn_with_its_data_points(loaded, report):
    results = report[0]
    drawn = {name: loaded.chart(name) for name in CHARTS}
    for name, chart in drawn.items():
        assert chart is not None, f"{name}: no svg.chart on the page"
        assert chart["width"] > 300 and chart["height"] > 150, (name, chart)
        assert chart["marks"] > 0 and chart["drawn"] > 0, (name, chart)
        assert chart["untitled"] == 0, f"{name}: a data mark without a <title> tooltip"
        assert chart["legend"] >= 2 and chart["ticks"] >= 2, (name, chart)
    assert drawn["throughput"]["points"] == len(results.configs)
    assert drawn["efficiency"]["points"] == len(results.configs)
    assert drawn["latency"]["bars"] == drawn["latency"]["drawn"] == 3 * len(results.configs)
    assert drawn["success"]["bars"] == 2 * len({c.profile for c in results.configs})  # success and optimality
    assert drawn["outcomes"]["bars"] == len({(t.profile, t.status) for t in results.tasks})
    assert drawn["ema"]["points"] == len(results.ema)


def test_the_timeline_draws_the_earliest_rows_and_says_it_was_truncated(loaded, report):
    results = report[0]
    first_start: dict[tuple, float] = defaultdict(lambda: float("inf"))
    for a in results.timeline:
        key = (a.config, a.run, a.task_id)
        first_start[key] = min(first_start[key], a.start_s)
    earliest = sorted(first_start, key=first_start.get)[:TIMELINE_MAX_ROWS]
    assert len(first_start) > TIMELINE_MAX_ROWS  # the data is meant to overflow the chart
    expected_bars = sum(1 for a in results.timeline if (a.config, a.run, a.task_id) in set(earliest))
    assert loaded.chart("timeline")["bars"] == expected_bars
    note = loaded.page.inner_text('[data-note="timeline"]')
    assert f"first {TIMELINE_MAX_ROWS} of {len(first_start)} task rows" in note


def test_the_page_loads_without_console_errors_or_requests_beyond_itself(loaded):
    assert loaded.errors == []
    assert loaded.requests == [loaded.url]
    # Nothing that could fetch later either (a link, a CSS url(), an import): the page works offline.
    assert loaded.page.evaluate("document.querySelectorAll('[src], [href], [srcset], [action]').length") == 0
    css = loaded.page.evaluate("[...document.querySelectorAll('style')].map(s => s.textContent).join('')")
    assert "url(" not in css and "@import" not in css


def test_user_text_is_escaped_not_interpreted(loaded):
    # The hostile task id must show as text: no <img> element appeared from it, and its label reads literally.
    assert loaded.page.evaluate("document.querySelectorAll('img').length") == 0
    assert loaded.page.evaluate("document.querySelectorAll('script').length") == 1
    labels = loaded.page.eval_on_selector_all('svg.chart[data-chart="timeline"] .row-label',
                                              "els => els.map(e => e.textContent)")
    assert any(label.startswith('<img src="x"') for label in labels)


def test_the_summary_table_lists_every_config(loaded, report):
    results = report[0]
    ids = loaded.page.eval_on_selector_all("table tbody tr td.id", "els => els.map(e => e.textContent)")
    assert ids == [c.id for c in results.configs]


def test_csvs_and_json_match_the_model(report):
    results, paths = report
    assert set(paths) == {"results.json", "configs.csv", "tasks.csv", "ema.csv", "timeline.csv", "index.html"}
    assert all(path.parent == paths["index.html"].parent for path in paths.values())
    assert BenchResults.model_validate_json(paths["results.json"].read_text()) == results

    def rows(name: str) -> list[dict]:
        with paths[f"{name}.csv"].open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    configs = rows("configs")
    assert len(configs) == len(results.configs)
    assert [r["id"] for r in configs] == [c.id for c in results.configs]
    assert configs[0]["pipeline"] == "analyze|process"
    assert {"throughput", "latency_p99_ms", "success_rate", "optimality", "efficiency"} <= set(configs[0])
    assert float(configs[4]["throughput"]) == pytest.approx(results.configs[4].metrics.throughput)
    assert configs[0]["location_accuracy"] == ""  # None is an empty cell
    assert len(rows("tasks")) == len(results.tasks)
    assert {r["task_id"] for r in rows("tasks")} == set(TASK_IDS)  # the hostile id survives quoting
    assert len(rows("ema")) == len(results.ema)
    assert len(rows("timeline")) == len(results.timeline)
    assert float(rows("timeline")[-1]["end_s"]) == pytest.approx(results.timeline[-1].end_s)


def test_a_degenerate_report_renders_without_errors(chromium, tmp_path):
    results = degenerate_results()
    paths = write_report(results, tmp_path)
    loaded = Loaded(chromium, paths["index.html"])
    try:
        assert loaded.errors == []
        assert loaded.requests == [loaded.url]
        for name in ("throughput", "success"):  # one config at zero still makes a chart
            chart = loaded.chart(name)
            assert chart is not None and chart["height"] > 0 and chart["marks"] > 0, name
        for name in ("latency", "ema", "timeline", "efficiency", "outcomes"):  # a note instead of an empty frame
            assert loaded.chart(name) is None
            assert loaded.page.locator(f'.no-data[data-chart="{name}"]').is_visible()
        assert "Only concurrency 1" in loaded.page.inner_text('[data-note="throughput"]')
        markup = loaded.page.evaluate("document.body.innerHTML")
        assert "NaN" not in markup and "Infinity" not in markup
    finally:
        loaded.page.close()
    assert [len(paths[name].read_text().splitlines()) for name in ("tasks.csv", "ema.csv")] == [1, 1]  # header only


# ---- screenshots -------------------------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_screenshot_captures_the_whole_page_at_the_requested_width(chromium_path, report, tmp_path):
    png = browser.screenshot(report[1]["index.html"], tmp_path / "shot.png", width=1100)
    width, height = _png_size(png)
    assert width == 1100
    assert height == browser.page_height(report[1]["index.html"], 1100) and height > 2000  # the page, not a window


def test_the_screenshot_command_the_makefile_runs(chromium_path, report, tmp_path):
    png = tmp_path / "sub" / "index.png"
    proc = subprocess.run([sys.executable, "-m", "chain.bench.browser", str(report[1]["index.html"]), str(png)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert _png_size(png)[0] == 1280


def test_no_browser_is_a_clear_chain_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no browser anywhere on PATH
    monkeypatch.delenv("CHAIN_CHROMIUM", raising=False)
    with pytest.raises(browser.BrowserUnavailable, match="CHAIN_CHROMIUM"):
        browser.find_chromium()
    monkeypatch.setenv("CHAIN_CHROMIUM", str(tmp_path / "not-a-browser"))
    with pytest.raises(browser.BrowserUnavailable, match="not-a-browser"):
        browser.screenshot(tmp_path / "index.html", tmp_path / "index.png")
