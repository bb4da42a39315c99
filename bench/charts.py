"""The report's line and bar charts, each a static inline <svg class="chart" data-chart=NAME>, or None when the
data cannot make a meaningful chart (the page then shows a "no data" note). outcomes.py has the status charts.

Colours follow the profile everywhere (`Palette`); within a colour, dashes and marker shapes tell series
apart, so the charts stay readable in greyscale. Every data mark has class "mark" and a <title> tooltip.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean

from .results import BenchResults, Config
from .svg import (
    Area,
    LegendItem,
    Scale,
    all_finite,
    box_swatch,
    chart,
    clip,
    clip_middle,
    finite,
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


# ---- bar charts: latency, success ------------------------------------------------------------------------

PERCENTILES = (("P50", "latency_p50_ms", 0.35), ("P95", "latency_p95_ms", 0.65), ("P99", "latency_p99_ms", 1.0))


def latency(results: BenchResults, palette: Palette) -> str | None:
    """Horizontal grouped bars, one group per config: long config ids stay readable as row labels."""
    configs = [
        c
        for c in results.configs
        if all_finite(*(getattr(c.metrics, f) for _, f, _ in PERCENTILES)) and c.metrics.latency_p99_ms >= 0
    ]
    if not any(c.metrics.latency_p99_ms > 0 for c in configs):  # nothing finished: no bars to draw
        return None
    labels = [clip_middle(c.id, 56) for c in configs]
    left = max(text_width(label, 11) for label in labels) + 16
    bar, group = 8.0, 3 * 8.0 + 12
    area = Area(left, 10, WIDE - left - 60, group * len(configs))
    top = nice_top(max(max(getattr(c.metrics, f) for _, f, _ in PERCENTILES) for c in configs) * 1.05)
    x = Scale(0, top, area.left, area.right)
    body = [
        x_axis(area, x, numeric_ticks(0, top, 8), "latency (ms, first input to final result)", grid=True),
        tag("line", {"class": "axis", "x1": area.left, "y1": area.top, "x2": area.left, "y2": area.bottom}),
    ]
    for row, (c, label) in enumerate(zip(configs, labels)):
        y0 = area.top + row * group + 6
        body.append(text(area.left - 8, y0 + 1.5 * bar + 4, label, class_="row-label", text_anchor="end"))
        for index, (name, field_name, opacity) in enumerate(PERCENTILES):
            value = getattr(c.metrics, field_name)
            body.append(
                tag(
                    "rect",
                    {
                        "class": "mark bar",
                        "x": area.left,
                        "y": y0 + index * bar,
                        "width": max(x(value) - area.left, 0.0),
                        "height": bar - 1,
                        "fill": palette(c.profile),
                        "fill-opacity": opacity,
                    },
                    title=f"{c.id}\n{name} {value:,.0f} ms",
                )
            )
        body.append(
            text(
                x(c.metrics.latency_p99_ms) + 4,
                y0 + 2 * bar + 6,
                f"{c.metrics.latency_p99_ms:,.0f}",
                class_="value-label",
            )
        )
    items = [LegendItem(f"{name} (shade)", box_swatch("#4a5568", opacity)) for name, _, opacity in PERCENTILES]
    items += [LegendItem(p, box_swatch(palette(p))) for p in dict.fromkeys(c.profile for c in configs)]
    legend_svg, legend_height = legend(items, area.left, area.bottom + 50, WIDE - area.left - 10)
    return chart(
        "latency",
        WIDE,
        area.bottom + 50 + legend_height + 6,
        "latency percentiles per configuration",
        *body,
        legend_svg,
    )


@dataclass
class ProfileScore:
    profile: str
    success: float
    optimality: float | None
    samples: int


def profile_scores(results: BenchResults) -> list[ProfileScore]:
    """Success and optimality per profile, pooled over that profile's raw samples (the metrics' mean when a
    config kept no samples)."""
    by_profile: dict[str, list[Config]] = defaultdict(list)
    for c in results.configs:
        by_profile[c.profile].append(c)
    scores = []
    for profile, configs in by_profile.items():
        success = [float(s) for c in configs for s in c.samples.success]
        optimality = finite(o for c in configs for o in c.samples.optimality)
        if not optimality:
            optimality = finite(c.metrics.optimality for c in configs)
        scores.append(
            ProfileScore(
                profile,
                fmean(success) if success else fmean(c.metrics.success_rate for c in configs),
                fmean(optimality) if optimality else None,
                len(success),
            )
        )
    return scores


def success(results: BenchResults, palette: Palette) -> str | None:
    scores = profile_scores(results)
    if not scores:
        return None
    with_optimality = any(s.optimality is not None for s in scores)
    y_ticks = numeric_ticks(0, 1.0, 5, percent)
    area = Area(60, 22, HALF - 60 - 14, 208)
    y = Scale(0, 1.0, area.bottom, area.top)
    slot = area.width / len(scores)
    bar = min(34.0, slot / (3 if with_optimality else 2))
    max_chars = max(6, int(slot / text_width("x", 11)))
    body = [
        y_axis(area, y, y_ticks, "fraction of tasks"),
        tag("line", {"class": "axis", "x1": area.left, "y1": area.bottom, "x2": area.right, "y2": area.bottom}),
    ]
    for index, score in enumerate(scores):
        center = area.left + slot * (index + 0.5)
        bars: list[tuple[str, float | None, float]] = [("success rate", score.success, 1.0)]
        if with_optimality:
            bars.append(("optimality", score.optimality, 0.4))
        start = center - bar * len(bars) / 2
        for offset, (name, value, opacity) in enumerate(bars):
            bx = start + offset * bar
            if value is None:
                body.append(text(bx + bar / 2, area.bottom - 4, "n/a", class_="value-label", text_anchor="middle"))
                continue
            body.append(
                tag(
                    "rect",
                    {
                        "class": "mark bar",
                        "x": bx + 1,
                        "y": y(value),
                        "width": bar - 2,
                        "height": max(area.bottom - y(value), 0.0),
                        "fill": palette(score.profile),
                        "fill-opacity": opacity,
                        "stroke": palette(score.profile),
                    },
                    title=f"{score.profile}\n{name} {percent(value)}"
                    + (f" over {score.samples} task runs" if score.samples else ""),
                )
            )
            body.append(text(bx + bar / 2, y(value) - 4, percent(value), class_="value-label", text_anchor="middle"))
        body.append(
            text(center, area.bottom + 17, clip(score.profile, max_chars), class_="tick-label", text_anchor="middle")
        )
    items = [LegendItem("success rate", box_swatch("#4a5568"))]
    if with_optimality:
        items.append(LegendItem("optimality vs ground truth", box_swatch("#4a5568", 0.4, "#4a5568")))
    legend_svg, legend_height = legend(items, area.left, area.bottom + 32, HALF - area.left - 10)
    return chart("success", HALF, area.bottom + 32 + legend_height + 6, "success rate per profile", *body, legend_svg)
