"""One folium.GeoJson layer per class of features: the helper every layer of the interactive map uses.

A layer is prepared (:func:`_prep`: empty geometries left out, reprojected), turned into one GeoJSON
FeatureCollection with only display-safe properties and rounded coordinates, and added with its
tooltip, popup and DivIcon marker. Text from data is HTML-escaped here (``_esc``, ``_fmt``, ``_km2``),
because Leaflet tooltips, popups and the layer control insert strings as HTML.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.maps.display_text import MISSING, escaped_text, km2_text, value_text

log = logging.getLogger("ditan.maps.interactive")

WGS84 = "EPSG:4326"
#: Every web coordinate is rounded to this many decimal degrees (about 0.1 m), to keep the page small.
COORD_DECIMALS = 6

_esc, _fmt, _km2 = escaped_text, value_text, km2_text
#: a display-only shift of the WGS 84 web coordinates ((n, 2) lon/lat → (n, 2)), set while a map on GCJ-02
#: tiles is built (:func:`ditan.maps.basemaps.display_shift`); None: drawn as they are
DISPLAY_SHIFT: ContextVar[Callable[[np.ndarray], np.ndarray] | None] = ContextVar(
    "DISPLAY_SHIFT", default=None
)


def _col(gdf: gpd.GeoDataFrame, column: str, fmt: Callable[[object], str] = _esc) -> list[str]:
    """Display text of one column (all "—" when the column is absent)."""
    return list(gdf[column].map(fmt)) if column in gdf.columns else [MISSING] * len(gdf)


def _prep(
    gdf: gpd.GeoDataFrame, layer: str, points: bool = False, crs: object = WGS84
) -> gpd.GeoDataFrame:
    """A copy without empty geometries, in ``crs`` (points: representative points first)."""
    if gdf.crs is None:
        raise ValueError(f"layer '{layer}' has no CRS; set it before mapping")
    out = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)].copy()
    if len(out) < len(gdf):
        log.info("%s: %d features without geometry not drawn", layer, len(gdf) - len(out))
    if points and not (out.geom_type == "Point").all():
        out = out.set_geometry(out.geometry.representative_point())
    return out.to_crs(crs)


def _feature_collection(gdf: gpd.GeoDataFrame, props: dict[str, pd.Series | list]) -> dict:
    """GeoJSON FeatureCollection with only ``props`` (already display-safe) and ids '0', '1' and so on.

    Coordinates (WGS 84, or shifted by DISPLAY_SHIFT for GCJ-02 tiles) are rounded to COORD_DECIMALS,
    which roughly halves the page size.
    """
    shift = DISPLAY_SHIFT.get()
    geom = shapely.transform(
        gdf.geometry.to_numpy(),
        lambda xy: np.round(xy if shift is None else shift(xy), COORD_DECIMALS),
    )
    shapes = json.loads(
        "[" + ",".join(shapely.to_geojson(geom)) + "]"
    )  # one parse for the whole layer
    rows = pd.DataFrame({k: list(v) for k, v in props.items()}, index=range(len(geom))).astype(
        object
    )
    rows = rows.where(rows.notna(), None).to_dict("records")
    return {
        "type": "FeatureCollection",
        "features": [
            {"id": str(i), "type": "Feature", "properties": p, "geometry": g}
            for i, (p, g) in enumerate(zip(rows, shapes, strict=True))
        ],
    }


def _const(style: dict) -> Callable[[dict], dict]:
    """A style function giving every feature the same style."""
    return lambda _feature: dict(style)


def _geojson(
    parent: folium.Map | folium.FeatureGroup,
    gdf: gpd.GeoDataFrame,
    props: Mapping[str, pd.Series | list],
    style: dict | Callable[[dict], dict] | None,
    tooltip: Mapping[str, str] | None = None,
    popup: Mapping[str, str] | None = None,
    icon: str | None = None,
    **kwargs: object,
) -> folium.GeoJson:
    """Add one GeoJson layer; ``tooltip``/``popup`` map property → bilingual label (escaped here).

    Points get a DivIcon marker showing ``icon`` (inline SVG; no image or web font).
    """
    marker = None
    if icon is not None:
        marker = folium.Marker(
            icon=folium.DivIcon(
                html=icon, icon_size=(16, 16), icon_anchor=(8, 8), class_name="ditan-icon"
            )
        )
    tip = pop = None
    if tooltip:
        tip = folium.GeoJsonTooltip(
            fields=list(tooltip), aliases=[html.escape(a) for a in tooltip.values()], sticky=True
        )
    if popup:
        pop = folium.GeoJsonPopup(
            fields=list(popup), aliases=[html.escape(a) for a in popup.values()], max_width=420
        )
    style_function = None if style is None else style if callable(style) else _const(style)
    return folium.GeoJson(
        _feature_collection(gdf, props),
        style_function=style_function,
        tooltip=tip,
        popup=pop,
        marker=marker,
        **kwargs,
    ).add_to(parent)
