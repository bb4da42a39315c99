"""The bench report as one self-contained HTML page: inline CSS, static inline SVG charts, no external URL of
any kind (no CDN, no web font, no script library), so it opens from disk, offline, or as a CI artifact.

The only script sets `data-page-height` on <html>, which `chain.bench.browser` reads to take a full-page
screenshot; the page draws the same without it.
"""

from __future__ import annotations

from datetime import datetime

from . import bar_charts, charts, outcomes
from .results import BenchResults, Config
from .svg import all_finite, esc, percent

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1a202c; font: 14px/1.45 system-ui, "DejaVu Sans", sans-serif; }
main { max-width: 1220px; margin: 0 auto; padding: 24px 20px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; }
h3 { font-size: 15px; margin: 0 0 2px; }
.sub { color: #4a5568; margin: 0 0 14px; }
.card { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 14px 16px; margin: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0; }
dl.meta dt { color: #4a5568; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { padding: 5px 6px; border-bottom: 1px solid #e8ebef; text-align: left; vertical-align: top; }
th { background: #f8f9fb; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.id { min-width: 150px; max-width: 230px; }
td.nowrap { white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
.grid .wide { grid-column: 1 / -1; }
.desc { color: #4a5568; font-size: 12.5px; margin: 0 0 8px; }
.note { color: #4a5568; font-size: 12.5px; margin: 6px 0 0; }
.no-data { color: #4a5568; background: #f8f9fb; border: 1px dashed #cbd2da; border-radius: 6px;
           padding: 28px 12px; text-align: center; margin: 8px 0 0; }
svg.chart { display: block; max-width: 100%; height: auto; font: 12px system-ui, "DejaVu Sans", sans-serif; }
svg.chart .axis { stroke: #4a5568; stroke-width: 1; }
svg.chart .tick { stroke: #4a5568; }
svg.chart .grid { stroke: #e6e9ee; stroke-width: 1; }
svg.chart .tick-label, svg.chart .value-label { fill: #4a5568; font-size: 11px; }
svg.chart .row-label { fill: #1a202c; font-size: 11px; }
svg.chart .group-label { fill: #4a5568; font-size: 11px; font-weight: 600; }
svg.chart .separator { stroke: #dde1e7; }
svg.chart .axis-label { fill: #1a202c; font-size: 12px; }
svg.chart .legend-label { fill: #1a202c; font-size: 12px; }
svg.chart .bar-label { font-size: 9px; pointer-events: none; }
svg.chart .bar-count { font-size: 10px; pointer-events: none; }
svg.chart .band { fill: #f1f3f6; }
svg.chart .target { stroke: #1a202c; stroke-width: 1.2; stroke-dasharray: 6 4; }
svg.chart .target-label { fill: #1a202c; font-size: 11px; }
svg.chart .mark:hover { stroke: #1a202c; stroke-width: 2; }
footer { color: #4a5568; font-size: 12.5px; margin-top: 24px; }
"""

PAGE_HEIGHT_SCRIPT = (
    "document.documentElement.dataset.pageHeight = Math.ceil(document.documentElement.getBoundingClientRect().height);"
)

CHARTS = [  # name, heading, description, full row?
    (
        "throughput",
        "Throughput",
        "Tasks finished per second against concurrency; one line per pattern, pipeline and profile.",
        False,
    ),
    (
        "efficiency",
        "Coordination efficiency",
        "T(N) / (N·T(1)): how much of the added concurrency turns into throughput. The dashed line is the 90% target.",
        False,
    ),
    ("latency", "Latency percentiles", "P50, P95 and P99 per configuration (light to dark); the number is P99.", True),
    (
        "success",
        "Success per profile",
        "Fraction of task runs whose final result passed, and the mean "
        "optimality against the suite's ground truth where it has one.",
        False,
    ),
    ("outcomes", "Outcomes per profile", "How the task runs ended, by the profile of their final result.", False),
    ("ema", "EMA evolution", "The learned EMA success of each stage and profile after every learning step.", True),
    (
        "timeline",
        "Action timeline",
        "Each stage execution on each task; colour is the profile, the fill shows "
        "the status (solid: passed, pale: failed, dashed outline: error or timeout).",
        True,
    ),
]

NO_DATA = {
    "throughput": "No configuration was measured.",
    "efficiency": "No efficiency figures: they need the same pattern and profile measured at concurrency 1.",
    "latency": "No latency figures: no task finished.",
    "success": "No configuration was measured.",
    "outcomes": "No task outcomes were recorded.",
    "ema": "No EMA points were recorded (no stage learned during this bench).",
    "timeline": "No actions were recorded.",
}


def _number(value: float | None, digits: int = 2) -> str:
    return f"{value:,.{digits}f}" if all_finite(value) else "—"


def _fraction(value: float | None) -> str:
    return percent(value) if value is not None and all_finite(value) else "—"


def _breakable(text: str) -> str:
    """Escaped, with line-break opportunities after the separators of config ids and race lists."""
    out = esc(text)
    for separator in (":", "|", ","):
        out = out.replace(separator, separator + "<wbr>")
    return out


def _when(created: str) -> str:
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return created
    zone = moment.strftime(" %Z") if moment.tzinfo else ""
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (zone.replace("UTC+00:00", "UTC") if zone else "")


def _config_row(c: Config, color: str) -> str:
    m = c.metrics
    cells = [
        f'<td class="id">{_breakable(c.id)}</td>',
        f"<td>{esc(c.pattern)}</td>",
        f"<td>{esc(' → '.join(c.pipeline))}</td>",
        f'<td class="nowrap"><span class="swatch" style="background:{esc(color)}"></span>{_breakable(c.profile)}</td>',
        f'<td class="num">{c.concurrency}</td>',
        f'<td class="num">{c.runs}</td>',
        f'<td class="num">{_number(c.wall_s, 1)}</td>',
        f'<td class="num">{_number(m.throughput, 3)}</td>',
        f'<td class="num">{_number(m.latency_p50_ms, 0)}</td>',
        f'<td class="num">{_number(m.latency_p95_ms, 0)}</td>',
        f'<td class="num">{_number(m.latency_p99_ms, 0)}</td>',
        f'<td class="num">{_fraction(m.success_rate)}</td>',
        f'<td class="num">{_fraction(m.optimality)}</td>',
        f'<td class="num">{_fraction(m.location_accuracy)}</td>',
        f'<td class="num">{_fraction(m.efficiency)}</td>',
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _summary_table(results: BenchResults, palette: charts.Palette) -> str:
    if not results.configs:
        return '<p class="no-data">No configuration was measured.</p>'
    heads = ["config", "pattern", "pipeline", "profile"]
    numeric = [
        "N",
        "runs",
        "wall s",
        "tasks/s",
        "P50 ms",
        "P95 ms",
        "P99 ms",
        "success",
        "optimality",
        "location",
        "efficiency",
    ]
    header = "".join(f"<th>{h}</th>" for h in heads) + "".join(f'<th class="num">{h}</th>' for h in numeric)
    rows = "".join(_config_row(c, palette(c.profile)) for c in results.configs)
    return f'<div class="table-wrap"><table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></div>'


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value) or "none"
    if isinstance(value, dict):
        return " · ".join(f"{k}: {_value(v)}" for k, v in value.items()) or "—"
    return str(value)


def _header(results: BenchResults) -> str:
    suite = results.suite
    # Flat machine facts share one line; a nested one (the sandbox's isolation) gets a line of its own.
    flat = {k: v for k, v in results.machine.items() if not isinstance(v, dict)}
    nested = [(k.replace("_", " ").capitalize(), _value(v)) for k, v in results.machine.items() if isinstance(v, dict)]
    facts = [
        ("Suite", f"{suite.path} ({suite.tasks} tasks, sha256 {suite.sha256[:12]})"),
        ("Generator", _value(suite.generator or {})),
        ("Machine", _value(flat)),
        *nested,
        ("chain", results.chain_version),
        ("Date", _when(results.created)),
        (
            "Measured",
            f"{len(results.configs)} configurations, {len(results.tasks)} task outcomes, "
            f"{len(results.timeline)} actions, {len(results.ema)} EMA points",
        ),
    ]
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    subtitle = f"{suite.path} · chain {results.chain_version} · {_when(results.created)}"
    return (
        f'<header><h1>chain bench report</h1><p class="sub">{esc(subtitle)}</p>'
        f'<section class="card"><dl class="meta">{items}</dl></section></header>'
    )


def _figure(name: str, heading: str, description: str, wide: bool, svg: str | None, note: str = "") -> str:
    body = svg if svg else f'<p class="no-data" data-chart="{esc(name)}">{esc(NO_DATA[name])}</p>'
    note_html = f'<p class="note" data-note="{esc(name)}">{esc(note)}</p>' if note else ""
    return (
        f'<figure class="card{" wide" if wide else ""}" id="chart-{esc(name)}"><h3>{esc(heading)}</h3>'
        f'<p class="desc">{esc(description)}</p>{body}{note_html}</figure>'
    )


def render_html(results: BenchResults) -> str:
    palette = charts.Palette.of(results)
    timeline_svg, shown, total = outcomes.timeline(results, palette)
    drawn = {
        "throughput": charts.throughput(results, palette),
        "efficiency": charts.efficiency(results, palette),
        "latency": bar_charts.latency(results, palette),
        "success": bar_charts.success(results, palette),
        "ema": charts.ema(results, palette),
    }
    drawn["outcomes"] = outcomes.outcomes(results, palette)
    drawn["timeline"] = timeline_svg
    notes = {name: "" for name in drawn}
    if total > shown:
        notes["timeline"] = (
            f"Showing the first {shown} of {total} task rows (earliest first); every action is in timeline.csv."
        )
    levels = {c.concurrency for c in results.configs}
    if len(levels) == 1 and results.configs:
        notes["throughput"] = f"Only concurrency {levels.pop()} was measured: no trend to draw."
    figures = "".join(
        _figure(name, heading, desc, wide, drawn[name], notes[name]) for name, heading, desc, wide in CHARTS
    )
    files = "results.json, configs.csv, tasks.csv, ema.csv, timeline.csv"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>chain bench · {esc(results.suite.path)}</title><style>{CSS}</style></head>"
        f"<body><main>{_header(results)}"
        f'<h2>Configurations</h2><section class="card">{_summary_table(results, palette)}</section>'
        f'<h2>Charts</h2><section class="grid">{figures}</section>'
        f"<footer>Written by chain {esc(results.chain_version)} bench. The same data, in full: {files}.</footer>"
        f"</main><script>{PAGE_HEIGHT_SCRIPT}</script></body></html>\n"
    )
