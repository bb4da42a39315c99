"""Small static-SVG building blocks for the bench report's charts: scales with readable ticks, axes, markers
and wrapping legends.

Charts are plain inline <svg> so the page draws without JavaScript and without any remote resource. Every
string that reaches the markup goes through `esc`: task ids, profile names and machine facts come from users.
There is no text measurement without a browser, so layout estimates widths from the character count
(`text_width`), generously, so that labels and legends are not clipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

FONT_PX = 12
EM_PER_CHAR = 0.62  # average advance of DejaVu Sans / Liberation Sans, the fonts a Debian Chromium falls back to


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def text_width(text: str, size: float = FONT_PX) -> float:
    return len(text) * size * EM_PER_CHAR


def clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def clip_middle(text: str, max_chars: int) -> str:
    """Shortened in the middle: config ids and task ids differ at their ends (':c2', '_17')."""
    if len(text) <= max_chars:
        return text
    tail = (max_chars - 1) // 2
    return text[: max_chars - 1 - tail] + "…" + text[len(text) - tail :]


def num(value: float) -> str:
    """A coordinate: one decimal is plenty on screen and keeps the page small."""
    out = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def tag(name: str, attrs: dict[str, object], *children: str, title: str | None = None) -> str:
    """One element; a `title` becomes a <title> child, which browsers show as the hover tooltip."""
    rendered = "".join(
        f' {key}="{esc(num(value) if isinstance(value, float) else value)}"'
        for key, value in attrs.items()
        if value is not None and value != ""
    )
    inner = (f"<title>{esc(title)}</title>" if title else "") + "".join(children)
    return f"<{name}{rendered}>{inner}</{name}>"


def text(x: float, y: float, content: str, **attrs: object) -> str:
    """Text at (x, y); keyword names use '_' for '-' (text_anchor= -> text-anchor=, class_= -> class=)."""
    named = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
    return tag("text", {"x": float(x), "y": float(y), **named}, esc(content))


def finite(values) -> list[float]:
    """The values that are numbers to draw (None, NaN and infinities left out)."""
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def all_finite(*values) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


# ---- scales and ticks -----------------------------------------------------------------------------------


def nice_step(span: float, count: int = 5) -> float:
    raw = span / max(count, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * magnitude * (1 + 1e-9):
            return multiple * magnitude
    return 10 * magnitude


def nice_top(high: float, count: int = 5) -> float:
    """The smallest round number >= high (an axis maximum); 1 when everything is zero, so nothing divides by 0."""
    if not math.isfinite(high) or high <= 0:
        return 1.0
    step = nice_step(high, count)
    return math.ceil(high / step - 1e-9) * step


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not high > low:
        return [low]
    step = nice_step(high - low, count)
    first = math.ceil(low / step - 1e-9)
    ticks, index = [], first
    while index * step <= high + step * 1e-9:
        ticks.append(round(index * step, 12))
        index += 1
    return ticks


def tick_label(value: float, step: float) -> str:
    decimals = 0
    while decimals < 4 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return f"{value:,.{decimals}f}"


@dataclass
class Scale:
    """Linear map from data [low, high] to pixels [out_low, out_high]. A degenerate domain (a single value, or
    all zeros) is widened so the value sits inside the axis instead of dividing by zero."""

    low: float
    high: float
    out_low: float
    out_high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            self.low, self.high = 0.0, 1.0
        if self.high - self.low <= 1e-12:
            pad = abs(self.low) * 0.5 or 0.5
            self.low, self.high = (0.0, 1.0) if self.low == 0 else (self.low - pad, self.high + pad)

    def __call__(self, value: float) -> float:
        fraction = (value - self.low) / (self.high - self.low)
        return self.out_low + fraction * (self.out_high - self.out_low)


# ---- axes -------------------------------------------------------------------------------------------------


@dataclass
class Area:
    """The plot area inside a chart, in chart pixels."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height


def x_axis(area: Area, scale: Scale, ticks: list[tuple[float, str]], label: str, grid: bool = False) -> str:
    out = [tag("line", {"class": "axis", "x1": area.left, "y1": area.bottom, "x2": area.right, "y2": area.bottom})]
    for value, name in ticks:
        x = scale(value)
        if grid:
            out.append(tag("line", {"class": "grid", "x1": x, "y1": area.top, "x2": x, "y2": area.bottom}))
        out.append(tag("line", {"class": "tick", "x1": x, "y1": area.bottom, "x2": x, "y2": area.bottom + 4}))
        out.append(text(x, area.bottom + 17, name, class_="tick-label", text_anchor="middle"))
    out.append(text(area.left + area.width / 2, area.bottom + 36, label, class_="axis-label", text_anchor="middle"))
    return "".join(out)


def y_axis(area: Area, scale: Scale, ticks: list[tuple[float, str]], label: str, grid: bool = True) -> str:
    out = [tag("line", {"class": "axis", "x1": area.left, "y1": area.top, "x2": area.left, "y2": area.bottom})]
    for value, name in ticks:
        y = scale(value)
        if grid:
            out.append(tag("line", {"class": "grid", "x1": area.left, "y1": y, "x2": area.right, "y2": y}))
        out.append(tag("line", {"class": "tick", "x1": area.left - 4, "y1": y, "x2": area.left, "y2": y}))
        out.append(text(area.left - 7, y + 4, name, class_="tick-label", text_anchor="end"))
    middle = area.top + area.height / 2
    out.append(
        text(14, middle, label, class_="axis-label", text_anchor="middle", transform=f"rotate(-90 14 {num(middle)})")
    )
    return "".join(out)


def numeric_ticks(low: float, high: float, count: int = 5, fmt=None) -> list[tuple[float, str]]:
    values = nice_ticks(low, high, count)
    step = values[1] - values[0] if len(values) > 1 else 1.0
    return [(v, fmt(v) if fmt else tick_label(v, step)) for v in values]


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


# ---- marks and legend -------------------------------------------------------------------------------------


def marker(shape: str, x: float, y: float, color: str, title: str, size: float = 4.0, cls: str = "mark point") -> str:
    """A data point drawn as one of a few shapes, so series stay apart without relying on colour alone."""
    style = {"class": cls, "fill": color, "stroke": "#fff", "stroke-width": "1"}
    if shape == "square":
        return tag("rect", {**style, "x": x - size, "y": y - size, "width": 2 * size, "height": 2 * size}, title=title)
    if shape in ("triangle", "diamond"):
        s = size * 1.25
        corners = (
            [(x, y - s), (x + s, y + s * 0.8), (x - s, y + s * 0.8)]
            if shape == "triangle"
            else [(x, y - s), (x + s, y), (x, y + s), (x - s, y)]
        )
        d = "M" + " L".join(f"{num(px)} {num(py)}" for px, py in corners) + " Z"
        return tag("path", {**style, "d": d}, title=title)
    return tag("circle", {**style, "cx": x, "cy": y, "r": size}, title=title)


def polyline(segments: list[list[tuple[float, float]]], color: str, dash: str, title: str, width: float = 2.0) -> str:
    """One line through each segment's points (a gap between segments: e.g. separate learning episodes)."""
    d = " ".join("M" + " L".join(f"{num(x)} {num(y)}" for x, y in points) for points in segments if len(points) > 1)
    if not d:
        return ""
    return tag(
        "path",
        {
            "class": "mark line",
            "d": d,
            "fill": "none",
            "stroke": color,
            "stroke-width": num(width),
            "stroke-linejoin": "round",
            "stroke-dasharray": dash or None,
        },
        title=title,
    )


@dataclass
class LegendItem:
    label: str
    swatch: str  # SVG drawn in an 18x12 box at the origin


def line_swatch(color: str, dash: str = "", shape: str | None = None) -> str:
    out = tag(
        "line",
        {"x1": 0, "y1": 6, "x2": 18, "y2": 6, "stroke": color, "stroke-width": "2", "stroke-dasharray": dash or None},
    )
    return out + (marker(shape, 9, 6, color, "", 3.2, cls="swatch") if shape else "")


def box_swatch(fill: str, opacity: float = 1.0, stroke: str | None = None, dash: str = "") -> str:
    return tag(
        "rect",
        {
            "x": 1,
            "y": 1,
            "width": 16,
            "height": 10,
            "fill": fill,
            "fill-opacity": opacity,
            "stroke": stroke,
            "stroke-width": "1.5" if stroke else None,
            "stroke-dasharray": dash or None,
        },
    )


def legend(items: list[LegendItem], x: float, y: float, max_width: float) -> tuple[str, float]:
    """Lay the items out left to right, wrapping into rows; returns the markup and the height it takes."""
    if not items:
        return "", 0.0
    row_height, gap = 18.0, 18.0
    out, cx, cy = [], 0.0, 0.0
    for item in items:
        label = clip(item.label, max(8, int((max_width - 24) / (FONT_PX * EM_PER_CHAR))))
        width = 24 + text_width(label)
        if cx > 0 and cx + width > max_width:
            cx, cy = 0.0, cy + row_height
        out.append(
            f'<g transform="translate({num(x + cx)} {num(y + cy)})">{item.swatch}'
            + text(24, 10, label, class_="legend-label")
            + "</g>"
        )
        cx += width + gap
    return tag("g", {"class": "legend"}, *out), cy + row_height


def chart(name: str, width: float, height: float, label: str, *body: str) -> str:
    return tag(
        "svg",
        {
            "class": "chart",
            "data-chart": name,
            "viewBox": f"0 0 {num(width)} {num(height)}",
            "width": num(width),
            "height": num(height),
            "role": "img",
            "aria-label": label,
        },
        *body,
    )
