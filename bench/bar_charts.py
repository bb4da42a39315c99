"""The report's bar charts: latency percentiles per configuration and success per profile (the line charts and
the palette are in charts.py, the status charts in outcomes.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from statistics import fmean

from .charts import HALF, WIDE, Palette
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
    nice_top,
    numeric_ticks,
    percent,
    tag,
    text,
    text_width,
    x_axis,
    y_axis,
)

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
