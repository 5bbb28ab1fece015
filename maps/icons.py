"""Map markers as inline SVG (no web font, no image file): facility shapes and station glyphs."""

from __future__ import annotations

from collections.abc import Sequence

from ditan.maps.display_text import inert_html
from ditan.maps.style import OTHER_STATION_COLOR, STATION_COLORS

__all__ = ["marker_svg", "facility_icons", "station_icon"]

#: Marker shapes of facility categories (with the category colour, a category's icon is unique).
MARKER_SHAPES: tuple[str, ...] = (
    "circle",
    "triangle",
    "square",
    "diamond",
    "pentagon",
    "star",
    "hexagon",
    "down",
)
#: Letter drawn on a station kind's rounded-square marker.
STATION_GLYPHS: dict[str, str] = {
    "bus_stop": "B",
    "metro": "M",
    "bike_rental": "C",
    "ev_charging": "E",
}
_SHAPE_POINTS = {
    "triangle": "8,1 15,14 1,14",
    "square": "2,2 14,2 14,14 2,14",
    "diamond": "8,0.5 15.5,8 8,15.5 0.5,8",
    "pentagon": "8,1 15,6.2 12.3,14.5 3.7,14.5 1,6.2",
    "star": "8,0.5 10.2,5.6 15.6,5.9 11.5,9.4 12.8,14.8 8,11.9 3.2,14.8 4.5,9.4 0.4,5.9 5.8,5.6",
    "hexagon": "4.5,1.5 11.5,1.5 15,8 11.5,14.5 4.5,14.5 1,8",
    "down": "1,2 15,2 8,15",
}


def marker_svg(shape: str, color: str, glyph: str = "", size: int = 16) -> str:
    """Inline SVG of a map marker (no web font, no image file): a ``shape`` in ``color``, optional letter."""
    if shape == "circle":
        body = f'<circle cx="8" cy="8" r="6.5" fill="{color}" stroke="#fff" stroke-width="1.5"/>'
    elif shape == "station":
        body = f'<rect x="1" y="1" width="14" height="14" rx="3" fill="{color}" stroke="#fff" stroke-width="1.5"/>'
    else:
        body = f'<polygon points="{_SHAPE_POINTS[shape]}" fill="{color}" stroke="#fff" stroke-width="1.3"/>'
    if glyph:
        body += (
            f'<text x="8" y="12" text-anchor="middle" font-family="Arial,sans-serif" font-size="10" font-weight="bold" '
            f'fill="#fff">{inert_html(glyph)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 16 16" '
        f'style="filter:drop-shadow(0 0 1px #000)">{body}</svg>'
    )


def facility_icons(order: Sequence[str], colors: dict[str, str]) -> dict[str, str]:
    """Marker SVG per facility category: its colour and the next shape (category i gets shape i mod 8)."""
    return {
        c: marker_svg(MARKER_SHAPES[i % len(MARKER_SHAPES)], colors[c]) for i, c in enumerate(order)
    }


def station_icon(kind: str) -> str:
    """Marker SVG of a station kind: rounded square in the kind's colour with its letter."""
    return marker_svg(
        "station", STATION_COLORS.get(kind, OTHER_STATION_COLOR), STATION_GLYPHS.get(kind, "S")
    )
