"""The input layers of the interactive map, one toggleable layer per class.

Roads, buildings, land use, coverage gaps, facilities, stations (markers and radius circles) and
service areas (one layer per tier).
"""

from __future__ import annotations

from collections.abc import Mapping

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.maps import legend as lg
from ditan.maps import style as st
from ditan.maps.display_text import inert_html
from ditan.maps.geojson_layer import WGS84, _col, _const, _fmt, _geojson, _km2, _prep, log
from ditan.maps.icons import station_icon
from ditan.spatial.indicators.landuse import landuse_faces

#: Service-area outlines are simplified by this many metres, to keep the page small.
SIMPLIFY_M = 3.0
LANDUSE_LAYER = "用地 Land use (GB 50137)"


def _classes(
    gdf: gpd.GeoDataFrame, column: str, known: Mapping[str, object]
) -> tuple[pd.Series, list[str]]:
    """``column`` as str with unknown values as '__other__', and the classes present in order."""
    raw = gdf[column].astype(str) if column in gdf.columns else pd.Series("", index=gdf.index)
    cls = raw.where(raw.isin(list(known)), "__other__")
    return cls, [k for k in [*known, "__other__"] if (cls == k).any()]


def _add_by_class(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    cls: pd.Series,
    labels: Mapping[str, str],
    styles: Mapping,
    tooltip: Mapping[str, str],
    icons: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """One FeatureGroup named ``labels[c]`` with one GeoJson per class ``c`` (in ``labels`` order).

    ``tooltip`` maps the class alias (key "cls") and data columns to bilingual labels; ``icons``
    gives point classes their marker SVG. Returns the escaped layer names by class.
    """
    names = {}
    for c, label in labels.items():
        sub = gdf[(cls == c).to_numpy()]
        names[c] = name = inert_html(label)
        cols = [k for k in tooltip if k != "cls"]
        props = {"cls": [name] * len(sub)} | {f"p{i}": _col(sub, col) for i, col in enumerate(cols)}
        tip = {"cls": tooltip["cls"]} | {f"p{i}": tooltip[col] for i, col in enumerate(cols)}
        group = folium.FeatureGroup(name=name).add_to(m)
        _geojson(group, sub, props, styles[c], tip, icon=icons[c] if icons else None)
    return names


def _add_station_circles(
    m: folium.Map, stations: gpd.GeoDataFrame, crs: object, radius_m: float
) -> str:
    """True ``radius_m`` circles: buffered in the metric CRS, then reprojected (one light layer)."""
    pts = _prep(stations, "stations", points=True, crs=crs)
    circles = pts.set_geometry(pts.geometry.buffer(radius_m, quad_segs=16)).to_crs(WGS84)
    kind, order = _classes(circles, "kind", st.STATION_KINDS)
    name = f"站点{radius_m:g}米范围 Station {radius_m:g} m radius"
    ring = folium.FeatureGroup(
        name=name, show=False
    )  # off at first: 500 m circles crowd the view; a click away
    for k in order:
        sub = circles[(kind == k).to_numpy()]
        color = st.STATION_COLORS.get(k, st.OTHER_STATION_COLOR)
        style = {
            "color": color,
            "weight": 0.8,
            "opacity": 0.5,
            "fillColor": color,
            "fillOpacity": 0.08,
        }
        _geojson(ring, sub, {"kind": _col(sub, "kind")}, style, interactive=False, control=False)
    ring.add_to(m)
    return name


def _add_stations(m: folium.Map, stations: gpd.GeoDataFrame) -> dict[str, str]:
    """One marker layer per station kind (公交站 Bus stop, 地铁站 Metro, …); returns name → icon."""
    pts = _prep(stations, "stations", points=True)
    kind, order = _classes(pts, "kind", st.STATION_KINDS)
    labels = {k: st.bilingual(st.STATION_KINDS.get(k, st.OTHER_STATION)) for k in order}
    icons = {k: station_icon(k) for k in order}
    names = _add_by_class(
        m, pts, kind, labels, dict.fromkeys(order), {"cls": "类型 Kind", "name": "名称 Name"}, icons
    )
    return {names[k]: icons[k] for k in order}


def _add_roads(m: folium.Map, roads: gpd.GeoDataFrame) -> dict[str, str]:
    """One layer per road class, coloured and weighted by class; returns name → swatch."""
    r = _prep(roads, "roads")
    cls, order = _classes(r, "road_class", st.ROAD_CLASSES)
    labels = {c: st.bilingual(st.ROAD_CLASSES.get(c, st.OTHER_ROAD)) for c in order}
    styles = {c: {**st.ROAD_STYLE.get(c, st.OTHER_ROAD_STYLE), "opacity": 0.9} for c in order}
    tip = {"cls": "等级 Class", "name": "名称 Name", "highway": "OSM highway"}
    names = _add_by_class(m, r, cls, labels, styles, tip)
    return {
        names[c]: lg.line_swatch(str(styles[c]["color"]), min(float(styles[c]["weight"]), 5.0))
        for c in order
    }


def _add_buildings(m: folium.Map, buildings: gpd.GeoDataFrame) -> None:
    """One layer (hidden by default); residential and other buildings in two colours."""
    b = _prep(buildings, "buildings")
    res = (
        b["residential"].eq(True).to_numpy()
        if "residential" in b.columns
        else np.zeros(len(b), bool)
    )
    group = folium.FeatureGroup(name="建筑 Buildings", show=False).add_to(m)
    tip = {"kind": "类别 Class", "type": "建筑类型 Building", "floors": "层数 Floors"}
    for key, sel in (("residential", res), ("other", ~res)):
        sub, color = b[sel], st.BUILDING_COLORS[key]
        kind = [inert_html(st.bilingual(st.BUILDING_NAMES[key]))] * len(sub)
        props = {"kind": kind, "type": _col(sub, "building"), "floors": _col(sub, "floors", _fmt)}
        style = {"color": color, "weight": 0.5, "fillColor": color, "fillOpacity": 0.6}
        if sel.any():
            _geojson(group, sub, props, style, tip)


def _add_landuse(
    m: folium.Map, landuse: gpd.GeoDataFrame, crs: object
) -> tuple[folium.FeatureGroup, str]:
    """Land-use faces (overlaps resolved as the indicators resolve them) in the GB 50137 colours; hidden.

    Returns the layer and its legend HTML (the classes drawn).
    """
    metric = (
        landuse
        if landuse.crs is not None and landuse.crs.is_projected
        else _prep(landuse, "land use", crs=crs)
    )
    faces = _prep(landuse_faces(metric), "land use")
    cls, order = _classes(faces, "lu_class", st.LANDUSE_CLASSES)
    group = folium.FeatureGroup(name=LANDUSE_LAYER, show=False).add_to(m)
    rows = []
    for c in order:
        sub = faces[(cls == c).to_numpy()]
        color = st.LANDUSE_COLOURS.get(c, st.LANDUSE_COLOURS["other"])
        name = inert_html(st.bilingual(st.LANDUSE_CLASSES.get(c, ("其他用地", "Other"))))
        style = {"color": "#666666", "weight": 0.4, "fillColor": color, "fillOpacity": 0.55}
        _geojson(group, sub, {"cls": [name] * len(sub)}, style, {"cls": "用地 Land use"})
        rows.append((color, name))
    return group, f'<div class="ditan-cap">{inert_html(LANDUSE_LAYER)}</div>' + lg.legend_rows(rows)


def _add_gaps(m: folium.Map, gaps: gpd.GeoDataFrame) -> str:
    """Residential buildings outside the life circle, outlined in red; returns the layer name."""
    _, (zh, en) = st.service_area_names(str(gaps.attrs.get("tier", "15min")))
    name = inert_html(f"{zh}未覆盖的居住建筑 Residential buildings outside the {en}")
    group = folium.FeatureGroup(name=name).add_to(m)
    props = {
        "missing": _col(gaps, "missing"),
        "n": _col(gaps, "n_missing", _fmt),
        "type": _col(gaps, "building"),
    }
    tip = {
        "missing": "缺少的设施 Facilities out of reach",
        "n": "缺少类别数 Categories out of reach",
        "type": "建筑类型 Building",
    }
    style = {"color": st.GAP_COLOR, "weight": 1.5, "fillColor": st.GAP_COLOR, "fillOpacity": 0.45}
    if not gaps.empty:
        _geojson(group, _prep(gaps, "coverage gaps"), props, style, tip)
    return name


def _add_facilities(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    categories: Mapping[str, tuple[str, str]],
    icons: Mapping[str, str],
) -> dict[str, str]:
    """One marker layer per facility category, named '中文名 English', with the category's icon."""
    f = _prep(gdf, "facilities", points=True)
    cat = st.facility_categories(f)
    order = st.category_order(set(cat), categories)
    names = {**categories, "__other__": st.OTHER_FACILITY}
    labels = {c: st.bilingual(names[c]) if c in names else c for c in order}
    drawn = _add_by_class(
        m,
        f,
        cat,
        labels,
        dict.fromkeys(order),
        {"cls": "类别 Category", "name": "名称 Name"},
        icons,
    )
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
            **{
                c: metric[c].to_numpy()
                for c in ("distance_m", "reachable_network_km", "area_km2")
                if c in metric.columns
            },
        },
        geometry=wgs,
        crs=WGS84,
    )
    a["station"] = [_is_station(c, categories) for c in a["cat"]]
    a["d"] = (
        pd.to_numeric(a["distance_m"], errors="coerce") if "distance_m" in a.columns else np.nan
    )
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
        group = folium.FeatureGroup(name=inert_html(st.bilingual(group_names)), show=False).add_to(
            m
        )
        in_tier = a[a["tier"] == t].sort_values("size", ascending=False, kind="stable")
        for c in in_tier["cat"].unique():
            sub = in_tier[in_tier["cat"] == c]
            names = categories.get(c) or st.STATION_KINDS.get(c)
            color = st.STATION_COLORS[c] if _is_station(c, categories) else colors[c]
            n = len(sub)
            label, tier_label = (
                inert_html(st.bilingual(names) if names else c),
                inert_html(st.bilingual(tier_names)),
            )
            props = {
                "cls": [label] * n,
                "tier": [tier_label] * n,
                "dist": _col(sub, "distance_m", _fmt),
                "net": _col(sub, "reachable_network_km", _fmt),
                "area": _col(sub, "area_km2", _km2),
            }
            style = {**st.SERVICE_AREA_STYLE, "color": color, "fillColor": color}
            _geojson(group, sub, props, style, tip, highlight_function=hover)
