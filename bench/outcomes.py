"""The report's status charts: how task runs ended per profile (`outcomes`) and every stage execution over
time (`timeline`, Gantt-like). Colour is the profile as everywhere on the page; the status is the fill style,
so it reads without telling colours apart.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from .charts import HALF, WIDE, Palette
from .results import Action, BenchResults
from .svg import (
    Area,
    LegendItem,
    Scale,
    all_finite,
    box_swatch,
    chart,
    clip,
    clip_middle,
    legend,
    nice_top,
    numeric_ticks,
    percent,
    tag,
    text,
    text_width,
    x_axis,
)

TIMELINE_MAX_ROWS = 40
STATUS_ORDER = ["passed", "failed", "error", "timeout", "cancelled"]
STATUS_STYLES = {  # status -> fill opacity, stroke ("profile": the profile's colour), dash
    "passed": (1.0, None, ""),
    "failed": (0.3, "profile", ""),
    "error": (0.3, "#1a202c", "3 2"),
    "timeout": (0.3, "#1a202c", "3 2"),
    "cancelled": (0.0, "#718096", "1 2"),
}
OTHER_STYLE = (0.3, "#1a202c", "3 2")


def _status_rect(attrs: dict, status: str, color: str, title: str) -> str:
    opacity, stroke, dash = STATUS_STYLES.get(status, OTHER_STYLE)
    return tag(
        "rect",
        {
            "class": "mark bar",
            **attrs,
            "fill": color,
            "fill-opacity": opacity,
            "stroke": color if stroke == "profile" else stroke,
            "stroke-width": "1.5" if stroke else None,
            "stroke-dasharray": dash or None,
        },
        title=title,
    )


def _status_legend(statuses) -> list[LegendItem]:
    items = []
    for status in statuses:
        opacity, stroke, dash = STATUS_STYLES.get(status, OTHER_STYLE)
        items.append(
            LegendItem(status, box_swatch("#4a5568", opacity, "#4a5568" if stroke == "profile" else stroke, dash))
        )
    return items


def _ordered(statuses) -> list[str]:
    present = set(statuses)
    return [s for s in STATUS_ORDER if s in present] + sorted(present - set(STATUS_ORDER))


def outcomes(results: BenchResults, palette: Palette) -> str | None:
    """One 100% bar per concrete profile, split by how its task runs ended."""
    by_profile: dict[str, Counter] = defaultdict(Counter)
    for t in results.tasks:
        by_profile[t.profile][t.status] += 1
    if not by_profile:
        return None
    statuses = _ordered(s for counts in by_profile.values() for s in counts)
    labels = [clip(p, 24) for p in by_profile]
    left = max(text_width(label, 11) for label in labels) + 16
    row = 30.0
    area = Area(left, 10, HALF - left - 58, row * len(by_profile))
    x = Scale(0, 1.0, area.left, area.right)
    body = [x_axis(area, x, numeric_ticks(0, 1.0, 5, percent), "share of task runs", grid=True)]
    for index, ((profile, counts), label) in enumerate(zip(by_profile.items(), labels)):
        y0, total, done = area.top + index * row + 6, sum(counts.values()), 0
        body.append(text(area.left - 8, y0 + 13, label, class_="row-label", text_anchor="end"))
        for status in statuses:
            if not counts[status]:
                continue
            x0, x1 = x(done / total), x((done + counts[status]) / total)
            body.append(
                _status_rect(
                    {"x": x0 + 0.5, "y": y0, "width": max(x1 - x0 - 1, 1.0), "height": 18},
                    status,
                    palette(profile),
                    f"{profile}: {counts[status]} of {total} task runs {status}",
                )
            )
            if x1 - x0 > text_width(str(counts[status]), 10) + 6:
                fill = "#fff" if STATUS_STYLES.get(status, OTHER_STYLE)[0] == 1.0 else "#1a202c"
                body.append(
                    text(
                        (x0 + x1) / 2, y0 + 13, str(counts[status]), class_="bar-count", fill=fill, text_anchor="middle"
                    )
                )
            done += counts[status]
        body.append(text(area.right + 6, y0 + 13, f"n={total}", class_="value-label"))
    legend_svg, legend_height = legend(_status_legend(statuses), area.left, area.bottom + 50, HALF - area.left - 10)
    return chart("outcomes", HALF, area.bottom + 50 + legend_height + 6, "task outcomes per profile", *body, legend_svg)


def timeline_rows(results: BenchResults) -> list[tuple[tuple[str, int, str], list[Action]]]:
    """One row per (config, run, task), earliest first."""
    rows: dict[tuple[str, int, str], list[Action]] = defaultdict(list)
    for a in results.timeline:
        if all_finite(a.start_s, a.end_s):
            rows[(a.config, a.run, a.task_id)].append(a)
    return sorted(rows.items(), key=lambda item: (min(a.start_s for a in item[1]), item[0]))


def timeline(results: BenchResults, palette: Palette) -> tuple[str | None, int, int]:
    """The Gantt chart, the number of rows drawn and the number there were."""
    rows = timeline_rows(results)
    if not rows:
        return None, 0, 0
    shown = rows[:TIMELINE_MAX_ROWS]
    actions = [a for _, acts in shown for a in acts]
    row_h, heading_h = 16.0, 18.0
    left = max(text_width(clip_middle(task_id, 30), 11) for (_, _, task_id), _ in shown) + 16
    headings = 1 + sum(1 for i in range(1, len(shown)) if shown[i][0][:2] != shown[i - 1][0][:2])
    area = Area(left, 8, WIDE - left - 20, len(shown) * row_h + headings * heading_h)
    start = min(0.0, min(a.start_s for a in actions))
    x = Scale(start, nice_top(max(max(a.end_s for a in actions), start + 1e-9), 10), area.left, area.right)
    body = [x_axis(area, x, numeric_ticks(x.low, x.high, 10), "seconds since the bench started", grid=True)]
    y, previous = area.top, None
    for (config, run, task_id), acts in shown:
        if (config, run) != previous:  # a heading row per config and run
            body.append(tag("line", {"class": "separator", "x1": 0, "x2": area.right, "y1": y, "y2": y}))
            body.append(text(4, y + 13, f"{config} · run {run}", class_="group-label"))
            y += heading_h
            previous = (config, run)
        body.append(text(area.left - 8, y + 12, clip_middle(task_id, 30), class_="row-label", text_anchor="end"))
        for a in sorted(acts, key=lambda a: a.start_s):
            # A 1.5 px gap keeps back-to-back stages of one task apart.
            bx, width = x(a.start_s) + 0.75, max(x(a.end_s) - x(a.start_s) - 1.5, 2.0)
            body.append(
                _status_rect(
                    {"x": bx, "y": y + 2, "width": width, "height": row_h - 4},
                    a.status,
                    palette(a.profile),
                    f"{a.task_id} · {a.stage} · {a.profile}\n{a.status}, {a.start_s:.2f}–"
                    f"{a.end_s:.2f} s ({a.end_s - a.start_s:.2f} s)\nconfig {a.config}, run {a.run}",
                )
            )
            if width > text_width(a.stage, 9) + 6:
                solid = STATUS_STYLES.get(a.status, OTHER_STYLE)[0] == 1.0
                body.append(
                    text(bx + 3, y + row_h - 5, a.stage, class_="bar-label", fill="#fff" if solid else "#1a202c")
                )
        y += row_h
    items = [LegendItem(p, box_swatch(palette(p))) for p in dict.fromkeys(a.profile for a in actions)]
    items += _status_legend(_ordered(a.status for a in actions))
    legend_svg, legend_height = legend(items, area.left, area.bottom + 50, WIDE - area.left - 10)
    svg = chart("timeline", WIDE, area.bottom + 50 + legend_height + 6, "action timeline", *body, legend_svg)
    return svg, len(shown), len(rows)
