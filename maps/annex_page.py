"""Page furniture of the map annex: paper and orientation, map extent, scale bar and north arrow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.patches import Rectangle

__all__ = [
    "orientation",
    "page_inches",
    "nice_length",
    "ScaleBar",
    "scale_bar",
    "rounded_scale",
    "draw_scale_bar",
    "draw_north_arrow",
    "map_extent",
]

#: Paper sizes (mm, portrait).
PAPER_MM: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
INCH_MM = 25.4


def orientation(bounds: Sequence[float]) -> str:
    """'landscape' when the unit's bounding box is wider than tall, else 'portrait'."""
    x0, y0, x1, y1 = bounds
    return "landscape" if (x1 - x0) > (y1 - y0) else "portrait"


def page_inches(paper: str, orient: str) -> tuple[float, float]:
    w, h = (v / INCH_MM for v in PAPER_MM[paper])
    return (h, w) if orient == "landscape" else (w, h)


def nice_length(x: float) -> float:
    """The largest 1, 2 or 5 × 10^n not above ``x`` (x > 0)."""
    if not x > 0:
        raise ValueError(f"length must be positive, not {x}")
    p = 10.0 ** math.floor(math.log10(x))
    return max(m * p for m in (1, 2, 5) if m * p <= x * (1 + 1e-9))


@dataclass(frozen=True)
class ScaleBar:
    length_m: float
    length_in: float  # on paper
    scale: float  # representative fraction 1:scale at print size
    label: str


def scale_bar(width_m: float, axes_width_in: float, fraction: float = 0.25) -> ScaleBar:
    """Bar of a round length (1/2/5 × 10^n m) at most ``fraction`` of a map ``width_m`` wide drawn ``axes_width_in``."""
    length = nice_length(width_m * fraction)
    label = f"{length / 1000:g} 千米" if length >= 1000 else f"{length:g} 米"
    return ScaleBar(
        length,
        length / width_m * axes_width_in,
        width_m / (axes_width_in * INCH_MM / 1000.0),
        label,
    )


def rounded_scale(s: float) -> int:
    """1:s rounded to two significant figures (1:9,456 → 9,500)."""
    p = 10 ** max(int(math.floor(math.log10(s))) - 1, 0)
    return int(round(s / p) * p)


def draw_scale_bar(ax, bar: ScaleBar, extent: Sequence[float]) -> list:
    """Two-segment black/white bar in the lower left of the map; returns its rectangles."""
    x0, y0, x1, y1 = extent
    h = (y1 - y0) * 0.008
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.04
    ax.add_patch(
        Rectangle(
            (bx - (x1 - x0) * 0.015, by - h * 1.5),
            bar.length_m + (x1 - x0) * 0.05,
            h * 6.5,
            facecolor="white",
            edgecolor="none",
            alpha=0.85,
            zorder=20,
        )
    )
    half = bar.length_m / 2
    rects = [
        Rectangle(
            (bx + i * half, by), half, h, facecolor=c, edgecolor="black", linewidth=0.6, zorder=21
        )
        for i, c in enumerate(("black", "white"))
    ]
    for r in rects:
        ax.add_patch(r)
    for x, t in ((bx, "0"), (bx + bar.length_m, bar.label)):
        ax.text(x, by + h * 1.6, t, ha="center", va="bottom", fontsize=7, zorder=22)
    return rects


def draw_north_arrow(ax) -> None:
    ax.annotate(
        "",
        xy=(0.95, 0.95),
        xytext=(0.95, 0.87),
        xycoords="axes fraction",
        zorder=22,
        arrowprops={
            "arrowstyle": "-|>,head_length=0.8,head_width=0.4",
            "color": "black",
            "linewidth": 1.4,
        },
    )
    ax.text(
        0.95, 0.955, "北 N", transform=ax.transAxes, ha="center", va="bottom", fontsize=8, zorder=22
    )


def map_extent(
    bounds: Sequence[float],
    box_w: float,
    box_h: float,
    margin: float = 0.12,
    min_margin_m: float = 80.0,
) -> tuple:
    """``bounds`` plus a margin, widened in one direction to the aspect of a ``box_w`` × ``box_h`` map frame."""
    x0, y0, x1, y1 = bounds
    pad = max(margin * max(x1 - x0, y1 - y0), min_margin_m)
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if w / h < box_w / box_h:
        w = h * box_w / box_h
    else:
        h = w * box_h / box_w
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
