"""Basemaps of the interactive map that work in mainland China: OpenStreetMap, 天地图 Tianditu, 高德 Gaode, a URL template.

``map.tiles`` names one of :data:`CHOICES` or is an XYZ URL template (``{x}``, ``{y}`` and ``{z}``). Tiles are
fetched by the browser when the page is viewed; nothing is downloaded while the map is written (the page stays
self-contained otherwise, see :mod:`ditan.maps.offline`).

- ``tianditu`` / ``tianditu_img``: 天地图's Web Mercator (``_w``) vector or imagery layer with its annotation layer
  (``cva_w`` / ``cia_w``). Tianditu is CGCS2000, which agrees with WGS 84 to centimetres: the data are drawn as
  they are. A key (``tk``) is required (``map.tianditu_key`` or the environment variable TIANDITU_KEY;
  https://console.tianditu.gov.cn).
- ``gaode``: 高德's road map tiles are in GCJ-02, offset by a few hundred metres from WGS 84; the data are
  shifted to GCJ-02 **for display only** (:func:`display_shift`), never in any table or file, and the legend
  says so (:data:`GCJ02_NOTE`).
- a URL template is drawn as given (assumed WGS 84-aligned Web Mercator).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

from ditan.maps.display_text import inert_html
from ditan.spatial.crs.china import wgs84_to_gcj02

if TYPE_CHECKING:
    import folium

__all__ = [
    "CHOICES",
    "GCJ02_NOTE",
    "KEY_ENV",
    "Basemap",
    "TileSpec",
    "normalise_tiles",
    "tiles_problem",
    "resolve_key",
    "basemap",
    "add_basemap",
    "attribution_line",
    "legend_note",
    "display_shift",
    "manifest_entry",
]

#: the named basemaps of map.tiles (or an XYZ URL template)
CHOICES = ("osm", "tianditu", "tianditu_img", "gaode", "none")
#: the environment variable read when map.tianditu_key is not set
KEY_ENV = "TIANDITU_KEY"
KEY_HINT = "get a free browser key (浏览器端) at https://console.tianditu.gov.cn"
#: the legend line of a map drawn on GCJ-02 tiles
GCJ02_NOTE = "底图为高德（GCJ-02），图上要素已偏移以对齐；数据表仍为 WGS 84"
GCJ02_NOTE_EN = (
    "Basemap Gaode (GCJ-02): features are shifted on screen to align; the tables stay WGS 84"
)

_TDT = "https://t{s}.tianditu.gov.cn/DataServer?T={layer}&x={{x}}&y={{y}}&l={{z}}&tk={key}"
_TDT_SUB = "01234567"
_TDT_CREDIT = "底图 Basemap © 天地图 Tianditu (国家地理信息公共服务平台)"
_GAODE = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
_OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_CREDIT = "底图 Basemap © OpenStreetMap contributors"


@dataclass(frozen=True)
class TileSpec:
    url: str  # XYZ template ({s} subdomain when subdomains is set)
    subdomains: str = ""
    max_zoom: int = 18


@dataclass(frozen=True)
class Basemap:
    kind: str  # osm | tianditu | tianditu_img | gaode | custom | none
    layers: tuple[TileSpec, ...]  # drawn in this order (a Tianditu annotation on top)
    credit: str  # the basemap's part of the attribution line ("" without tiles)
    gcj02: bool = False  # the tiles are GCJ-02: the data are shifted for display

    @property
    def note(self) -> str:
        """The legend's basemap line ("" when nothing needs saying)."""
        return f"{GCJ02_NOTE} · {GCJ02_NOTE_EN}" if self.gcj02 else ""


def normalise_tiles(value: object) -> object:
    """map.tiles as written: ``true`` → 'osm', ``false`` → 'none' (old configs), a name lower-cased."""
    if value is True:
        return "osm"
    if value is False or value is None:
        return "none"
    if isinstance(value, str) and value.strip().lower() in CHOICES:
        return value.strip().lower()
    return value.strip() if isinstance(value, str) else value


def tiles_problem(value: str) -> str | None:
    """Why ``value`` (normalised) is not a basemap choice, or None when it is."""
    if value in CHOICES:
        return None
    if not re.match(r"https?://", value):
        return (
            f"'{value}' is neither a basemap ({', '.join(CHOICES)}) nor an http(s) URL template "
            "such as https://tile.example.com/{z}/{x}/{y}.png"
        )
    missing = [p for p in ("{x}", "{y}", "{z}") if p not in value]
    if missing:
        return (
            f"the URL template '{value}' lacks {', '.join(missing)}; an XYZ template needs "
            "{x}, {y} and {z} (and {s} for subdomains), e.g. https://tile.example.com/{z}/{x}/{y}.png"
        )
    return None


def resolve_key(key: str | None) -> str | None:
    """The Tianditu key: map.tianditu_key, else the environment variable TIANDITU_KEY (None: neither)."""
    key = (key or "").strip() or os.environ.get(KEY_ENV, "").strip()
    return key or None


def basemap(tiles: str | bool, key: str | None = None) -> Basemap:
    """The basemap of a map.tiles value; ``key`` is map.tianditu_key (TIANDITU_KEY when None).

    ValueError (with the fix) for an unknown value or a Tianditu basemap without a key.
    """
    t = normalise_tiles(tiles)
    if not isinstance(t, str) or (why := tiles_problem(t)):
        raise ValueError(f"map.tiles: {why if isinstance(t, str) else repr(tiles)}")
    if t == "none":
        return Basemap("none", (), "")
    if t == "osm":
        return Basemap("osm", (TileSpec(_OSM, max_zoom=19),), _OSM_CREDIT)
    if t in ("tianditu", "tianditu_img"):
        tk = resolve_key(key)
        if tk is None:
            raise ValueError(
                f"map.tianditu_key: map.tiles '{t}' needs a Tianditu key; set map.tianditu_key or the "
                f"environment variable {KEY_ENV} ({KEY_HINT})"
            )
        base, label = ("vec_w", "cva_w") if t == "tianditu" else ("img_w", "cia_w")
        return Basemap(
            t,
            tuple(
                TileSpec(_TDT.format(s="{s}", layer=layer, key=tk), _TDT_SUB)
                for layer in (base, label)
            ),
            _TDT_CREDIT,
        )
    if t == "gaode":
        return Basemap(
            "gaode", (TileSpec(_GAODE, "1234"),), "底图 Basemap © 高德地图 AutoNavi", gcj02=True
        )
    host = urlsplit(t.replace("{s}", "a")).hostname or t
    return Basemap("custom", (TileSpec(t, "abc" if "{s}" in t else ""),), f"底图 Basemap © {host}")


def add_basemap(m: folium.Map, bm: Basemap) -> list[folium.TileLayer]:
    """Add the basemap's tile layers (not in the layer control; no attribution of their own: see :func:`attribution_line`)."""
    import folium  # the config imports this module: folium only when a map is drawn

    out = []
    for i, spec in enumerate(bm.layers):
        layer = folium.TileLayer(
            spec.url,
            attr=bm.credit or "basemap",  # folium requires one; removed below
            name=f"basemap{i}",
            control=False,
            max_zoom=spec.max_zoom,
            max_native_zoom=spec.max_zoom,
            **({"subdomains": spec.subdomains} if spec.subdomains else {}),
        )
        layer.options.pop("attribution", None)  # one attribution line, written by the page chrome
        out.append(layer.add_to(m))
    return out


def attribution_line(data: str, bm: Basemap) -> str:
    """The map's one attribution line: the data's, then the basemap's unless the data's already names it."""
    if not bm.credit:
        return data
    if bm.kind == "osm" and "openstreetmap" in data.lower():
        return data + " · 底图 Basemap OSM"
    return f"{data} · {bm.credit}"


def _gcj02_xy(xy: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def shift_of(bm: Basemap) -> Callable[[np.ndarray], np.ndarray] | None:
    """The display shift of web coordinates ((n, 2) lon/lat) on ``bm``: to GCJ-02 for GCJ-02 tiles, else None."""
    return _gcj02_xy if bm.gcj02 else None


def display_bounds(bm: Basemap, bounds: Sequence[float]) -> tuple[float, float, float, float]:
    """WGS 84 ``bounds`` (west, south, east, north) as drawn on ``bm``: shifted to GCJ-02 for GCJ-02 tiles."""
    w, s, e, n = (float(v) for v in bounds)
    shift = shift_of(bm)
    if shift is not None:
        (w, s), (e, n) = shift(np.array([[w, s], [e, n]], dtype=float))
    return float(w), float(s), float(e), float(n)


@contextmanager
def display_shift(bm: Basemap) -> Iterator[Callable[[np.ndarray], np.ndarray] | None]:
    """While a map is built on ``bm``: every web coordinate drawn is shifted to GCJ-02 when its tiles are.

    Only the GeoJSON written into the page is shifted (:mod:`ditan.maps.geojson_layer`); the frames passed
    in, and every table and file, keep WGS 84 / their metric CRS.
    """
    from ditan.maps import geojson_layer

    shift = shift_of(bm)
    token = geojson_layer.DISPLAY_SHIFT.set(shift)
    try:
        yield shift
    finally:
        geojson_layer.DISPLAY_SHIFT.reset(token)


def manifest_entry(tiles: str | bool, key: str | None = None) -> dict:
    """manifest.json's ``map_basemap``: the basemap, its tile templates (key masked) and the display shift."""
    try:
        bm = basemap(tiles, key)
    except ValueError as e:
        return {"map_basemap": {"tiles": str(normalise_tiles(tiles)), "error": str(e)}}
    tk = resolve_key(key)
    urls = [s.url.replace(tk, "***") if tk else s.url for s in bm.layers]
    return {
        "map_basemap": {
            "tiles": bm.kind if bm.kind != "custom" else "custom",
            "tile_urls": urls,
            "credit": bm.credit,
            "display_crs": "GCJ-02" if bm.gcj02 else "WGS 84",
            "note": bm.note or None,
            "outputs_crs_unchanged": True,
        }
    }


def legend_note(bm: Basemap) -> str:
    """The basemap line of the legend, escaped ('' when nothing needs saying)."""
    return f'<div class="ditan-basemap">{inert_html(bm.note)}</div>' if bm.note else ""
