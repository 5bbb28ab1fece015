"""The sheets of the map annex: what each draws on its map and the legend and notes beside it.

Each drawer (DRAW, by sheet key) takes the axes, the AnnexLayers, the unit id and the map extent,
draws its layers and returns (legend handles, notes); the page around it is :mod:`ditan.maps.annex`.
The two carbon sheets (屋顶光伏潜力图, 碳排放强度图) are drawn by :mod:`ditan.maps.annex_carbon`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ditan.maps import style as st
from ditan.maps.annex_context import AnnexContext
from ditan.spatial.standards import columns

__all__ = ["AnnexLayers", "SHEETS", "DRAW", "WHOLE_AREA", "sheet_numbers"]

#: The sheets, in order: (file key, title). The carbon sheets (7, 8) are drawn only with a carbon inventory, the
#: 指标达标图 (9, a chart: :mod:`ditan.maps.annex_targets`) only with a compliance profile (AnnexLayers.skipped
#: says why not); the number of a sheet stays its place here.
SHEETS: tuple[tuple[str, str], ...] = (("location", "区位图"), ("landuse", "用地现状图"), ("roads", "道路系统图"), ("life_circle",
                                       "15分钟生活圈覆盖图"), ("transit", "公交/单车500米覆盖图"), ("green", "绿地与绿化覆盖图"),
                                       ("rooftop_pv", "屋顶光伏潜力图"), ("carbon", "碳排放强度图"),
                                       ("targets", "指标达标图"))  # fmt: skip
#: The sheets whose map shows the whole study area (the others: the unit and its surroundings).
WHOLE_AREA: frozenset[str] = frozenset({"location", "carbon"})
COVERED, NOT_COVERED, PARTLY = "#1a9850", "#d73027", "#fdae61"


@dataclass
class AnnexLayers:
    """Everything the sheets draw, in one metric CRS (prepared by the pipeline)."""

    units: gpd.GeoDataFrame  # index unit_id; name
    indicators: pd.DataFrame  # index unit_id
    roads: gpd.GeoDataFrame  # road_class (None: not a city road)
    landuse: gpd.GeoDataFrame  # non-overlapping faces with lu_class
    buildings: (
        gpd.GeoDataFrame
    )  # residential; lc_ok (bool/NaN); transit: 'bus_metro', 'bike', 'none' (residential only)
    facilities: gpd.GeoDataFrame  # category (the life-circle tier's categories)
    stations: gpd.GeoDataFrame  # kind
    service_areas: gpd.GeoDataFrame  # category (the life-circle tier's areas)
    vegetation: gpd.GeoDataFrame  # OSM vegetation polygons (used when there is no raster)
    categories: dict[str, tuple[str, str]]  # the tier's categories: id -> (zh, en)
    tier_label: str  # "15分钟生活圈"
    radius_m: float
    attribution: str
    date: str
    crs_name: str
    vegetation_raster: (
        Callable[[tuple[float, float, float, float]], tuple[np.ndarray, tuple] | None] | None
    ) = None
    tier: str = "15min"  # the life-circle tier drawn (its id in the catalogue)
    reasons: pd.DataFrame | None = (
        None  # why a value is NaN (unit_id, column, reason_zh, data_gap): shown instead of a bare dash
    )
    #: the buildings with their installable rooftop PV (use, roof_m2, installable_m2, pv_kwp; the carbon inventory's roofs)
    roofs: gpd.GeoDataFrame | None = None
    #: how the rooftop potential is estimated (the factors of the run), a note of the 屋顶光伏潜力图
    pv_method: str = ""
    #: sheet key → why it is not drawn ('中文 / English'), e.g. the carbon sheets without a carbon inventory
    skipped: dict[str, str] = field(default_factory=dict)
    #: the light context drawn beneath every sheet (roads, water, buildings, neighbours; a basemap from a tile cache)
    context: AnnexContext | None = None
    #: the compliance rows of the units drawn (the 指标达标图), the profile's rules by id and its name
    checks: pd.DataFrame | None = None
    rules: dict = field(default_factory=dict)
    profile_name: str = ""


def sheet_numbers(L: AnnexLayers) -> list[int]:
    """The numbers (1 … len(SHEETS)) of the sheets drawn: every sheet not in ``L.skipped``."""
    return [n for n, (key, _) in enumerate(SHEETS, start=1) if key not in L.skipped]


# --- sheets --------------------------------------------------------------------------------------


def _clip(gdf: gpd.GeoDataFrame, ext: Sequence[float], pad: float = 0.0) -> gpd.GeoDataFrame:
    return (
        gdf
        if gdf is None or gdf.empty
        else gdf.cx[ext[0] - pad : ext[2] + pad, ext[1] - pad : ext[3] + pad]
    )


def _val(L: AnnexLayers, uid: str, col: str, unit: str = "%", fmt: str = ".1f") -> str:
    """The value with its unit, or why there is none (数据缺失 for a data gap, 无法评估 otherwise)."""
    v = L.indicators.at[uid, col] if col in L.indicators.columns else np.nan
    if not pd.isna(v):
        return f"{v:{fmt}}{unit}"
    r = L.reasons
    hit = r[(r["unit_id"] == uid) & (r["column"] == col)] if r is not None and len(r) else None
    if hit is None or hit.empty:
        return "—"
    return "—（数据缺失）" if bool(hit["data_gap"].iloc[0]) else "—（无法评估）"


def _roads(
    ax, roads: gpd.GeoDataFrame, *, alpha: float = 1.0, scale: float = 0.45, other: bool = True
) -> None:
    if roads is None or roads.empty:
        return
    if other:
        rest = roads[roads["road_class"].isna()]
        if len(rest):
            rest.plot(
                ax=ax,
                color=st.OTHER_ROAD_STYLE["color"],
                linewidth=0.3,
                alpha=alpha * 0.7,
                zorder=3,
            )
    for cls in reversed(st.ROAD_CLASSES):
        part = roads[roads["road_class"] == cls]
        if len(part):
            s = st.ROAD_STYLE[cls]
            part.plot(
                ax=ax, color=s["color"], linewidth=float(s["weight"]) * scale, alpha=alpha, zorder=4
            )


def _buildings(ax, b: gpd.GeoDataFrame, col: str, colours: dict) -> list:
    """Residential buildings coloured by ``col`` (other buildings grey); legend handles of the values present."""
    if b is None or b.empty:
        return []
    b[~b["residential"]].plot(ax=ax, color="#d9d9d9", edgecolor="none", zorder=5)
    res = b[b["residential"]]
    handles = [Patch(facecolor="#d9d9d9", label="其他建筑")]
    for value, (colour, label) in colours.items():
        part = res[res[col].astype(object) == value] if value is not None else res[res[col].isna()]
        if len(part):
            part.plot(ax=ax, color=colour, edgecolor="#555555", linewidth=0.2, zorder=6)
            handles.append(
                Patch(facecolor=colour, edgecolor="#555555", label=f"{label}（{len(part)}栋）")
            )
    return handles


def _location(ax, L, uid, ext):
    _roads(ax, _clip(L.roads, ext), alpha=0.35, scale=0.3, other=False)
    L.units.boundary.plot(ax=ax, color="#555555", linewidth=0.6, zorder=7)
    L.units.loc[[uid]].plot(ax=ax, color="#d0021b", alpha=0.35, zorder=8)
    for other_id, row in L.units.iterrows():
        p = row.geometry.representative_point()
        ax.text(
            p.x,
            p.y,
            str(other_id),
            ha="center",
            va="center",
            fontsize=5.5,
            color="#333333",
            zorder=9,
        )
    return [
        Patch(facecolor="#d0021b", alpha=0.35, label=f"本单元 {uid}"),
        Line2D([], [], color="#555555", lw=0.6, label="研究范围内各单元"),
        Line2D(
            [],
            [],
            color=st.ROAD_STYLE["arterial"]["color"],
            alpha=0.35,
            lw=1.2,
            label="城市道路（按等级）",
        ),
    ], []


def _landuse(ax, L, uid, ext):
    faces = _clip(L.landuse, ext)
    handles = []
    for cls, (zh, _) in st.LANDUSE_CLASSES.items():
        part = faces[faces["lu_class"] == cls]
        if len(part):
            part.plot(
                ax=ax, color=st.LANDUSE_COLOURS[cls], edgecolor="#7f7f7f", linewidth=0.2, zorder=2
            )
            label = f"{zh}（本单元 {_val(L, uid, f'lu_{cls}_pct')}）"
            handles.append(
                Patch(facecolor=st.LANDUSE_COLOURS[cls], edgecolor="#7f7f7f", label=label)
            )
    part = faces[faces["lu_class"] == "unknown"]
    if len(part):
        part.plot(
            ax=ax,
            color=st.LANDUSE_UNKNOWN_CODE_COLOUR,
            edgecolor="#7f7f7f",
            linewidth=0.2,
            zorder=2,
        )
        label = f"{st.LANDUSE_UNKNOWN_CODE[0]}（本单元 {_val(L, uid, 'lu_unknown_pct')}）"
        handles.append(
            Patch(facecolor=st.LANDUSE_UNKNOWN_CODE_COLOUR, edgecolor="#7f7f7f", label=label)
        )
    no_data = f"{st.LANDUSE_UNKNOWN[0]}（{_val(L, uid, 'lu_no_data_pct')}）"
    handles.append(Patch(facecolor=st.LANDUSE_UNKNOWN_COLOUR, edgecolor="#7f7f7f", label=no_data))
    return handles, ["用地分类：GB 50137-2011 习用色"]


def _road_system(ax, L, uid, ext):
    _roads(ax, _clip(L.roads, ext))
    handles = [
        Line2D(
            [],
            [],
            color=st.ROAD_STYLE[c]["color"],
            lw=float(st.ROAD_STYLE[c]["weight"]) * 0.45,
            label=f"{zh} {_val(L, uid, f'road_density_{c}_km_per_km2', ' km/km²', '.2f')}",
        )
        for c, (zh, _) in st.ROAD_CLASSES.items()
    ]
    handles.append(
        Line2D([], [], color=st.OTHER_ROAD_STYLE["color"], lw=0.3, label=st.OTHER_ROAD[0])
    )
    notes = [
        f"路网密度（本单元）：{_val(L, uid, 'road_density_km_per_km2', ' km/km²', '.2f')}",
        f"交叉口密度：{_val(L, uid, 'intersection_density_per_km2', ' 个/km²', '.1f')}",
    ]
    return handles, notes


def _life_circle(ax, L, uid, ext):
    colours = st.category_colors(L.categories)
    areas = _clip(L.service_areas, ext)
    for cid, part in areas.groupby("category") if len(areas) else ():
        c = colours.get(cid, "#999999")
        part.plot(ax=ax, facecolor=c, edgecolor=c, alpha=0.06, linewidth=0.6, zorder=2)
    handles = _buildings(
        ax,
        _clip(L.buildings, ext),
        "lc_ok",
        {
            True: (COVERED, "全部设施可达"),
            False: (NOT_COVERED, "有设施不可达"),
            None: ("#bdbdbd", "未评估"),
        },
    )
    fac = _clip(L.facilities, ext)
    for cid, (zh, _) in L.categories.items():
        part = fac[fac["category"] == cid]
        if len(part):
            ax.scatter(
                part.geometry.x,
                part.geometry.y,
                s=14,
                color=colours[cid],
                edgecolors="white",
                linewidths=0.4,
                zorder=10,
            )
            handles.append(
                Line2D(
                    [], [], marker="o", ls="", color=colours[cid], markeredgecolor="white", label=zh
                )
            )
    handles.append(
        Patch(facecolor="#999999", alpha=0.15, label=f"{L.tier_label}服务范围（步行网络）")
    )
    notes = [
        f"{L.tier_label}全部设施覆盖率（本单元）：{_val(L, uid, columns.lc_all(L.tier))}",
        f"{L.tier_label}设施完备度（本单元）：{_val(L, uid, columns.lc_score(L.tier))}",
    ]
    r = L.reasons
    if r is not None and len(r):
        gap_cols = set(r.loc[r["reason"] == "category_gap", "column"])
        missing = [
            zh for cid, (zh, _) in L.categories.items() if columns.lc_category(cid) in gap_cols
        ]
        if missing:
            notes.append(f"数据缺失、未计入可达判断：{'、'.join(missing)}")
    return handles, notes


def _transit(ax, L, uid, ext):
    sta = _clip(L.stations, ext, L.radius_m)
    sta = sta[sta["kind"].isin(["bus_stop", "metro", "bike_rental"])]
    for kind, part in sta.groupby("kind"):
        c = st.STATION_COLORS[kind]  # one polygon per kind: overlapping circles do not darken
        circles = gpd.GeoSeries([part.buffer(L.radius_m).union_all()], crs=part.crs)
        circles.plot(ax=ax, facecolor=c, edgecolor=c, alpha=0.07, linewidth=0.5, zorder=2)
    handles = _buildings(
        ax,
        _clip(L.buildings, ext),
        "transit",
        {
            "bus_metro": (COVERED, f"{L.radius_m:g}米内有公交站或地铁站"),
            "bike": (PARTLY, f"{L.radius_m:g}米内仅有单车租赁点"),
            "none": (NOT_COVERED, f"{L.radius_m:g}米内均无"),
        },
    )
    marks = {"bus_stop": "s", "metro": "D", "bike_rental": "^"}
    for kind, part in sta.groupby("kind"):
        ax.scatter(
            part.geometry.x,
            part.geometry.y,
            s=16,
            marker=marks[kind],
            color=st.STATION_COLORS[kind],
            edgecolors="white",
            linewidths=0.4,
            zorder=10,
        )
    for kind in marks:
        handles.append(
            Line2D(
                [],
                [],
                marker=marks[kind],
                ls="",
                color=st.STATION_COLORS[kind],
                markeredgecolor="white",
                label=f"{st.STATION_KINDS[kind][0]}（{L.radius_m:g}米 "
                f"{_val(L, uid, columns.proximity(kind, L.radius_m, 'radius'))}）",
            )
        )
    return handles, ["覆盖率：居住建筑面积中位于站点直线半径内的比例"]


def _green(ax, L, uid, ext):
    faces = _clip(L.landuse, ext)
    handles = []
    for cls in ("park", "green"):
        part = faces[faces["lu_class"] == cls]
        if len(part):
            part.plot(ax=ax, color=st.LANDUSE_COLOURS[cls], edgecolor="none", alpha=0.8, zorder=3)
            handles.append(
                Patch(
                    facecolor=st.LANDUSE_COLOURS[cls], alpha=0.8, label=st.LANDUSE_CLASSES[cls][0]
                )
            )
    raster = L.vegetation_raster(tuple(ext)) if L.vegetation_raster else None
    if raster is not None:
        mask, r_ext = raster
        ax.imshow(
            np.ma.masked_where(mask != 1, mask),
            extent=r_ext,
            origin="upper",
            cmap=ListedColormap(["#66bd63"]),
            alpha=0.7,
            interpolation="nearest",
            zorder=4,
        )
        handles.append(Patch(facecolor="#66bd63", alpha=0.7, label="植被像元（土地覆盖栅格）"))
        source = "绿化覆盖：土地覆盖栅格植被类"
    else:
        veg = _clip(L.vegetation, ext)
        if veg is not None and len(veg):
            veg.plot(
                ax=ax,
                facecolor="#a6d96a",
                edgecolor="#66bd63",
                linewidth=0.2,
                alpha=0.55,
                hatch="...",
                zorder=4,
            )
        handles.append(
            Patch(
                facecolor="#a6d96a",
                edgecolor="#66bd63",
                alpha=0.55,
                hatch="...",
                label="植被（面要素）",
            )
        )
        source = "绿化覆盖：植被面要素与绿地（无栅格时绿化覆盖率不低于绿地率）"
    notes = [
        f"绿地率（本单元）：{_val(L, uid, 'green_space_ratio_pct')}",
        f"绿化覆盖率（本单元）：{_val(L, uid, 'green_coverage_pct')}",
        source,
    ]
    return handles, notes


#: the drawer of each map sheet by key (the carbon sheets: ditan.maps.annex_carbon; 指标达标图: annex_targets)
DRAW = {
    "location": _location,
    "landuse": _landuse,
    "roads": _road_system,
    "life_circle": _life_circle,
    "transit": _transit,
    "green": _green,
}
