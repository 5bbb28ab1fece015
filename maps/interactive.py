"""Interactive Leaflet map (folium) of analysis units, one indicator choropleth and the input layers.

Every layer is one ``folium.GeoJson`` per class (no per-feature Python objects), so maps with
thousands of buildings or points stay light. All text that comes from data is HTML-escaped here,
because Leaflet tooltips and the layer control insert strings as HTML.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from collections.abc import Callable, Mapping

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.colormap import StepColormap
from branca.element import MacroElement
from folium.template import Template

from maps import style as st
from spatial.crs import ensure_projected
from spatial.standards.registry import Indicator

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
MISSING = "—"
#: Service-area outlines are simplified by this many metres, and every web coordinate rounded to
#: this many decimal degrees (about 0.1 m), to keep the page small.
SIMPLIFY_M = 3.0
COORD_DECIMALS = 6


def _esc(value: object) -> str:
    """Escaped text of a data value; "—" when missing."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return MISSING
    return html.escape(str(value))


def _fmt(value: object) -> str:
    """Display text of an indicator value: integers as is, other numbers to 2 decimals."""
    if isinstance(value, (bool, np.bool_)):
        return "是 yes" if value else "否 no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            return MISSING
        return f"{f:,.0f}" if f.is_integer() and abs(f) < 1e15 else f"{f:,.2f}"
    return _esc(value)


def _km2(value: object) -> str:
    """Display text of an area in km², to 3 decimals (1,000 m²)."""
    f = pd.to_numeric(value, errors="coerce")
    return f"{f:,.3f}" if pd.notna(f) and math.isfinite(f) else MISSING


def _col(gdf: gpd.GeoDataFrame, column: str, fmt: Callable[[object], str] = _esc) -> list[str]:
    """Display text of one column (all "—" when the column is absent)."""
    return list(gdf[column].map(fmt)) if column in gdf.columns else [MISSING] * len(gdf)


def _prep(gdf: gpd.GeoDataFrame, layer: str, points: bool = False, crs: object = WGS84) -> gpd.GeoDataFrame:
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

    Coordinates (WGS 84) are rounded to COORD_DECIMALS, which roughly halves the page size.
    """
    geom = shapely.transform(gdf.geometry.to_numpy(), lambda xy: np.round(xy, COORD_DECIMALS))
    frame = gpd.GeoDataFrame({k: list(v) for k, v in props.items()}, geometry=list(geom), crs=gdf.crs)
    fc = json.loads(frame.to_json(na="null", drop_id=True))
    for i, feat in enumerate(fc["features"]):
        feat["id"] = str(i)
    return fc


def _const(style: dict) -> Callable[[dict], dict]:
    """A style function giving every feature the same style."""
    return lambda _feature: dict(style)


def _geojson(
    parent: folium.Map | folium.FeatureGroup,
    gdf: gpd.GeoDataFrame,
    props: Mapping[str, pd.Series | list],
    style: dict | Callable[[dict], dict],
    tooltip: Mapping[str, str] | None = None,
    **kwargs: object,
) -> None:
    """Add one GeoJson layer; ``tooltip`` maps property → bilingual label (escaped here).

    Points (``marker=True``) are drawn as circle markers styled by ``style``.
    """
    marker = folium.CircleMarker(radius=5) if kwargs.pop("marker", False) else None
    tip = None
    if tooltip:
        aliases = [html.escape(a) for a in tooltip.values()]
        tip = folium.GeoJsonTooltip(fields=list(tooltip), aliases=aliases, sticky=True)
    folium.GeoJson(
        _feature_collection(gdf, props),
        style_function=style if callable(style) else _const(style),
        tooltip=tip,
        marker=marker,
        **kwargs,
    ).add_to(parent)


class _Extras(MacroElement):
    """Legend box and CSS of ``style.legend_html`` plus a data attribution in Leaflet's control.

    The attribution is added with ``attributionControl.addAttribution`` so it shows with or
    without a tile layer; it is HTML-escaped, so its JSON string holds no markup or "</script>".
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
        {% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
        {% macro script(this, kwargs) %}
        if ({{ this._parent.get_name() }}.attributionControl) {
            {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.attribution }});
        }
        {% endmacro %}
        """
    )

    def __init__(self, road_classes: list[str], attribution: str) -> None:
        super().__init__()
        self._name = "DitanExtras"
        self.body, self.css = st.legend_html(road_classes)
        self.attribution = json.dumps(html.escape(attribution), ensure_ascii=False)


def _add_units(
    m: folium.Map, units: gpd.GeoDataFrame, indicators: Mapping[str, Indicator], color_by: str, caption: str
) -> None:
    """Choropleth of ``color_by`` with a StepColormap legend and a tooltip of every indicator."""
    values = pd.to_numeric(units[color_by], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(values).any():
        log.warning("color_by '%s' has no numeric value; every unit is drawn as no data", color_by)
    breaks = st.class_breaks(values, k=5, method="quantile")
    colors = st.class_colors(len(breaks) - 1)
    ids = [_esc(i) for i in units.index]
    props: dict[str, pd.Series | list] = {
        "uid": ids,
        "name": _col(units, "name") if "name" in units.columns else ids,
        "c": [int(c) for c in st.classify(values, breaks)],
    }
    fields = {"uid": "单元编号 Unit id", "name": "单元名称 Unit name"}
    cols = [c for c in indicators if c in units.columns and c not in ("name", "unit_id")]
    for i, col in enumerate(cols):
        props[f"t{i}"] = _col(units, col, _fmt)
        fields[f"t{i}"] = indicators[col].label

    def style(feature: dict) -> dict:
        c = feature["properties"]["c"]
        return dict(st.NODATA_STYLE) if c < 0 else {**st.UNIT_STYLE, "fillColor": colors[c]}

    hover = _const({"weight": 3, "color": "#000000"})
    _geojson(m, units, props, style, fields, name="分析单元 Analysis units", highlight_function=hover)
    StepColormap(colors, index=breaks, vmin=breaks[0], vmax=breaks[-1], caption=caption).add_to(m)


def _classes(gdf: gpd.GeoDataFrame, column: str, known: Mapping[str, object]) -> tuple[pd.Series, list[str]]:
    """``column`` as str with unknown values as '__other__', and the classes present in order."""
    raw = gdf[column].astype(str) if column in gdf.columns else pd.Series("", index=gdf.index)
    cls = raw.where(raw.isin(list(known)), "__other__")
    return cls, [k for k in [*known, "__other__"] if (cls == k).any()]


def _add_by_class(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    cls: pd.Series,
    labels: Mapping[str, str],
    styles: Mapping[str, dict],
    tooltip: Mapping[str, str],
    marker: bool = False,
) -> None:
    """One FeatureGroup named ``labels[c]`` with one GeoJson per class ``c`` (in ``labels`` order).

    ``tooltip`` maps the class alias (key "cls") and data columns to bilingual labels.
    """
    for c, label in labels.items():
        sub = gdf[(cls == c).to_numpy()]
        name = html.escape(label)
        cols = [k for k in tooltip if k != "cls"]
        props = {"cls": [name] * len(sub)} | {f"p{i}": _col(sub, col) for i, col in enumerate(cols)}
        tip = {"cls": tooltip["cls"]} | {f"p{i}": tooltip[col] for i, col in enumerate(cols)}
        group = folium.FeatureGroup(name=name).add_to(m)
        _geojson(group, sub, props, styles[c], tip, marker=marker)


def _add_station_circles(m: folium.Map, stations: gpd.GeoDataFrame, crs: object, radius_m: float) -> None:
    """True ``radius_m`` circles: buffered in the metric CRS, then reprojected (one light layer)."""
    pts = _prep(stations, "stations", points=True, crs=crs)
    circles = pts.set_geometry(pts.geometry.buffer(radius_m, quad_segs=32)).to_crs(WGS84)
    kind, order = _classes(circles, "kind", st.STATION_KINDS)
    ring = folium.FeatureGroup(name=f"站点{radius_m:g}米范围 Station {radius_m:g} m radius")
    for k in order:
        sub = circles[(kind == k).to_numpy()]
        color = st.STATION_COLORS.get(k, st.OTHER_STATION_COLOR)
        style = {"color": color, "weight": 0.8, "opacity": 0.5, "fillColor": color, "fillOpacity": 0.08}
        _geojson(ring, sub, {"kind": _col(sub, "kind")}, style, interactive=False, control=False)
    ring.add_to(m)


def _add_stations(m: folium.Map, stations: gpd.GeoDataFrame) -> None:
    """One circle-marker layer per station kind (公交站 Bus stop, 地铁站 Metro, …)."""
    pts = _prep(stations, "stations", points=True)
    kind, order = _classes(pts, "kind", st.STATION_KINDS)
    labels = {k: st.bilingual(st.STATION_KINDS.get(k, st.OTHER_STATION)) for k in order}
    styles = {k: st.point_style(st.STATION_COLORS.get(k, st.OTHER_STATION_COLOR)) for k in order}
    _add_by_class(m, pts, kind, labels, styles, {"cls": "类型 Kind", "name": "名称 Name"}, marker=True)


def _add_roads(m: folium.Map, roads: gpd.GeoDataFrame) -> list[str]:
    """One layer per road class, coloured and weighted by class; returns the classes drawn."""
    r = _prep(roads, "roads")
    cls, order = _classes(r, "road_class", st.ROAD_CLASSES)
    labels = {c: st.bilingual(st.ROAD_CLASSES.get(c, st.OTHER_ROAD)) for c in order}
    styles = {c: {**st.ROAD_STYLE.get(c, st.OTHER_ROAD_STYLE), "opacity": 0.9} for c in order}
    tip = {"cls": "等级 Class", "name": "名称 Name", "highway": "OSM highway"}
    _add_by_class(m, r, cls, labels, styles, tip)
    return order


def _add_buildings(m: folium.Map, buildings: gpd.GeoDataFrame) -> None:
    """One layer (hidden by default); residential and other buildings in two colours."""
    b = _prep(buildings, "buildings")
    res = b["residential"].eq(True).to_numpy() if "residential" in b.columns else np.zeros(len(b), bool)
    group = folium.FeatureGroup(name="建筑 Buildings", show=False).add_to(m)
    tip = {"kind": "类别 Class", "type": "建筑类型 Building", "floors": "层数 Floors"}
    for key, sel in (("residential", res), ("other", ~res)):
        sub, color = b[sel], st.BUILDING_COLORS[key]
        kind = [html.escape(st.bilingual(st.BUILDING_NAMES[key]))] * len(sub)
        props = {"kind": kind, "type": _col(sub, "building"), "floors": _col(sub, "floors", _fmt)}
        style = {"color": color, "weight": 0.5, "fillColor": color, "fillOpacity": 0.6}
        if sel.any():
            _geojson(group, sub, props, style, tip)


def _facility_categories(gdf: gpd.GeoDataFrame) -> pd.Series:
    """Category id of each facility as str ('__other__' where missing)."""
    raw = gdf["category"] if "category" in gdf.columns else pd.Series(None, index=gdf.index, dtype=object)
    return raw.where(raw.notna(), "__other__").astype(str)


def _category_order(present: set[str], categories: Mapping[str, object]) -> list[str]:
    """``present`` in catalogue order, then the categories not in the catalogue alphabetically."""
    return [c for c in categories if c in present] + sorted(present - set(categories))


def _add_facilities(
    m: folium.Map, gdf: gpd.GeoDataFrame, categories: Mapping[str, tuple[str, str]], colors: Mapping[str, str]
) -> None:
    """One circle-marker layer per facility category, named '中文名 English', coloured by ``colors``."""
    f = _prep(gdf, "facilities", points=True)
    cat = _facility_categories(f)
    order = _category_order(set(cat), categories)
    names = {**categories, "__other__": st.OTHER_FACILITY}
    labels = {c: st.bilingual(names[c]) if c in names else c for c in order}
    styles = {c: st.point_style(colors[c]) for c in order}
    _add_by_class(m, f, cat, labels, styles, {"cls": "类别 Category", "name": "名称 Name"}, marker=True)


def _drawn_areas(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Service-area rows with a non-empty geometry (the others are logged and left out)."""
    if areas.crs is None:
        raise ValueError("layer 'service areas' has no CRS; set it before mapping")
    missing = [c for c in ("category", "tier") if c not in areas.columns]
    if missing:
        raise ValueError(f"service areas lack the column(s) {', '.join(missing)}")
    keep = ~(areas.geometry.isna() | areas.geometry.is_empty).to_numpy()
    if not keep.all():
        log.info("service areas: %d rows with nothing reachable not drawn", int((~keep).sum()))
    return areas[keep]


def _is_station(category: str, categories: Mapping[str, object]) -> bool:
    """A station kind (bus_stop, metro, …) rather than a facility category."""
    return category in st.STATION_KINDS and category not in categories


def _add_service_areas(
    m: folium.Map,
    areas: gpd.GeoDataFrame,
    categories: Mapping[str, tuple[str, str]],
    colors: Mapping[str, str],
    crs: object,
) -> None:
    """One hidden FeatureGroup per tier, in it one polygon layer per category (largest first, so smaller on top).

    Tiers go by walking distance, life-circle tiers before station tiers. Facility categories take
    their colour from ``colors`` (as their markers do), station kinds the station colours.
    Outlines are simplified by SIMPLIFY_M in the metric ``crs`` before reprojection.
    """
    metric = areas.to_crs(crs)
    simple = shapely.simplify(metric.geometry.to_numpy(), SIMPLIFY_M, preserve_topology=True)
    wgs = gpd.GeoSeries(simple, crs=crs).to_crs(WGS84).to_numpy()
    a = gpd.GeoDataFrame(
        {
            "cat": metric["category"].astype(str).to_numpy(),
            "tier": metric["tier"].astype(str).to_numpy(),
            "size": shapely.area(simple),
            **{c: metric[c].to_numpy() for c in ("distance_m", "reachable_network_km", "area_km2") if c in metric.columns},
        },
        geometry=wgs,
        crs=WGS84,
    )
    a["station"] = [_is_station(c, categories) for c in a["cat"]]
    a["d"] = pd.to_numeric(a["distance_m"], errors="coerce") if "distance_m" in a.columns else np.nan
    tiers = a.groupby("tier", sort=False).agg(station=("station", "all"), dist=("d", "max"))
    tip = {
        "cls": "类别 Category",
        "tier": "层级 Tier",
        "dist": "步行距离 Walking distance (m)",
        "net": "可达路网 Reachable network (km)",
        "area": "面积 Area (km²)",
    }
    hover = _const({"weight": 2.5, "fillOpacity": 0.3})
    for t in tiers.sort_values(["station", "dist"], kind="stable").index:
        group_names, tier_names = st.service_area_names(t)
        group = folium.FeatureGroup(name=html.escape(st.bilingual(group_names)), show=False).add_to(m)
        in_tier = a[a["tier"] == t].sort_values("size", ascending=False, kind="stable")
        for c in in_tier["cat"].unique():
            sub = in_tier[in_tier["cat"] == c]
            names = categories.get(c) or st.STATION_KINDS.get(c)
            color = st.STATION_COLORS[c] if _is_station(c, categories) else colors[c]
            n = len(sub)
            props = {
                "cls": [html.escape(st.bilingual(names) if names else c)] * n,
                "tier": [html.escape(st.bilingual(tier_names))] * n,
                "dist": _col(sub, "distance_m", _fmt),
                "net": _col(sub, "reachable_network_km", _fmt),
                "area": _col(sub, "area_km2", _km2),
            }
            style = {**st.SERVICE_AREA_STYLE, "color": color, "fillColor": color}
            _geojson(group, sub, props, style, tip, highlight_function=hover)


def build_map(
    units: gpd.GeoDataFrame,
    *,
    indicators: dict[str, Indicator],
    color_by: str,
    roads: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    categories: dict[str, tuple[str, str]] | None = None,
    stations: gpd.GeoDataFrame | None = None,
    station_radius_m: float = 500.0,
    service_areas: gpd.GeoDataFrame | None = None,
    attribution: str = "© OpenStreetMap contributors (ODbL)",
    tiles: bool = True,
) -> folium.Map:
    """An interactive map: ``color_by`` choropleth of the units plus the optional input layers.

    ``units`` must be in a metric CRS (station circles are buffered in it). ``categories`` maps a
    facility category id to its (zh, en) names. ``service_areas`` (columns category, tier,
    distance_m, reachable_network_km, area_km2) is drawn as one hidden layer per tier, a polygon
    per category in the colour of the category's facilities. Input frames are not modified.
    Raises ValueError if ``color_by`` is not a column of ``units``.
    """
    if color_by not in units.columns or color_by == units.geometry.name:
        available = [c for c in units.columns if c not in (units.geometry.name, "name")]
        raise ValueError(f"color_by '{color_by}' is not a column of units; available: {', '.join(available)}")
    ensure_projected(units, "units")
    missing = [k for k in indicators if k not in units.columns]
    if missing:
        log.warning("indicators not in units, left out of the tooltip: %s", ", ".join(missing))
    ind = indicators.get(color_by)
    caption = ind.label if ind is not None else color_by
    u = _prep(units, "units")
    if u.empty:
        raise ValueError("units has no geometries to map")
    w, s, e, n = u.total_bounds
    m = folium.Map(location=[(s + n) / 2, (w + e) / 2], tiles=None, control_scale=True)
    if tiles:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", control=False).add_to(m)
    _add_units(m, u, indicators, color_by, caption)
    categories = categories or {}
    has_facilities = facilities is not None and not facilities.empty
    present = set(_facility_categories(facilities)) if has_facilities else set()
    areas = _drawn_areas(service_areas) if service_areas is not None else None
    if areas is not None:
        present |= {c for c in areas["category"].astype(str) if not _is_station(c, categories)}
    colors = st.category_colors(_category_order(present, categories))
    if areas is not None and not areas.empty:
        _add_service_areas(m, areas, categories, colors, units.crs)
    if buildings is not None and not buildings.empty:
        _add_buildings(m, buildings)
    has_stations = stations is not None and not stations.empty
    if has_stations:
        _add_station_circles(m, stations, units.crs, station_radius_m)
    drawn = _add_roads(m, roads) if roads is not None and not roads.empty else []
    if has_facilities:
        _add_facilities(m, facilities, categories, colors)
    if has_stations:
        _add_stations(m, stations)
    _Extras(drawn, attribution).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[s, w], [n, e]])
    return m


_FOLIUM_ID = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])")


def map_html(m: folium.Map) -> str:
    """The map as one self-contained HTML page, identical for identical inputs.

    folium names every element with a random 32-hex id (``map_3f2a…``); they are renumbered in
    order of appearance so that two runs on the same data give the same bytes.
    """
    html = m.get_root().render()
    ids: dict[str, str] = {}

    def renumber(match: re.Match) -> str:
        return ids.setdefault(match.group(0), f"{len(ids) + 1:032x}")

    return _FOLIUM_ID.sub(renumber, html)
