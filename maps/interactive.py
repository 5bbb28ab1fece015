"""Interactive Leaflet map (folium) of analysis units coloured by a chosen indicator, and the input layers.

The page is self-contained (see :mod:`ditan.maps.offline`): Leaflet and its plugins are inlined from
``maps/vendor``, markers are DivIcons with inline SVG, and the data layers draw without a basemap.
Every layer is one ``folium.GeoJson`` per class (no per-feature Python objects), so maps with
thousands of buildings or points stay light. All text that comes from data is HTML-escaped
(:mod:`ditan.maps.geojson_layer`), because Leaflet tooltips, popups and the layer control insert
strings as HTML. Here the page is put together: the units layer (:mod:`ditan.maps.unit_layer`) and
the input layers (:mod:`ditan.maps.input_layers`) in drawing order, the layer control and legends.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.maps import basemaps, geojson_layer
from ditan.maps import legend as lg
from ditan.maps import style as st
from ditan.maps.geojson_layer import _prep
from ditan.maps.icons import facility_icons
from ditan.maps.input_layers import (
    LANDUSE_LAYER,
    _add_buildings,
    _add_facilities,
    _add_gaps,
    _add_landuse,
    _add_roads,
    _add_service_areas,
    _add_station_circles,
    _add_stations,
    _drawn_areas,
    _is_station,
)
from ditan.maps.offline import PageChrome, add_tools, inline_assets
from ditan.maps.popup_chart import MAX_CHART_UNITS, TOO_MANY, popup_charts
from ditan.maps.unit_layer import UNITS_LAYER, _add_units
from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.standards.registry import Indicator

__all__ = ["build_map", "map_html"]

log = logging.getLogger(__name__)


def build_map(
    units: gpd.GeoDataFrame,
    *,
    indicators: dict[str, Indicator],
    color_by: str,
    roads: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    categories: dict | None = None,
    stations: gpd.GeoDataFrame | None = None,
    station_radius_m: float = 500.0,
    service_areas: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    gaps: gpd.GeoDataFrame | None = None,
    compliance: pd.DataFrame | None = None,
    key_indicators: Sequence[str] = lg.KEY_INDICATORS,
    attribution: str = "© OpenStreetMap contributors (ODbL)",
    tiles: str | bool = "osm",
    reasons: pd.DataFrame | None = None,
    tianditu_key: str | None = None,
    rules: Mapping[str, object] | None = None,
    max_charts: int = MAX_CHART_UNITS,
) -> folium.Map:
    """An interactive map of the units, coloured by a selectable indicator, plus the optional input layers.

    ``units`` (metric CRS) can be coloured by ``color_by`` (first) and the ``key_indicators`` present, each
    with its legend, and by the binding result of ``compliance`` (``ditan.spatial.standards.compliance.evaluate``).
    ``categories``: facility category id → (zh, en). ``service_areas`` (category, tier, distance_m,
    reachable_network_km, area_km2): one hidden layer per tier; ``landuse`` (lu_class) in the GB 50137
    colours; ``gaps`` (:func:`coverage_gaps`) in red. Inputs are not modified. ValueError if ``color_by``
    is not a column of ``units``.

    ``tiles``: the basemap (:mod:`ditan.maps.basemaps`; ``tianditu_key`` for Tianditu); on GCJ-02 tiles (gaode)
    every drawn coordinate is shifted for display only. ``rules`` (rule id → profile Rule, with ``compliance``):
    each unit's popup shows a small radar of its rules as shares of their targets, up to ``max_charts`` units.
    """
    bm = basemaps.basemap(tiles, tianditu_key)
    with basemaps.display_shift(bm):  # the page is built inside the basemap's display shift
        if color_by not in units.columns or color_by == units.geometry.name:
            available = [c for c in units.columns if c not in (units.geometry.name, "name")]
            raise ValueError(
                f"color_by '{color_by}' is not a column of units; available: {', '.join(available)}"
            )
        ensure_projected(units, "units")
        missing = [k for k in indicators if k not in units.columns]
        if missing:
            log.warning("indicators not in units, left out of the tooltip: %s", ", ".join(missing))
        u = _prep(units, "units")
        if u.empty:
            raise ValueError("units has no geometries to map")
        if not np.isfinite(pd.to_numeric(u[color_by], errors="coerce").to_numpy(dtype=float)).any():
            log.warning(
                "color_by '%s' has no numeric value; every unit is drawn as no data", color_by
            )
        w, s, e, n = basemaps.display_bounds(bm, u.total_bounds)  # the view on the drawing
        m = folium.Map(location=[(s + n) / 2, (w + e) / 2], tiles=None, control_scale=True)
        basemaps.add_basemap(m, bm)
        swatches: dict[str, str] = {}
        toggled, legends = [], []
        if landuse is not None and not landuse.empty:
            group, legend = _add_landuse(m, landuse, units.crs)
            toggled, legends = [group], [legend]
            swatches[LANDUSE_LAYER] = lg.fill_swatch(
                "linear-gradient(90deg,#FFFF2D 33%,#FF7FBF 33% 66%,#00C000 66%)", "#666"
            )
        charts = None
        if compliance is not None and not compliance.empty and rules:
            charts = popup_charts(u.index, compliance, rules, max_units=max_charts)
            if charts is None:  # said once, beside the layers left out for their size
                attribution += " · " + TOO_MANY.format(n=max_charts)
        units_layer, cfg = _add_units(
            m, u, indicators, color_by, key_indicators, compliance, reasons, charts=charts
        )
        swatches[UNITS_LAYER] = lg.fill_swatch(
            f"linear-gradient(90deg,{','.join(st.SEQUENTIAL)})", "#333"
        )
        categories = categories or {}
        has_facilities = facilities is not None and not facilities.empty
        present = set(st.facility_categories(facilities)) if has_facilities else set()
        areas = _drawn_areas(service_areas) if service_areas is not None else None
        if areas is not None:
            present |= {c for c in areas["category"].astype(str) if not _is_station(c, categories)}
        order = st.category_order(present, categories)
        colors = st.category_colors(order)
        if areas is not None and not areas.empty:
            _add_service_areas(m, areas, categories, colors, units.crs)
        if buildings is not None and not buildings.empty:
            _add_buildings(m, buildings)
            swatches["建筑 Buildings"] = lg.fill_swatch(
                st.BUILDING_COLORS["residential"], st.BUILDING_COLORS["other"]
            )
        if gaps is not None:
            swatches[_add_gaps(m, gaps)] = lg.fill_swatch(st.GAP_COLOR)
        has_stations = stations is not None and not stations.empty
        if has_stations:
            name = _add_station_circles(m, stations, units.crs, station_radius_m)
            swatches[name] = lg.fill_swatch("rgba(21,101,192,.12)", st.STATION_COLORS["bus_stop"])
        if roads is not None and not roads.empty:
            swatches |= _add_roads(m, roads)
        if has_facilities:
            swatches |= _add_facilities(m, facilities, categories, facility_icons(order, colors))
        if has_stations:
            swatches |= _add_stations(m, stations)
        add_tools(m)
        control = folium.LayerControl(collapsed=True).add_to(m)
        cfg |= {"swatches": swatches, "legends": legends, "basemap": basemaps.legend_note(bm)}
        PageChrome(
            units_layer,
            control,
            cfg,
            toggled,
            attribution=basemaps.attribution_line(attribution, bm),
            css=lg.NODATA_CSS,
            body=lg.HATCH_SVG,
        ).add_to(m)
        m.fit_bounds([[s, w], [n, e]])
        return m


_FOLIUM_ID = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])")
_SERVER = re.compile(r"[a-z]+://[^/?]+/", re.IGNORECASE)


def _server(template: str) -> str:
    """The tile server a page may still reach: scheme and host as in the template ("https://t{s}.tianditu.gov.cn/")."""
    found = _SERVER.match(template)
    return found.group(0) if found else template.split("{")[0]


def map_html(m: folium.Map) -> str:
    """The map as one self-contained HTML page, identical for identical inputs.

    folium names every element with a random 32-hex id (``map_3f2a…``); they are renumbered in
    order of appearance so that two runs on the same data give the same bytes. Every script and
    stylesheet is then inlined from maps/vendor (:func:`ditan.maps.offline.inline_assets`); only the tile
    server of an online basemap stays external. Raises ditan.maps.offline.OfflineError otherwise.
    The layers' GeoJSON data go in last (:class:`ditan.maps.geojson_layer.InlineGeoJson`): the
    page's markup and scripts are checked, the data are JSON and never a template.
    """
    ids: dict[str, str] = {}

    def renumber(match: re.Match) -> str:
        return ids.setdefault(match.group(0), f"{len(ids) + 1:032x}")

    tiles = [_server(c.tiles) for c in m._children.values() if isinstance(c, folium.TileLayer)]
    return geojson_layer.render_with_data(
        m.get_root(), lambda page: inline_assets(_FOLIUM_ID.sub(renumber, page), allow=tiles)
    )
