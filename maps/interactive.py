"""Interactive Leaflet map (folium) of analysis units coloured by a chosen indicator, and the input layers.

The page is self-contained (see :mod:`ditan.maps.offline`): Leaflet and its plugins are inlined from
``maps/vendor``, markers are DivIcons with inline SVG, and the data layers draw without a basemap.
Every layer is one ``folium.GeoJson`` per class (no per-feature Python objects), so maps with
thousands of buildings or points stay light. All text that comes from data is HTML-escaped here,
because Leaflet tooltips, popups and the layer control insert strings as HTML.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.maps import style as st
from ditan.maps.life_circle_gaps import coverage_gaps  # noqa: F401 (re-exported for the map's callers)
from ditan.maps.offline import Extras as _Extras  # noqa: F401 (_Extras: pilot_screening)
from ditan.maps.offline import PageChrome, add_tools, inline_assets
from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.indicators.landuse import landuse_faces
from ditan.spatial.standards.registry import Indicator

__all__ = ["build_map", "map_html"]

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
MISSING = st.MISSING
#: Service-area outlines are simplified by this many metres, and every web coordinate rounded to
#: this many decimal degrees (about 0.1 m), to keep the page small.
SIMPLIFY_M = 3.0
COORD_DECIMALS = 6
UNITS_LAYER, LANDUSE_LAYER = "分析单元 Analysis units", "用地 Land use (GB 50137)"


_esc, _fmt, _km2 = st.escaped_text, st.value_text, st.km2_text


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
    shapes = json.loads("[" + ",".join(shapely.to_geojson(geom)) + "]")  # one parse for the whole layer
    rows = pd.DataFrame({k: list(v) for k, v in props.items()}, index=range(len(geom))).astype(object)
    rows = rows.where(rows.notna(), None).to_dict("records")
    return {"type": "FeatureCollection",
            "features": [{"id": str(i), "type": "Feature", "properties": p, "geometry": g} for i, (p, g) in enumerate(zip(rows, shapes, strict=True))]}


def _const(style: dict) -> Callable[[dict], dict]:
    """A style function giving every feature the same style."""
    return lambda _feature: dict(style)


def _geojson(parent: folium.Map | folium.FeatureGroup, gdf: gpd.GeoDataFrame, props: Mapping[str, pd.Series | list],
             style: dict | Callable[[dict], dict] | None, tooltip: Mapping[str, str] | None = None,
             popup: Mapping[str, str] | None = None, icon: str | None = None, **kwargs: object) -> folium.GeoJson:  # fmt: skip
    """Add one GeoJson layer; ``tooltip``/``popup`` map property → bilingual label (escaped here).

    Points get a DivIcon marker showing ``icon`` (inline SVG; no image or web font).
    """
    marker = None
    if icon is not None:
        marker = folium.Marker(icon=folium.DivIcon(html=icon, icon_size=(16, 16), icon_anchor=(8, 8), class_name="ditan-icon"))
    tip = pop = None
    if tooltip:
        tip = folium.GeoJsonTooltip(fields=list(tooltip), aliases=[html.escape(a) for a in tooltip.values()], sticky=True)
    if popup:
        pop = folium.GeoJsonPopup(fields=list(popup), aliases=[html.escape(a) for a in popup.values()], max_width=420)
    style_function = None if style is None else style if callable(style) else _const(style)
    return folium.GeoJson(_feature_collection(gdf, props), style_function=style_function, tooltip=tip, popup=pop, marker=marker,
                          **kwargs).add_to(parent)  # fmt: skip


# --- units ---------------------------------------------------------------------------------------


def _add_units(m: folium.Map, units: gpd.GeoDataFrame, indicators: Mapping[str, Indicator], color_by: str, keys: Sequence[str],
               compliance: pd.DataFrame | None, reasons: pd.DataFrame | None = None) -> tuple[folium.GeoJson, dict]:  # fmt: skip
    """The units layer (tooltip: key indicators; popup: every indicator, a NaN with its reason) and the colouring schemes."""
    ids = [_esc(i) for i in units.index]
    props: dict[str, pd.Series | list] = {"uid": ids, "name": _col(units, "name") if "name" in units.columns else ids}
    cols = [c for c in indicators if c in units.columns and c not in ("name", "unit_id")]
    if color_by not in cols:
        cols.insert(0, color_by)
    popup = {"uid": "单元编号 Unit id", "name": "单元名称 Unit name"}
    why = _reason_text(reasons, units.index)
    for i, col in enumerate(cols):
        props[f"t{i}"] = _col(units, col, _fmt)
        if col in why:
            text = why[col].reindex(units.index)
            props[f"t{i}"] = [f"{MISSING} 无法评估：{_esc(t)}" if isinstance(t, str) else v for v, t in zip(props[f"t{i}"], text, strict=True)]
        popup[f"t{i}"] = indicators[col].label if col in indicators else col
    numeric = [c for c in cols if pd.api.types.is_numeric_dtype(units[c]) and not pd.api.types.is_bool_dtype(units[c])]
    chosen = [color_by] + [k for k in keys if k in numeric and k != color_by]
    schemes = []
    tooltip = {"name": popup["name"]}
    for j, col in enumerate(chosen):
        ind = indicators.get(col)
        values = pd.to_numeric(units[col], errors="coerce").to_numpy(dtype=float)
        scheme, props[f"k{j}"] = st.indicator_scheme(values, ind.label if ind else col, ind.unit if ind else "", f"k{j}")
        schemes.append(scheme)
        tooltip[f"t{cols.index(col)}"] = popup[f"t{cols.index(col)}"]
    if compliance is not None and not compliance.empty:
        scheme, extra = st.compliance_scheme(units.index.astype(str), compliance)
        schemes.append(scheme)
        props.update(extra)
        tooltip |= {"cb": "约束性 达标/未达标/无法评估 Binding pass/fail/n.a.", "cg": "引导性 Guiding pass/fail/n.a.",
                    "cf": "未达标项 Failed rules"}  # fmt: skip
    first = schemes[0]

    def style(feature: dict) -> dict:
        c = feature["properties"]["k0"]
        return dict(st.NODATA_STYLE) if c < 0 else {**st.UNIT_STYLE, "fillColor": first["colors"][c], "className": ""}

    hover = _const({"weight": 3, "color": "#000000"})
    layer = _geojson(m, units, props, style, tooltip, popup, name=UNITS_LAYER, highlight_function=hover)
    cfg = {"title": "单元着色 Colour units by", "schemes": schemes, "active": 0,
           "unit": {**st.UNIT_STYLE, "className": ""}, "nodata": st.NODATA_STYLE}  # fmt: skip
    return layer, cfg


def _reason_text(reasons: pd.DataFrame | None, units: pd.Index) -> dict[str, pd.Series]:
    """Column → the reason of each NaN, by unit ('中文 / English')."""
    if reasons is None or reasons.empty:
        return {}
    r = reasons[reasons["unit_id"].isin(units)].drop_duplicates(["unit_id", "column"])
    text = r["reason_zh"].astype(str) + " / " + r["reason_en"].astype(str)
    return {col: pd.Series(text[g.index].to_numpy(), index=g["unit_id"].to_numpy()) for col, g in r.groupby("column", sort=False)}


# --- input layers --------------------------------------------------------------------------------


def _classes(gdf: gpd.GeoDataFrame, column: str, known: Mapping[str, object]) -> tuple[pd.Series, list[str]]:
    """``column`` as str with unknown values as '__other__', and the classes present in order."""
    raw = gdf[column].astype(str) if column in gdf.columns else pd.Series("", index=gdf.index)
    cls = raw.where(raw.isin(list(known)), "__other__")
    return cls, [k for k in [*known, "__other__"] if (cls == k).any()]


def _add_by_class(m: folium.Map, gdf: gpd.GeoDataFrame, cls: pd.Series, labels: Mapping[str, str], styles: Mapping,
                  tooltip: Mapping[str, str], icons: Mapping[str, str] | None = None) -> dict[str, str]:  # fmt: skip
    """One FeatureGroup named ``labels[c]`` with one GeoJson per class ``c`` (in ``labels`` order).

    ``tooltip`` maps the class alias (key "cls") and data columns to bilingual labels; ``icons``
    gives point classes their marker SVG. Returns the escaped layer names by class.
    """
    names = {}
    for c, label in labels.items():
        sub = gdf[(cls == c).to_numpy()]
        names[c] = name = html.escape(label)
        cols = [k for k in tooltip if k != "cls"]
        props = {"cls": [name] * len(sub)} | {f"p{i}": _col(sub, col) for i, col in enumerate(cols)}
        tip = {"cls": tooltip["cls"]} | {f"p{i}": tooltip[col] for i, col in enumerate(cols)}
        group = folium.FeatureGroup(name=name).add_to(m)
        _geojson(group, sub, props, styles[c], tip, icon=icons[c] if icons else None)
    return names


def _add_station_circles(m: folium.Map, stations: gpd.GeoDataFrame, crs: object, radius_m: float) -> str:
    """True ``radius_m`` circles: buffered in the metric CRS, then reprojected (one light layer)."""
    pts = _prep(stations, "stations", points=True, crs=crs)
    circles = pts.set_geometry(pts.geometry.buffer(radius_m, quad_segs=16)).to_crs(WGS84)
    kind, order = _classes(circles, "kind", st.STATION_KINDS)
    name = f"站点{radius_m:g}米范围 Station {radius_m:g} m radius"
    ring = folium.FeatureGroup(name=name, show=False)  # off at first: 500 m circles crowd the view; a click away
    for k in order:
        sub = circles[(kind == k).to_numpy()]
        color = st.STATION_COLORS.get(k, st.OTHER_STATION_COLOR)
        style = {"color": color, "weight": 0.8, "opacity": 0.5, "fillColor": color, "fillOpacity": 0.08}
        _geojson(ring, sub, {"kind": _col(sub, "kind")}, style, interactive=False, control=False)
    ring.add_to(m)
    return name


def _add_stations(m: folium.Map, stations: gpd.GeoDataFrame) -> dict[str, str]:
    """One marker layer per station kind (公交站 Bus stop, 地铁站 Metro, …); returns name → icon."""
    pts = _prep(stations, "stations", points=True)
    kind, order = _classes(pts, "kind", st.STATION_KINDS)
    labels = {k: st.bilingual(st.STATION_KINDS.get(k, st.OTHER_STATION)) for k in order}
    icons = {k: st.station_icon(k) for k in order}
    names = _add_by_class(m, pts, kind, labels, dict.fromkeys(order), {"cls": "类型 Kind", "name": "名称 Name"}, icons)
    return {names[k]: icons[k] for k in order}


def _add_roads(m: folium.Map, roads: gpd.GeoDataFrame) -> dict[str, str]:
    """One layer per road class, coloured and weighted by class; returns name → swatch."""
    r = _prep(roads, "roads")
    cls, order = _classes(r, "road_class", st.ROAD_CLASSES)
    labels = {c: st.bilingual(st.ROAD_CLASSES.get(c, st.OTHER_ROAD)) for c in order}
    styles = {c: {**st.ROAD_STYLE.get(c, st.OTHER_ROAD_STYLE), "opacity": 0.9} for c in order}
    tip = {"cls": "等级 Class", "name": "名称 Name", "highway": "OSM highway"}
    names = _add_by_class(m, r, cls, labels, styles, tip)
    return {names[c]: st.line_swatch(str(styles[c]["color"]), min(float(styles[c]["weight"]), 5.0)) for c in order}


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


def _add_landuse(m: folium.Map, landuse: gpd.GeoDataFrame, crs: object) -> tuple[folium.FeatureGroup, str]:
    """Land-use faces (overlaps resolved as the indicators resolve them) in the GB 50137 colours; hidden.

    Returns the layer and its legend HTML (the classes drawn).
    """
    metric = landuse if landuse.crs is not None and landuse.crs.is_projected else _prep(landuse, "land use", crs=crs)
    faces = _prep(landuse_faces(metric), "land use")
    cls, order = _classes(faces, "lu_class", st.LANDUSE_CLASSES)
    group = folium.FeatureGroup(name=LANDUSE_LAYER, show=False).add_to(m)
    rows = []
    for c in order:
        sub = faces[(cls == c).to_numpy()]
        color = st.LANDUSE_COLOURS.get(c, st.LANDUSE_COLOURS["other"])
        name = html.escape(st.bilingual(st.LANDUSE_CLASSES.get(c, ("其他用地", "Other"))))
        style = {"color": "#666666", "weight": 0.4, "fillColor": color, "fillOpacity": 0.55}
        _geojson(group, sub, {"cls": [name] * len(sub)}, style, {"cls": "用地 Land use"})
        rows.append((color, name))
    return group, f'<div class="ditan-cap">{html.escape(LANDUSE_LAYER)}</div>' + st.legend_rows(rows)


def _add_gaps(m: folium.Map, gaps: gpd.GeoDataFrame) -> str:
    """Residential buildings outside the life circle, outlined in red; returns the layer name."""
    _, (zh, en) = st.service_area_names(str(gaps.attrs.get("tier", "15min")))
    name = html.escape(f"{zh}未覆盖的居住建筑 Residential buildings outside the {en}")
    group = folium.FeatureGroup(name=name).add_to(m)
    props = {"missing": _col(gaps, "missing"), "n": _col(gaps, "n_missing", _fmt), "type": _col(gaps, "building")}
    tip = {"missing": "缺少的设施 Facilities out of reach", "n": "缺少类别数 Categories out of reach", "type": "建筑类型 Building"}
    style = {"color": st.GAP_COLOR, "weight": 1.5, "fillColor": st.GAP_COLOR, "fillOpacity": 0.45}
    if not gaps.empty:
        _geojson(group, _prep(gaps, "coverage gaps"), props, style, tip)
    return name


def _add_facilities(m: folium.Map, gdf: gpd.GeoDataFrame, categories: Mapping[str, tuple[str, str]],
                    icons: Mapping[str, str]) -> dict[str, str]:  # fmt: skip
    """One marker layer per facility category, named '中文名 English', with the category's icon."""
    f = _prep(gdf, "facilities", points=True)
    cat = st.facility_categories(f)
    order = st.category_order(set(cat), categories)
    names = {**categories, "__other__": st.OTHER_FACILITY}
    labels = {c: st.bilingual(names[c]) if c in names else c for c in order}
    drawn = _add_by_class(m, f, cat, labels, dict.fromkeys(order), {"cls": "类别 Category", "name": "名称 Name"}, icons)
    return {drawn[c]: icons[c] for c in order}


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


def _add_service_areas(m: folium.Map, areas: gpd.GeoDataFrame, categories: Mapping[str, tuple[str, str]],
                       colors: Mapping[str, str], crs: object) -> None:  # fmt: skip
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
    tip = {"cls": "类别 Category", "tier": "层级 Tier", "dist": "步行距离 Walking distance (m)", "net": "可达路网 Reachable network (km)",
           "area": "面积 Area (km²)"}  # fmt: skip
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
            label, tier_label = html.escape(st.bilingual(names) if names else c), html.escape(st.bilingual(tier_names))
            props = {"cls": [label] * n, "tier": [tier_label] * n,
                     "dist": _col(sub, "distance_m", _fmt), "net": _col(sub, "reachable_network_km", _fmt),
                     "area": _col(sub, "area_km2", _km2)}  # fmt: skip
            style = {**st.SERVICE_AREA_STYLE, "color": color, "fillColor": color}
            _geojson(group, sub, props, style, tip, highlight_function=hover)


def build_map(
    units: gpd.GeoDataFrame, *, indicators: dict[str, Indicator], color_by: str, roads: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None, facilities: gpd.GeoDataFrame | None = None, categories: dict | None = None,
    stations: gpd.GeoDataFrame | None = None, station_radius_m: float = 500.0,
    service_areas: gpd.GeoDataFrame | None = None, landuse: gpd.GeoDataFrame | None = None,
    gaps: gpd.GeoDataFrame | None = None,
    compliance: pd.DataFrame | None = None, key_indicators: Sequence[str] = st.KEY_INDICATORS,
    attribution: str = "© OpenStreetMap contributors (ODbL)", tiles: bool = True, reasons: pd.DataFrame | None = None,
) -> folium.Map:  # fmt: skip
    """An interactive map of the units, coloured by a selectable indicator, plus the optional input layers.

    ``units`` (metric CRS) can be coloured by ``color_by`` (first) and the ``key_indicators`` present, each
    with its legend, and by the binding result of ``compliance`` (``ditan.spatial.standards.compliance.evaluate``).
    ``categories``: facility category id → (zh, en). ``service_areas`` (category, tier, distance_m,
    reachable_network_km, area_km2): one hidden layer per tier; ``landuse`` (lu_class) in the GB 50137
    colours; ``gaps`` (:func:`coverage_gaps`) in red. Inputs are not modified. ValueError if ``color_by``
    is not a column of ``units``.
    """
    if color_by not in units.columns or color_by == units.geometry.name:
        available = [c for c in units.columns if c not in (units.geometry.name, "name")]
        raise ValueError(f"color_by '{color_by}' is not a column of units; available: {', '.join(available)}")
    ensure_projected(units, "units")
    missing = [k for k in indicators if k not in units.columns]
    if missing:
        log.warning("indicators not in units, left out of the tooltip: %s", ", ".join(missing))
    u = _prep(units, "units")
    if u.empty:
        raise ValueError("units has no geometries to map")
    if not np.isfinite(pd.to_numeric(u[color_by], errors="coerce").to_numpy(dtype=float)).any():
        log.warning("color_by '%s' has no numeric value; every unit is drawn as no data", color_by)
    w, s, e, n = u.total_bounds
    m = folium.Map(location=[(s + n) / 2, (w + e) / 2], tiles=None, control_scale=True)
    if tiles:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", control=False).add_to(m)
    swatches: dict[str, str] = {}
    toggled, legends = [], []
    if landuse is not None and not landuse.empty:
        group, legend = _add_landuse(m, landuse, units.crs)
        toggled, legends = [group], [legend]
        swatches[LANDUSE_LAYER] = st.fill_swatch("linear-gradient(90deg,#FFFF2D 33%,#FF7FBF 33% 66%,#00C000 66%)", "#666")
    units_layer, cfg = _add_units(m, u, indicators, color_by, key_indicators, compliance, reasons)
    swatches[UNITS_LAYER] = st.fill_swatch(f"linear-gradient(90deg,{','.join(st.SEQUENTIAL)})", "#333")
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
        swatches["建筑 Buildings"] = st.fill_swatch(st.BUILDING_COLORS["residential"], st.BUILDING_COLORS["other"])
    if gaps is not None:
        swatches[_add_gaps(m, gaps)] = st.fill_swatch(st.GAP_COLOR)
    has_stations = stations is not None and not stations.empty
    if has_stations:
        name = _add_station_circles(m, stations, units.crs, station_radius_m)
        swatches[name] = st.fill_swatch("rgba(21,101,192,.12)", st.STATION_COLORS["bus_stop"])
    if roads is not None and not roads.empty:
        swatches |= _add_roads(m, roads)
    if has_facilities:
        swatches |= _add_facilities(m, facilities, categories, st.facility_icons(order, colors))
    if has_stations:
        swatches |= _add_stations(m, stations)
    add_tools(m)
    control = folium.LayerControl(collapsed=False).add_to(m)
    cfg |= {"swatches": swatches, "legends": legends}
    PageChrome(units_layer, control, cfg, toggled, attribution=attribution, css=st.NODATA_CSS, body=st.HATCH_SVG).add_to(m)
    m.fit_bounds([[s, w], [n, e]])
    return m


_FOLIUM_ID = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])")


def map_html(m: folium.Map) -> str:
    """The map as one self-contained HTML page, identical for identical inputs.

    folium names every element with a random 32-hex id (``map_3f2a…``); they are renumbered in
    order of appearance so that two runs on the same data give the same bytes. Every script and
    stylesheet is then inlined from maps/vendor (:func:`ditan.maps.offline.inline_assets`); only the tile
    server of an online basemap stays external. Raises ditan.maps.offline.OfflineError otherwise.
    """
    page = m.get_root().render()
    ids: dict[str, str] = {}

    def renumber(match: re.Match) -> str:
        return ids.setdefault(match.group(0), f"{len(ids) + 1:032x}")

    tiles = [c.tiles.split("{")[0] for c in m._children.values() if isinstance(c, folium.TileLayer)]
    return inline_assets(_FOLIUM_ID.sub(renumber, page), allow=tiles)
