"""Colours, bilingual class names and class breaks shared by every ditan map.

Road, land-use, facility and station palettes live here so that the interactive map, static
figures and legends agree. Land-use colours are the customary colours of the GB 50137-2011 land-use
classes (residential yellow, public service magenta, commercial red, industrial brown, transport
grey, utilities blue, green space green, water blue), one per internal class of ``ditan.spatial.landuse``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ditan.spatial.landuse.classes import LANDUSE_CLASSES as _LANDUSE_CLASSES

__all__ = [
    "point_style",
    "category_colors",
    "facility_categories",
    "category_order",
    "service_area_names",
    "bilingual",
    "class_colors",
    "class_breaks",
    "classify",
    "palette_of",
    "pv_class",
]

# --- roads -------------------------------------------------------------------------------------

#: City road classes (GB 50220 / GB/T 51328) in drawing order, with bilingual names.
ROAD_CLASSES: dict[str, tuple[str, str]] = {
    "expressway": ("快速路", "Expressway"),
    "arterial": ("主干路", "Arterial"),
    "collector": ("次干路", "Collector"),
    "local": ("支路", "Local"),
}
#: Line style per road class (Leaflet path options).
ROAD_STYLE: dict[str, dict[str, float | str]] = {
    "expressway": {"color": "#c2185b", "weight": 6.0},
    "arterial": {"color": "#e65100", "weight": 4.5},
    "collector": {"color": "#f9a825", "weight": 3.0},
    "local": {"color": "#6d6d6d", "weight": 1.8},
}
#: Roads whose class is missing or not one of ROAD_CLASSES.
OTHER_ROAD: tuple[str, str] = ("其他道路", "Other roads")
OTHER_ROAD_STYLE: dict[str, float | str] = {"color": "#9e9e9e", "weight": 1.0}

# --- land use ----------------------------------------------------------------------------------

#: Land-use classes of ``ditan.spatial.landuse`` (lu_<class>_pct) with bilingual names (re-exported).
LANDUSE_CLASSES: dict[str, tuple[str, str]] = _LANDUSE_CLASSES
#: Fill colour per internal land-use class, in the customary colours of the GB 50137-2011 classes
#: (as drawn in Chinese plans): R yellow, A pink/magenta, B red, M brown (``industrial`` covers M
#: and W; M's brown is used), S grey, U blue, G1 green, G2 darker green, G3 light grey, E1 blue,
#: E2 light green. ``community_service`` (R12/R22, the residential quarter's service land) is a
#: darker, orange-leaning yellow so it reads as part of the residential family.
LANDUSE_COLOURS: dict[str, str] = {
    "residential": "#FFFF2D",  # R 居住用地
    "community_service": "#FFBF00",  # R12/R22 服务设施用地
    "public_service": "#FF7FBF",  # A 公共管理与公共服务用地
    "commercial": "#FF0000",  # B 商业服务业设施用地
    "industrial": "#996633",  # M 工业用地 (+ W 物流仓储用地)
    "transport": "#A6A6A6",  # S 道路与交通设施用地
    "utilities": "#0070C0",  # U 公用设施用地
    "park": "#00C000",  # G1 公园绿地
    "green": "#007F3F",  # G2 防护绿地 and other green space
    "plaza": "#D9D9D9",  # G3 广场用地
    "water": "#7FDFFF",  # E1 水域
    "agriculture": "#BFFF7F",  # E2 农林用地
    "other": "#F2F2F2",  # 其他用地
}
#: The GB 50137-2011 class each internal land-use class stands for (the legend's code column).
LANDUSE_GB50137: dict[str, str] = {
    "residential": "R",
    "community_service": "R12/R22/R32",
    "public_service": "A",
    "commercial": "B",
    "industrial": "M/W",
    "transport": "S",
    "utilities": "U",
    "park": "G1",
    "green": "G2",
    "plaza": "G3",
    "water": "E1",
    "agriculture": "E2",
    "other": "H/E9",
}
#: Land no parcel or land-use polygon covers (the lu_no_data_pct share).
LANDUSE_UNKNOWN: tuple[str, str] = ("无用地信息", "No land-use information")
LANDUSE_UNKNOWN_COLOUR = "#FFFFFF"
#: Land of a parcel whose code has no class: unknown, NULL or empty (the lu_unknown_pct share; faces of class "unknown").
LANDUSE_UNKNOWN_CODE: tuple[str, str] = ("用地代码无法识别", "Unrecognised land-use code")
LANDUSE_UNKNOWN_CODE_COLOUR = "#D9D9D9"

# --- buildings ---------------------------------------------------------------------------------

BUILDING_COLORS: dict[str, str] = {"residential": "#e6a23c", "other": "#8c8c8c"}
BUILDING_NAMES: dict[str, tuple[str, str]] = {
    "residential": ("居住建筑", "Residential buildings"),
    "other": ("其他建筑", "Other buildings"),
}

# --- facilities --------------------------------------------------------------------------------

#: Distinct categorical colours (Tableau 20 order: strong hues first, light ones after).
FACILITY_PALETTE: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#c7c7c7",
    "#dbdb8d",
    "#9edae5",
)


#: Facilities without a category.
OTHER_FACILITY: tuple[str, str] = ("其他设施", "Other facilities")


def point_style(color: str) -> dict[str, float | str]:
    """Circle-marker style: filled with ``color``, thin white outline."""
    return {"color": "#ffffff", "weight": 1, "fillColor": color, "fillOpacity": 0.9}


def category_colors(category_ids: Iterable[str]) -> dict[str, str]:
    """A colour per category id, in the given order (cycling after 20 categories)."""
    out: dict[str, str] = {}
    for cid in category_ids:
        if cid not in out:
            out[cid] = FACILITY_PALETTE[len(out) % len(FACILITY_PALETTE)]
    return out


def facility_categories(gdf: pd.DataFrame) -> pd.Series:
    """Category id of each facility as str ('__other__' where missing)."""
    raw = (
        gdf["category"]
        if "category" in gdf.columns
        else pd.Series(None, index=gdf.index, dtype=object)
    )
    return raw.where(raw.notna(), "__other__").astype(str)


def category_order(present: set[str], categories: Mapping[str, object]) -> list[str]:
    """``present`` in catalogue order, then the categories not in the catalogue alphabetically."""
    return [c for c in categories if c in present] + sorted(present - set(categories))


# --- stations ----------------------------------------------------------------------------------

STATION_KINDS: dict[str, tuple[str, str]] = {
    "bus_stop": ("公交站", "Bus stop"),
    "metro": ("地铁站", "Metro"),
    "bike_rental": ("共享单车/自行车租赁", "Bike rental"),
    "ev_charging": ("充电站", "EV charging"),
}
STATION_COLORS: dict[str, str] = {
    "bus_stop": "#1565c0",
    "metro": "#c62828",
    "bike_rental": "#2e7d32",
    "ev_charging": "#6a1b9a",
}
OTHER_STATION: tuple[str, str] = ("其他站点", "Other stations")
OTHER_STATION_COLOR = "#616161"

# --- service areas -----------------------------------------------------------------------------

#: Outline and fill of a service-area polygon (``color``/``fillColor`` added per category).
SERVICE_AREA_STYLE: dict[str, float | str] = {"weight": 1.2, "opacity": 0.8, "fillOpacity": 0.12}
_MINUTES = re.compile(r"(\d+(?:\.\d+)?)min")
_METRES = re.compile(r"(\d+(?:\.\d+)?)m")


def service_area_names(tier: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """(layer name, tier name) of a service-area tier, each a (zh, en) pair.

    "15min" gives ("15分钟生活圈服务范围", "15-minute service areas") and ("15分钟生活圈",
    "15-minute life circle"); a station radius such as "500m" gives ("站点500米步行范围", "500 m walking
    areas (stations)") and ("站点500米", "500 m walk from stations"). Other tier ids are used as is.
    """
    if m := _MINUTES.fullmatch(tier):
        n = m.group(1)
        return (f"{n}分钟生活圈服务范围", f"{n}-minute service areas"), (
            f"{n}分钟生活圈",
            f"{n}-minute life circle",
        )
    if m := _METRES.fullmatch(tier):
        n = m.group(1)
        return (f"站点{n}米步行范围", f"{n} m walking areas (stations)"), (
            f"站点{n}米",
            f"{n} m walk from stations",
        )
    return (f"{tier}服务范围", f"{tier} service areas"), ("层级", tier)


# --- choropleth --------------------------------------------------------------------------------

#: Sequential palette (ColorBrewer YlGnBu, 5 classes) for indicator choropleths.
SEQUENTIAL: tuple[str, ...] = ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494")
#: Sequential palette (ColorBrewer YlOrRd, 5 classes) for emissions: CO₂ totals and carbon intensities.
EMISSION_SEQUENTIAL: tuple[str, ...] = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
#: Sequential palette (ColorBrewer YlOrBr, 5 classes) for solar potential: rooftop PV kWp and generation.
SOLAR_SEQUENTIAL: tuple[str, ...] = ("#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404")
NODATA_COLOR = "#d9d9d9"
NODATA_LABEL = "无数据 no data"
#: Legend label of the units whose value is NaN with a reason (ditan.spatial.standards.reasons).
NOT_ASSESSABLE_LABEL = "无法评估 not assessable"
#: Leaflet path class of no-data units; the legend's CSS fills it with an SVG hatch pattern.
NODATA_CLASS = "ditan-nodata"
#: Style of a unit with a value (fillColor added per class) and of a unit without one.
UNIT_STYLE: dict[str, float | str] = {"color": "#333333", "weight": 1.2, "fillOpacity": 0.7}
NODATA_STYLE: dict[str, float | str] = {
    "fillColor": NODATA_COLOR,
    "color": "#555555",
    "weight": 1,
    "fillOpacity": 0.7,
    "dashArray": "4 3",
    "className": NODATA_CLASS,
}


def bilingual(names: tuple[str, str]) -> str:
    """'中文名 English' from a (zh, en) pair."""
    return f"{names[0]} {names[1]}"


def class_colors(n: int, palette: Sequence[str] = SEQUENTIAL) -> list[str]:
    """``n`` colours (1 ≤ n ≤ 5) spread over a 5-colour sequential ``palette``, light to dark."""
    if not 1 <= n <= len(palette):
        raise ValueError(f"n must be between 1 and {len(palette)}, got {n}")
    if n == 1:
        return [palette[2]]
    idx = np.round(np.linspace(0, len(palette) - 1, n)).astype(int)
    return [palette[i] for i in idx]


def class_breaks(
    values: Sequence[float] | np.ndarray, k: int = 5, method: str = "quantile"
) -> list[float]:
    """Strictly increasing class breaks (2 … k+1 numbers) covering the finite ``values``.

    ``method`` is "quantile" (equal counts) or "equal" (equal intervals). Inner breaks are
    rounded to a "nice" precision of about a tenth of the class width; the outer breaks are the
    exact minimum and maximum, so every value falls in a class. Ties and tiny samples give fewer
    classes; a constant (or empty) sample gives a single class.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [0.0, 1.0]
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        pad = abs(lo) * 0.01 or 1.0
        return [lo, lo + pad]
    if method == "quantile":
        inner = np.quantile(v, np.linspace(0.0, 1.0, k + 1)[1:-1])
    elif method == "equal":
        inner = np.linspace(lo, hi, k + 1)[1:-1]
    else:
        raise ValueError(f"unknown class-break method {method!r}; use 'quantile' or 'equal'")
    decimals = max(0, 1 - math.floor(math.log10((hi - lo) / k)))
    inner = np.round(inner, decimals)
    inner = [float(b) for b in np.unique(inner) if lo < b < hi]
    return [lo, *inner, hi]


def classify(values: Sequence[float] | np.ndarray, breaks: Sequence[float]) -> np.ndarray:
    """Class index (0 … len(breaks)-2) per value; -1 for NaN. Matches branca's StepColormap."""
    v = np.asarray(values, dtype=float)
    n = len(breaks) - 1
    idx = np.clip(np.searchsorted(np.asarray(breaks, dtype=float), v, side="right") - 1, 0, n - 1)
    return np.where(np.isfinite(v), idx, -1)


# --- compliance and coverage gaps ---------------------------------------------------------------

#: Per-unit result of the binding (约束性) rules of a compliance profile: class id, names, fill colour.
COMPLIANCE_CLASSES: tuple[tuple[str, tuple[str, str], str], ...] = (
    ("pass", ("约束性指标全部达标", "All binding rules pass"), "#1a9850"),
    ("not_assessable", ("无未达标，部分无法评估", "No failure, some not assessable"), "#fee08b"),
    ("fail", ("有约束性指标未达标", "Some binding rule fails"), "#d73027"),
)
#: Residential buildings outside the 15-minute life circle (coverage gaps).
GAP_COLOR = "#b2182b"

# --- carbon inventory (碳盘查) ------------------------------------------------------------------

#: Installable rooftop PV per building (kWp), the classes of the 屋顶光伏潜力图: fixed, so that sheets of
#: different units and study areas compare (a house of 100 m² takes about 3 kWp, a school of 5,000 m² about 300).
PV_KWP_BREAKS: tuple[float, ...] = (0.0, 20.0, 50.0, 100.0, 300.0, math.inf)
#: Buildings without an installable roof in any unit (outside the units) on the 屋顶光伏潜力图.
PV_NONE_COLOR = "#eeeeee"


def palette_of(column: str) -> tuple[str, ...]:
    """The sequential palette a unit column is coloured with: emissions in YlOrRd, solar in YlOrBr, the rest YlGnBu."""
    if column.startswith(("building_co2_", "co2_per_", "source_sink_ratio")):
        return EMISSION_SEQUENTIAL
    if column.startswith(("rooftop_pv_", "renewable_substitution_")):
        return SOLAR_SEQUENTIAL
    return SEQUENTIAL


def pv_class(kwp: Sequence[float] | np.ndarray) -> np.ndarray:
    """Class of each building's installable kWp in PV_KWP_BREAKS (0 … 4); -1 for no installable roof (≤ 0 or NaN)."""
    v = np.asarray(kwp, dtype=float)
    idx = np.searchsorted(np.asarray(PV_KWP_BREAKS[1:-1]), v, side="right")
    return np.where(np.isfinite(v) & (v > 0), idx, -1)
