"""Single-purpose map pages: the screening map (试点遴选) and the one-page map of a parcel for sale.

Rendering only: the callers in ``pipelines`` decide what to show; every text from data is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

import folium
import geopandas as gpd
import pandas as pd
import shapely
from branca.colormap import StepColormap

from ditan.maps import basemaps
from ditan.maps import style as st
from ditan.maps.display_text import inert_html
from ditan.maps.geojson_layer import _esc, _geojson, _prep
from ditan.maps.geojson_layer import _fmt as fmt
from ditan.maps.interactive import map_html
from ditan.maps.offline import Extras as _Extras

__all__ = ["screening_map", "parcel_page"]

REASON_SEP = "；"


def _first(text: str, n: int = 3) -> str:
    parts = [p for p in str(text).split(REASON_SEP) if p]
    return REASON_SEP.join(parts[:n]) + (" …" if len(parts) > n else "") if parts else "—"


def screening_map(
    units: gpd.GeoDataFrame,
    table: pd.DataFrame,
    *,
    method: str,
    profile_zh: str,
    attribution: str,
    tiles: bool | str = True,
    tianditu_key: str | None = None,
) -> str:
    """HTML page of a screening: units coloured by score, the shortlist outlined in red, units not ranked uncoloured.

    The tooltip gives rank (or why the unit is not ranked: no residents), score, rules assessed and the first reasons.

    ``table`` is the screening table (unit_id, name, rank, score, rules_assessed, binding_met, binding_assessable, level,
    level_zh, shortlisted, not_ranked, reasons_met, reasons_missed; rank empty where not ranked); ``units`` the candidate
    geometries indexed by unit id, in a metric CRS.
    """
    t = table.set_index("unit_id")
    u = _prep(units[["geometry"]].join(t, how="inner"), "units")
    if u.empty:
        raise ValueError("no candidate unit has a geometry to map")
    values = u["score"].to_numpy(dtype=float)
    breaks = st.class_breaks(values, k=5, method="quantile")
    colors = st.class_colors(len(breaks) - 1)
    props = {
        "uid": [_esc(i) for i in u.index],
        "name": [_esc(v) for v in u["name"]],
        "rank": [
            _esc(nr or "—") if pd.isna(r) else str(int(r))
            for r, nr in zip(u["rank"], u.get("not_ranked", [""] * len(u)), strict=True)
        ],
        "score": [fmt(v) for v in u["score"]],
        "assessed": [_esc(v) for v in u.get("rules_assessed", ["—"] * len(u))],
        "binding": [
            f"{a}/{b}" for a, b in zip(u["binding_met"], u["binding_assessable"], strict=True)
        ],
        "level": [_esc(v or "—") for v in u["level_zh"].where(u["level_zh"] != "", u["level"])],
        "short": [_esc("入围 yes" if s == "yes" else "否 no") for s in u["shortlisted"]],
        "met": [_esc(_first(v)) for v in u["reasons_met"]],
        "missed": [_esc(_first(v)) for v in u["reasons_missed"]],
        "c": [int(c) for c in st.classify(values, breaks)],
        "s": [int(s == "yes") for s in u["shortlisted"]],
    }
    tip = {
        "rank": "排名 Rank",
        "uid": "单元编号 Unit id",
        "name": "单元名称 Unit name",
        "score": f"得分 Score ({method})",
        "assessed": "规则可评估 Rules assessed",
        "binding": "约束性达标 Binding met",
        "level": "可达等级 Level",
        "short": "入围 Shortlisted",
        "met": "达标项 Rules met",
        "missed": "未达标项 Rules missed",
    }

    def style(feature: dict) -> dict:
        p = feature["properties"]
        base = (
            dict(st.NODATA_STYLE) if p["c"] < 0 else {**st.UNIT_STYLE, "fillColor": colors[p["c"]]}
        )
        return {**base, "color": "#d7191c", "weight": 4.0, "dashArray": None} if p["s"] else base

    # map.tiles, as on the run's map (GCJ-02 tiles: the units drawn, and the view, shifted to them)
    bm = basemaps.basemap(tiles, tianditu_key)
    w, s, e, n = basemaps.display_bounds(bm, u.total_bounds)
    m = folium.Map(location=[(s + n) / 2, (w + e) / 2], tiles=None, control_scale=True)
    basemaps.add_basemap(m, bm)
    name = f"遴选得分 Screening score · {inert_html(profile_zh)}"
    with basemaps.display_shift(bm):
        _geojson(
            m,
            u,
            props,
            style,
            tip,
            name=name,
            highlight_function=lambda _f: {"weight": 5, "color": "#000000"},
        )
    StepColormap(
        colors, index=breaks, vmin=breaks[0], vmax=breaks[-1], caption=f"得分 Score ({method})"
    ).add_to(m)
    extras = _Extras([], basemaps.attribution_line(attribution, bm))
    row = '<div><span class="ditan-sw" style="border:3px solid #d7191c;background:none"></span>入围 Shortlisted</div>'
    if pd.isna(u["rank"]).any():
        row += f'<div><span class="ditan-sw" style="background:{st.NODATA_COLOR}"></span>未参与排序 Not ranked</div>'
    extras.body = extras.body.removesuffix("</div>") + row + basemaps.legend_note(bm) + "</div>"
    extras.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[s, w], [n, e]])
    return map_html(m)


def parcel_page(
    parcel: shapely.Geometry,
    *,
    crs: object,
    units: gpd.GeoDataFrame,
    radius_m: float,
    marks: Sequence[tuple[shapely.Geometry, str, str]],
    ok: bool,
    title: str,
    headline: str,
    reasons: Sequence[str],
    parcel_label: str,
    tiles: bool | str = True,
    tianditu_key: str | None = None,
) -> str:
    """One-page map of a parcel for sale, with a box of the title, the headline and the reasons.

    Shows the parcel (green if it passes, red if not), its units, the radius ring from its edge, and ``marks``
    (point, colour, tooltip): nearest stations, facilities reached and missing. Geometries are in the metric ``crs``.
    """
    # map.tiles, as on the run's map; on GCJ-02 tiles everything is drawn shifted to them (on the page only)
    bm = basemaps.basemap(tiles, tianditu_key)
    shift = basemaps.shift_of(bm)

    def wgs(geoms):
        g = gpd.GeoSeries(list(geoms), crs=crs).to_crs(4326)
        return (
            g if shift is None else gpd.GeoSeries(shapely.transform(g.to_numpy(), shift), crs=4326)
        )

    esc = inert_html
    c = wgs([parcel.centroid]).iloc[0]
    m = folium.Map(location=[c.y, c.x], zoom_start=16, tiles=None, control_scale=True)
    basemaps.add_basemap(m, bm)
    for uid, g in zip(units.index, wgs(units.geometry), strict=True):
        folium.GeoJson(
            shapely.geometry.mapping(g),
            style_function=lambda _: {"color": "#555", "weight": 2, "fillOpacity": 0.05},
            tooltip=esc(f"单元 unit {uid} {units.at[uid, 'name']}"),
        ).add_to(m)
    ring = wgs([parcel.buffer(radius_m)]).iloc[0]
    folium.GeoJson(
        shapely.geometry.mapping(ring),
        style_function=lambda _: {
            "color": "#1565c0",
            "weight": 1.5,
            "dashArray": "6",
            "fillOpacity": 0.03,
        },
        tooltip=esc(f"地块边界外 {radius_m:g} 米 {radius_m:g} m from the parcel's edge"),
    ).add_to(m)
    color = "#2e7d32" if ok else "#c62828"
    folium.GeoJson(
        shapely.geometry.mapping(wgs([parcel]).iloc[0]),
        style_function=lambda _: {
            "color": color,
            "weight": 3,
            "fillColor": color,
            "fillOpacity": 0.35,
        },
        tooltip=esc(parcel_label),
    ).add_to(m)
    for geom, col, text in marks:
        pt = wgs([geom.representative_point()]).iloc[0]
        folium.CircleMarker(
            [pt.y, pt.x], radius=6, color=col, fill=True, fill_opacity=0.8, tooltip=esc(text)
        ).add_to(m)
    w, s, e, n = wgs([parcel.buffer(radius_m * 1.1)]).total_bounds
    m.fit_bounds([[s, w], [n, e]])
    items = "".join(f"<li>{esc(x)}</li>" for x in reasons)
    box = (
        f'<div style="position:fixed;top:10px;left:50px;z-index:9999;max-width:480px;max-height:80%;overflow:auto;background:#fff;'
        f'padding:8px 12px;border:2px solid {color};font:13px sans-serif"><b>{esc(title)}</b><br>{esc(headline)}'
        f'<ul style="margin:4px 0;padding-left:18px">{items}</ul></div>'
    )
    m.get_root().header.add_child(folium.Element(f"<title>{esc(title)}</title>"))
    m.get_root().html.add_child(folium.Element(box))
    return map_html(m)
