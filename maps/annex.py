"""附图 — the printed map annex of an implementation plan: six sheets per unit (PDF and 300 dpi PNG).

Each sheet (SHEETS) has a Chinese title with the unit name, a legend, a scale bar measured in metres, a
north arrow, the data sources, the run date and the CRS, on an A4 or A3 page turned to the unit's shape.
Text is set in a CJK font found on the system (Noto Sans CJK SC of Debian's fonts-noto-cjk first). Its
.ttc holds CFF outlines, which matplotlib's PDF backend would write as a TrueType (FontFile2) stream, not
valid PDF (matplotlib issues 2869, 20870); so for the PDF every text is switched to a subset of the font
converted to TrueType outlines (fontTools cu2qu), embedded as a proper CIDFontType2/FontFile2. Figures are
drawn on Agg/PDF canvases directly (no pyplot, no interactive backend).
"""
from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text

from ditan.maps import style as st
from ditan.maps.fonts import FONT_DIRS, PREFERRED_FONTS, PROBE, CjkFont, FontMissingError, find_cjk_font, truetype_subset  # noqa: F401
from ditan.spatial.standards import columns

__all__ = [
    "AnnexLayers", "orientation", "page_inches", "nice_length", "ScaleBar", "scale_bar",
    "rounded_scale", "draw_scale_bar", "draw_north_arrow", "map_extent", "sheet_figure",
    "draw_unit",
]

#: Paper sizes (mm, portrait) and the sheets, in order: (file key, title).
PAPER_MM: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
SHEETS: tuple[tuple[str, str], ...] = (("location", "区位图"), ("landuse", "用地现状图"), ("roads", "道路系统图"), ("life_circle",
                                       "15分钟生活圈覆盖图"), ("transit", "公交/单车500米覆盖图"), ("green", "绿地与绿化覆盖图"))  # fmt: skip
INCH_MM = 25.4
UNIT_LINE = {"color": "#d0021b", "linewidth": 1.6, "linestyle": (0, (6, 3))}
COVERED, NOT_COVERED, PARTLY = "#1a9850", "#d73027", "#fdae61"


@dataclass
class AnnexLayers:
    """Everything the sheets draw, in one metric CRS (prepared by the pipeline)."""

    units: gpd.GeoDataFrame  # index unit_id; name
    indicators: pd.DataFrame  # index unit_id
    roads: gpd.GeoDataFrame  # road_class (None: not a city road)
    landuse: gpd.GeoDataFrame  # non-overlapping faces with lu_class
    buildings: gpd.GeoDataFrame  # residential; lc_ok (bool/NaN); transit: 'bus_metro', 'bike', 'none' (residential only)
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
    vegetation_raster: Callable[[tuple[float, float, float, float]], tuple[np.ndarray, tuple] | None] | None = None
    tier: str = "15min"  # the life-circle tier drawn (its id in the catalogue)
    reasons: pd.DataFrame | None = None  # why a value is NaN (unit_id, column, reason_zh, data_gap): shown instead of a bare dash


# --- page, scale bar, north arrow ----------------------------------------------------------------


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
    return ScaleBar(length, length / width_m * axes_width_in, width_m / (axes_width_in * INCH_MM / 1000.0), label)


def rounded_scale(s: float) -> int:
    """1:s rounded to two significant figures (1:9,456 → 9,500)."""
    p = 10 ** max(int(math.floor(math.log10(s))) - 1, 0)
    return int(round(s / p) * p)


def draw_scale_bar(ax, bar: ScaleBar, extent: Sequence[float]) -> list:
    """Two-segment black/white bar in the lower left of the map; returns its rectangles."""
    x0, y0, x1, y1 = extent
    h = (y1 - y0) * 0.008
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.04
    ax.add_patch(Rectangle((bx - (x1 - x0) * 0.015, by - h * 1.5), bar.length_m + (x1 - x0) * 0.05, h * 6.5, facecolor="white",
                           edgecolor="none", alpha=0.85, zorder=20))  # fmt: skip
    half = bar.length_m / 2
    rects = [Rectangle((bx + i * half, by), half, h, facecolor=c, edgecolor="black", linewidth=0.6, zorder=21)
             for i, c in enumerate(("black", "white"))]  # fmt: skip
    for r in rects:
        ax.add_patch(r)
    for x, t in ((bx, "0"), (bx + bar.length_m, bar.label)):
        ax.text(x, by + h * 1.6, t, ha="center", va="bottom", fontsize=7, zorder=22)
    return rects


def draw_north_arrow(ax) -> None:
    ax.annotate("", xy=(0.95, 0.95), xytext=(0.95, 0.87), xycoords="axes fraction", zorder=22,
                arrowprops={"arrowstyle": "-|>,head_length=0.8,head_width=0.4", "color": "black", "linewidth": 1.4})  # fmt: skip
    ax.text(0.95, 0.955, "北 N", transform=ax.transAxes, ha="center", va="bottom", fontsize=8, zorder=22)


def map_extent(bounds: Sequence[float], box_w: float, box_h: float, margin: float = 0.12, min_margin_m: float = 80.0) -> tuple:
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


# --- sheets --------------------------------------------------------------------------------------


def _clip(gdf: gpd.GeoDataFrame, ext: Sequence[float], pad: float = 0.0) -> gpd.GeoDataFrame:
    return gdf if gdf is None or gdf.empty else gdf.cx[ext[0] - pad : ext[2] + pad, ext[1] - pad : ext[3] + pad]


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


def _roads(ax, roads: gpd.GeoDataFrame, *, alpha: float = 1.0, scale: float = 0.45, other: bool = True) -> None:
    if roads is None or roads.empty:
        return
    if other:
        rest = roads[roads["road_class"].isna()]
        if len(rest):
            rest.plot(ax=ax, color=st.OTHER_ROAD_STYLE["color"], linewidth=0.3, alpha=alpha * 0.7, zorder=3)
    for cls in reversed(st.ROAD_CLASSES):
        part = roads[roads["road_class"] == cls]
        if len(part):
            s = st.ROAD_STYLE[cls]
            part.plot(ax=ax, color=s["color"], linewidth=float(s["weight"]) * scale, alpha=alpha, zorder=4)


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
            handles.append(Patch(facecolor=colour, edgecolor="#555555", label=f"{label}（{len(part)}栋）"))
    return handles


def _location(ax, L, uid, ext):
    _roads(ax, _clip(L.roads, ext), alpha=0.35, scale=0.3, other=False)
    L.units.boundary.plot(ax=ax, color="#555555", linewidth=0.6, zorder=7)
    L.units.loc[[uid]].plot(ax=ax, color="#d0021b", alpha=0.35, zorder=8)
    for other_id, row in L.units.iterrows():
        p = row.geometry.representative_point()
        ax.text(p.x, p.y, str(other_id), ha="center", va="center", fontsize=5.5, color="#333333", zorder=9)
    return [Patch(facecolor="#d0021b", alpha=0.35, label=f"本单元 {uid}"), Line2D([], [], color="#555555", lw=0.6, label="研究范围内各单元"),
            Line2D([], [], color=st.ROAD_STYLE["arterial"]["color"], alpha=0.35, lw=1.2, label="城市道路（按等级）")], []  # fmt: skip


def _landuse(ax, L, uid, ext):
    faces = _clip(L.landuse, ext)
    handles = []
    for cls, (zh, _) in st.LANDUSE_CLASSES.items():
        part = faces[faces["lu_class"] == cls]
        if len(part):
            part.plot(ax=ax, color=st.LANDUSE_COLOURS[cls], edgecolor="#7f7f7f", linewidth=0.2, zorder=2)
            label = f"{zh}（本单元 {_val(L, uid, f'lu_{cls}_pct')}）"
            handles.append(Patch(facecolor=st.LANDUSE_COLOURS[cls], edgecolor="#7f7f7f", label=label))
    unknown = f"{st.LANDUSE_UNKNOWN[0]}（{_val(L, uid, 'lu_unknown_pct')}）"
    handles.append(Patch(facecolor="white", edgecolor="#7f7f7f", label=unknown))
    return handles, ["用地分类：GB 50137-2011 习用色"]


def _road_system(ax, L, uid, ext):
    _roads(ax, _clip(L.roads, ext))
    handles = [Line2D([], [], color=st.ROAD_STYLE[c]["color"], lw=float(st.ROAD_STYLE[c]["weight"]) * 0.45,
                      label=f"{zh} {_val(L, uid, f'road_density_{c}_km_per_km2', ' km/km²', '.2f')}")
               for c, (zh, _) in st.ROAD_CLASSES.items()]  # fmt: skip
    handles.append(Line2D([], [], color=st.OTHER_ROAD_STYLE["color"], lw=0.3, label=st.OTHER_ROAD[0]))
    notes = [f"路网密度（本单元）：{_val(L, uid, 'road_density_km_per_km2', ' km/km²', '.2f')}",
             f"交叉口密度：{_val(L, uid, 'intersection_density_per_km2', ' 个/km²', '.1f')}"]  # fmt: skip
    return handles, notes


def _life_circle(ax, L, uid, ext):
    colours = st.category_colors(L.categories)
    areas = _clip(L.service_areas, ext)
    for cid, part in areas.groupby("category") if len(areas) else ():
        c = colours.get(cid, "#999999")
        part.plot(ax=ax, facecolor=c, edgecolor=c, alpha=0.06, linewidth=0.6, zorder=2)
    handles = _buildings(ax, _clip(L.buildings, ext), "lc_ok", {True: (COVERED, "全部设施可达"), False: (NOT_COVERED, "有设施不可达"),
                                                                None: ("#bdbdbd", "未评估")})  # fmt: skip
    fac = _clip(L.facilities, ext)
    for cid, (zh, _) in L.categories.items():
        part = fac[fac["category"] == cid]
        if len(part):
            ax.scatter(part.geometry.x, part.geometry.y, s=14, color=colours[cid], edgecolors="white", linewidths=0.4, zorder=10)
            handles.append(Line2D([], [], marker="o", ls="", color=colours[cid], markeredgecolor="white", label=zh))
    handles.append(Patch(facecolor="#999999", alpha=0.15, label=f"{L.tier_label}服务范围（步行网络）"))
    notes = [f"{L.tier_label}全部设施覆盖率（本单元）：{_val(L, uid, columns.lc_all(L.tier))}",
             f"{L.tier_label}设施完备度（本单元）：{_val(L, uid, columns.lc_score(L.tier))}"]
    r = L.reasons
    if r is not None and len(r):
        gap_cols = set(r.loc[r["reason"] == "category_gap", "column"])
        missing = [zh for cid, (zh, _) in L.categories.items() if columns.lc_category(cid) in gap_cols]
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
    handles = _buildings(ax, _clip(L.buildings, ext), "transit", {"bus_metro": (COVERED, f"{L.radius_m:g}米内有公交站或地铁站"),
                                                                  "bike": (PARTLY, f"{L.radius_m:g}米内仅有单车租赁点"),
                                                                  "none": (NOT_COVERED, f"{L.radius_m:g}米内均无")})  # fmt: skip
    marks = {"bus_stop": "s", "metro": "D", "bike_rental": "^"}
    for kind, part in sta.groupby("kind"):
        ax.scatter(part.geometry.x, part.geometry.y, s=16, marker=marks[kind], color=st.STATION_COLORS[kind], edgecolors="white",
                   linewidths=0.4, zorder=10)  # fmt: skip
    for kind in marks:
        handles.append(Line2D([], [], marker=marks[kind], ls="", color=st.STATION_COLORS[kind], markeredgecolor="white",
                              label=f"{st.STATION_KINDS[kind][0]}（{L.radius_m:g}米 "
                              f"{_val(L, uid, columns.proximity(kind, L.radius_m, 'radius'))}）"))  # fmt: skip
    return handles, ["覆盖率：居住建筑面积中位于站点直线半径内的比例"]


def _green(ax, L, uid, ext):
    faces = _clip(L.landuse, ext)
    handles = []
    for cls in ("park", "green"):
        part = faces[faces["lu_class"] == cls]
        if len(part):
            part.plot(ax=ax, color=st.LANDUSE_COLOURS[cls], edgecolor="none", alpha=0.8, zorder=3)
            handles.append(Patch(facecolor=st.LANDUSE_COLOURS[cls], alpha=0.8, label=st.LANDUSE_CLASSES[cls][0]))
    raster = L.vegetation_raster(tuple(ext)) if L.vegetation_raster else None
    if raster is not None:
        mask, r_ext = raster
        ax.imshow(np.ma.masked_where(mask != 1, mask), extent=r_ext, origin="upper", cmap=ListedColormap(["#66bd63"]), alpha=0.7,
                  interpolation="nearest", zorder=4)  # fmt: skip
        handles.append(Patch(facecolor="#66bd63", alpha=0.7, label="植被像元（土地覆盖栅格）"))
        source = "绿化覆盖：土地覆盖栅格植被类"
    else:
        veg = _clip(L.vegetation, ext)
        if veg is not None and len(veg):
            veg.plot(ax=ax, facecolor="#a6d96a", edgecolor="#66bd63", linewidth=0.2, alpha=0.55, hatch="...", zorder=4)
        handles.append(Patch(facecolor="#a6d96a", edgecolor="#66bd63", alpha=0.55, hatch="...", label="植被（面要素）"))
        source = "绿化覆盖：植被面要素与绿地（无栅格时绿化覆盖率不低于绿地率）"
    notes = [f"绿地率（本单元）：{_val(L, uid, 'green_space_ratio_pct')}", f"绿化覆盖率（本单元）：{_val(L, uid, 'green_coverage_pct')}", source]
    return handles, notes


DRAW = dict(zip([k for k, _ in SHEETS], (_location, _landuse, _road_system, _life_circle, _transit, _green), strict=True))


# --- pages ---------------------------------------------------------------------------------------


def sheet_figure(L: AnnexLayers, uid: str, number: int, *, paper: str = "A4") -> Figure:
    """One sheet (``number`` 1–6 of SHEETS) of unit ``uid`` on a page of ``paper``."""
    key, title = SHEETS[number - 1]
    bounds = L.units.geometry.loc[uid].bounds
    orient = orientation(bounds)
    W, H = page_inches(paper, orient)
    fig = Figure(figsize=(W, H))
    m, top, panel = 0.45, 1.05, (3.1 if orient == "landscape" else 2.7) * (1.15 if paper == "A3" else 1.0)
    if orient == "landscape":
        box = (m, m, W - 2 * m - panel - 0.15, H - m - top)
        pbox = (W - m - panel, m, panel, H - m - top)
    else:
        box = (m, m + panel + 0.15, W - 2 * m, H - 2 * m - panel - 0.15 - top + m)
        pbox = (m, m, W - 2 * m, panel)
    ax = fig.add_axes((box[0] / W, box[1] / H, box[2] / W, box[3] / H))
    src = L.units.total_bounds if key == "location" else bounds
    ext = map_extent(src, box[2], box[3], margin=0.04 if key == "location" else 0.12)
    ax.set(xlim=(ext[0], ext[2]), ylim=(ext[1], ext[3]), xticks=[], yticks=[])
    ax.set_aspect("equal", adjustable="box")
    handles, notes = DRAW[key](ax, L, uid, ext)
    if key != "location":
        L.units.boundary.plot(ax=ax, color="#7f7f7f", linewidth=0.5, zorder=11)
    gpd.GeoSeries([L.units.geometry.loc[uid]], crs=L.units.crs).boundary.plot(ax=ax, zorder=12, **UNIT_LINE)
    handles.append(Line2D([], [], label="单元边界", **UNIT_LINE))
    ax.set(xlim=(ext[0], ext[2]), ylim=(ext[1], ext[3]), xlabel="", ylabel="")
    bar = scale_bar(ext[2] - ext[0], box[2])
    draw_scale_bar(ax, bar, ext)
    draw_north_arrow(ax)
    name = str(L.units.at[uid, "name"]) if "name" in L.units.columns else uid
    fig.text(m / W, 1 - 0.42 / H, f"附图{number} {title} — {name}", fontsize=15, va="top")
    sub = f"单元 {uid} · 面积 {L.units.geometry.loc[uid].area / 1e6:.3f} km²"
    fig.text(m / W, 1 - 0.78 / H, sub, fontsize=9, va="top", color="#444444")
    pax = fig.add_axes((pbox[0] / W, pbox[1] / H, pbox[2] / W, pbox[3] / H))
    pax.axis("off")
    wide = orient == "portrait"  # portrait: legend on the left of the band below the map, notes on its right
    pax.legend(handles=handles, loc="upper left", frameon=False, fontsize=7, title="图例", title_fontsize=9, ncol=2 if wide else 1,
               handlelength=2.0, borderaxespad=0.0, alignment="left", bbox_to_anchor=(0, 1, 0.64 if wide else 1, 0))  # fmt: skip
    info = [*notes, f"比例尺 1:{rounded_scale(bar.scale):,}（{paper} 打印）", f"坐标系：{L.crs_name}", f"数据来源：{L.attribution}",
            f"制图日期：{L.date} · ditan"]  # fmt: skip
    pax.text(0.66 if wide else 0.0, 1.0 if wide else 0.0, "\n".join(info), transform=pax.transAxes, fontsize=6.5,
             va="top" if wide else "bottom", ha="left", linespacing=1.6, wrap=True)  # fmt: skip
    return fig



def _use_font(figs: Sequence[Figure], path: str) -> None:
    for fig in figs:
        for t in fig.findobj(Text):
            if t.get_text():
                t.set_fontproperties(FontProperties(fname=path, size=t.get_fontsize()))


def draw_unit(L: AnnexLayers, uid: str, *, paper: str, font: CjkFont, pdf_path: Path, png_paths: Sequence[Path],
              dpi: int = 300) -> None:  # fmt: skip
    """Draw the six sheets of ``uid``: one PNG each at ``dpi`` and one multi-page PDF with an embedded TrueType subset."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages
    with rc_context({"font.family": [font.name], "pdf.fonttype": 42, "hatch.linewidth": 0.4, "axes.unicode_minus": False}):
        figs = [sheet_figure(L, uid, n, paper=paper) for n in range(1, len(SHEETS) + 1)]
        for fig, png in zip(figs, png_paths, strict=True):
            fig.savefig(png, dpi=dpi, facecolor="white")
        text = "".join(t.get_text() for f in figs for t in f.findobj(Text))
        with tempfile.TemporaryDirectory(prefix="ditan-font-") as tmp:
            _use_font(figs, str(truetype_subset(font, text, Path(tmp))))
            with PdfPages(pdf_path, metadata={"Title": f"附图 {uid}", "Creator": "ditan", "CreationDate": None}) as pdf:
                for fig in figs:
                    pdf.savefig(fig, facecolor="white")
