"""The report's line and bar charts, each a static inline <svg class="chart" data-chart=NAME>, or None when the
data cannot make a meaningful chart (the page then shows a "no data" note). bar_charts.py has the latency and
success bars, outcomes.py the status charts.

Colours follow the profile everywhere (`Palette`); within a colour, dashes and marker shapes tell series
apart, so the charts stay readable in greyscale. Every data mark has class "mark" and a <title> tooltip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .results import BenchResults, Config
from .svg import (
    Area,
    LegendItem,
    Scale,
    all_finite,
    chart,
    legend,
    line_swatch,
    marker,
    nice_top,
    numeric_ticks,
    percent,
    polyline,
    tag,
    text,
    text_width,
    x_axis,
    y_axis,
)

WIDE, HALF = 1160, 570  # chart widths: full row and half row of the page grid

KNOWN_COLORS = {"conservative": "#1f6fb2", "balanced": "#2a9d5c", "aggressive": "#d1495b", "auto": "#7b52ab"}
EXTRA_COLORS = ["#e07b00", "#00838f", "#b0417a", "#8a6d3b", "#3d5a80", "#6b7b2a", "#5c6b7a"]
DASHES = ["", "7 4", "2 3", "10 3 2 3"]
SHAPES = ["circle", "square", "triangle", "diamond"]


class Palette:
    """One colour per profile name for the whole page (known profiles keep theirs from report to report)."""

    def __init__(self, profiles: Iterable[str]):
        self.colors = {p: c for p, c in KNOWN_COLORS.items()}
        others = sorted(set(profiles) - set(KNOWN_COLORS))
        for index, profile in enumerate(others):
            self.colors[profile] = EXTRA_COLORS[index % len(EXTRA_COLORS)]

    def __call__(self, profile: str) -> str:
        return self.colors.get(profile, "#5c6b7a")

    @classmethod
    def of(cls, results: BenchResults) -> Palette:
        return cls(
            [c.profile for c in results.configs]
            + [t.profile for t in results.tasks]
            + [e.profile for e in results.ema]
            + [a.profile for a in results.timeline]
        )


def _style_index(keys: Iterable, key) -> int:
    return sorted(set(keys), key=str).index(key)


# ---- line charts: throughput, efficiency, EMA ---------------------------------------------------------------


@dataclass
class Series:
    label: str
    color: str
    dash: str
    shape: str
    points: list[tuple[float, float, str, str]] = field(default_factory=list)  # x, y, tooltip, episode
    line_width: float = 2.0

    def segments(self) -> list[list[tuple[float, float, str, str]]]:
        """The points in x order, split wherever the episode changes (the line does not join episodes)."""
        out: list[list] = []
        for point in sorted(self.points, key=lambda p: (p[0], p[1])):
            if not out or out[-1][-1][3] != point[3]:
                out.append([])
            out[-1].append(point)
        return out


def _line_chart(
    name: str,
    series: list[Series],
    *,
    width: float,
    x_label: str,
    y_label: str,
    x_ticks: list[float] | None = None,
    y_max: float | None = None,
    y_fmt=None,
    target: tuple[float, str] | None = None,
    bands: Sequence[tuple[float, float, str]] = (),
) -> str | None:
    series = [s for s in series if s.points]
    if not series:
        return None
    xs = [p[0] for s in series for p in s.points]
    ys = [p[1] for s in series for p in s.points]
    top = y_max if y_max is not None else nice_top(max(ys) * 1.05)
    y_ticks = numeric_ticks(0, top, 5, y_fmt)
    left = 22 + max(text_width(label) for _, label in y_ticks) + 10
    area = Area(left, 14, width - left - 18, 230)
    if x_ticks:  # categorical-like axis (concurrency): a tick at each measured value, inset from the edges
        low, high = min(x_ticks), max(x_ticks)
        pad = (high - low) * 0.06
        x = Scale(low - pad, high + pad, area.left, area.right)
        x_tick_labels = [(v, f"{v:g}") for v in x_ticks]
    else:
        x = Scale(min(0.0, min(xs)), max(xs), area.left, area.right)
        x_tick_labels = numeric_ticks(x.low, x.high, 8)
    y = Scale(0, top, area.bottom, area.top)
    clamp = lambda v: x(min(max(v, x.low), x.high))  # noqa: E731
    body = [
        tag(
            "rect",
            {
                "class": "band",
                "x": clamp(start),
                "y": area.top,
                "height": area.height,
                "width": max(clamp(end) - clamp(start), 0.0),
            },
            title=label,
        )
        for index, (start, end, label) in enumerate(bands)
        if index % 2 == 0
    ]
    body += [y_axis(area, y, y_ticks, y_label), x_axis(area, x, x_tick_labels, x_label)]
    if target is not None:
        value, label = target
        body.append(
            tag(
                "line",
                {"class": "target", "x1": area.left, "x2": area.right, "y1": y(value), "y2": y(value)},
                title=label,
            )
        )
        body.append(text(area.right - 4, y(value) - 5, label, class_="target-label", text_anchor="end"))
    for s in series:
        segments = s.segments()
        body.append(
            polyline([[(x(p[0]), y(p[1])) for p in seg] for seg in segments], s.color, s.dash, s.label, s.line_width)
        )
        body.extend(
            marker(s.shape, x(px), y(py), s.color, tip, 3.0 if s.line_width < 2 else 4.0)
            for seg in segments
            for px, py, tip, _ in seg
        )
    items = [LegendItem(s.label, line_swatch(s.color, s.dash, s.shape)) for s in series]
    legend_svg, legend_height = legend(items, area.left, area.bottom + 50, width - area.left - 10)
    height = area.bottom + 50 + legend_height + 6
    return chart(name, width, height, f"{y_label} by {x_label}", *body, legend_svg)


def _series_key(c: Config) -> tuple[str, tuple[str, ...], str]:
    return c.pattern, tuple(c.pipeline), c.profile


def _config_series(results: BenchResults, palette: Palette, value, tooltip) -> list[Series]:
    shapes_by = [(c.pattern, tuple(c.pipeline)) for c in results.configs]
    series: dict[tuple, Series] = {}
    for c in results.configs:
        v = value(c)
        if not all_finite(v):
            continue
        key = _series_key(c)
        if key not in series:
            style = _style_index(shapes_by, key[:2])
            series[key] = Series(
                f"{c.pattern} · {'→'.join(c.pipeline)} · {c.profile}",
                palette(c.profile),
                DASHES[style % len(DASHES)],
                SHAPES[style % len(SHAPES)],
            )
        series[key].points.append((float(c.concurrency), float(v), tooltip(c), ""))
    return list(series.values())


def throughput(results: BenchResults, palette: Palette) -> str | None:
    series = _config_series(
        results,
        palette,
        lambda c: c.metrics.throughput,
        lambda c: f"{c.id}\nconcurrency {c.concurrency}: {c.metrics.throughput:.3g} tasks/s over {c.runs} run(s)",
    )
    levels = sorted({float(c.concurrency) for c in results.configs})
    return _line_chart("throughput", series, width=HALF, x_label="concurrency", y_label="tasks / s", x_ticks=levels)


def efficiency(results: BenchResults, palette: Palette) -> str | None:
    series = _config_series(
        results,
        palette,
        lambda c: c.metrics.efficiency,
        lambda c: f"{c.id}\nconcurrency {c.concurrency}: efficiency {percent(c.metrics.efficiency or 0)}",
    )
    values = [p[1] for s in series for p in s.points]
    if not values:
        return None
    levels = sorted({p[0] for s in series for p in s.points})
    top = nice_top(max(1.0, max(values)), 5)
    return _line_chart(
        "efficiency",
        series,
        width=HALF,
        x_label="concurrency",
        y_label="efficiency T(N) / (N·T(1))",
        x_ticks=levels,
        y_max=top,
        y_fmt=percent,
        target=(0.9, "90% target"),
    )


def ema(results: BenchResults, palette: Palette) -> str | None:
    stages = [p.stage for p in results.ema]
    series: dict[tuple[str, str], Series] = {}
    for p in results.ema:
        if not all_finite(p.t_s, p.ema_success):
            continue
        key = (p.stage, p.profile)
        if key not in series:
            style = _style_index(stages, p.stage)
            series[key] = Series(
                f"{p.stage} · {p.profile}",
                palette(p.profile),
                DASHES[style % len(DASHES)],
                SHAPES[style % len(SHAPES)],
                line_width=1.5,
            )
        series[key].points.append(
            (
                p.t_s,
                p.ema_success,
                f"{p.stage} · {p.profile} at {p.t_s:.1f} s\nEMA success {p.ema_success:.2f} "
                f"after {p.executions} execution(s)\nconfig {p.config}",
                p.config,
            )
        )
    return _line_chart(
        "ema",
        list(series.values()),
        width=WIDE,
        x_label="seconds since the bench started",
        y_label="EMA success",
        y_max=1.0,
        bands=episodes(results),
    )


def episodes(results: BenchResults) -> list[tuple[float, float, str]]:
    """The time span of each config's learning (each config learns in a fresh store, so EMA lines break between
    them); shaded alternately behind the EMA chart."""
    spans: dict[str, list[float]] = {}
    for p in results.ema:
        if all_finite(p.t_s):
            span = spans.setdefault(p.config, [p.t_s, p.t_s])
            span[0], span[1] = min(span[0], p.t_s), max(span[1], p.t_s)
    for a in results.timeline:
        if a.config in spans and all_finite(a.start_s, a.end_s):
            span = spans[a.config]
            span[0], span[1] = min(span[0], a.start_s), max(span[1], a.end_s)
    return sorted((start, end, f"config {config}") for config, (start, end) in spans.items())
