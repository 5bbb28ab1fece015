"""Why a value is NaN: reason codes declared once, in English and Chinese, beside the columns they explain.

Every NaN in an indicator table has a row in the long *reasons* table (``REASON_COLUMNS``): unit, column,
reason code, the text in English and Chinese, and whether it is a **data gap** (nothing in any source,
anywhere in the study window: a missing layer or category) rather than a property of the unit (no
residents, no residential land). Compliance turns a NaN into "not assessable" with this reason, never
"fail"; the summary counts data gaps apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Reason", "reasons_frame", "lookup"]

REASON_COLUMNS = ["unit_id", "column", "reason", "reason_en", "reason_zh", "data_gap"]


@dataclass(frozen=True)
class Reason:
    code: str
    en: str
    zh: str
    data_gap: bool = (
        False  # True: absent from the data (add a source); False: a property of the unit
    )

    def format(self, **kw: object) -> Reason:
        """The reason with its ``{placeholders}`` filled (e.g. the layer or category named)."""
        return Reason(self.code, self.en.format(**kw), self.zh.format(**kw), self.data_gap)


# the reasons, by code; {placeholders} are filled where the reason is given
NO_LAYER = Reason("no_layer", "no {layer_en} data: {why}", "无{layer_zh}数据：{why}", True)
OUTSIDE_LAYER = Reason(
    "outside_layer",
    "the unit lies outside the extent of the {layer_en} data",
    "单元位于{layer_zh}数据范围之外",
    True,
)
NO_FACILITY_SOURCE = Reason(
    "no_facility_source",
    "no facility source (no POI layer and no OSM file)",
    "无设施数据（未提供POI图层或OSM文件）",
    True,
)
NO_STATION_SOURCE = Reason(
    "no_station_source",
    "no station source (no stations layer and no OSM file)",
    "无站点数据（未提供站点图层或OSM文件）",
    True,
)
CATEGORY_GAP = Reason(
    "category_gap",
    "data gap: no {name} in any source of the study area",
    "数据缺失：研究范围内任何数据源均无{name}",
    True,
)
STATION_GAP = Reason(
    "station_gap",
    "data gap: no {name} in any source of the study area",
    "数据缺失：研究范围内任何数据源均无{name}",
    True,
)
TIER_GAP = Reason(
    "tier_gap",
    "data gap: {n} of the tier's categories have no facility in any source ({names})",
    "数据缺失：该生活圈有{n}类设施无任何数据（{names}）",
    True,
)
NO_RESIDENTS = Reason(
    "no_residents",
    "no residents to assess: residential land below {min_m2:g} m² or {min_pct:g} % of the unit, "
    "or no residential floor area",
    "无居住人口可评估：居住用地小于{min_m2:g}平方米或单元面积的{min_pct:g}%，或无居住建筑面积",
)
NO_RESIDENTIAL_LAND = Reason(
    "no_residential_land", "no residential land in the unit", "单元内无居住用地"
)
NO_POPULATION = Reason(
    "no_population",
    "no population data (buildings' population column or a population raster)",
    "无人口数据（建筑人口字段或人口栅格）",
    True,
)
NO_COMMUNITY_CODES = Reason(
    "no_community_codes",
    "the land-use code system ({lu_code_system}) cannot tell community-service land apart",
    "所用用地分类（{lu_code_system}）无法区分社区服务设施用地",
    True,
)
NO_CLASSIFIED_LAND = Reason(
    "no_classified_land", "no land with a land-use class in the unit", "单元内无已分类用地"
)
NO_RASTER_COVER = Reason(
    "no_raster_cover",
    "the land-cover raster does not cover the unit (nodata or outside)",
    "土地覆盖栅格未覆盖该单元",
    True,
)
NO_CLASS_RASTER = Reason(
    "no_class_raster",
    "the land-cover raster has no impervious classes (NDVI raster)",
    "土地覆盖栅格无不透水类别（NDVI栅格）",
    True,
)
NO_FLOOR_AREA = Reason("no_floor_area", "no buildings on the unit", "单元内无建筑")
NO_HOUSING = Reason("no_housing", "no residential buildings on the unit", "单元内无居住建筑")
NO_GREENWAY = Reason("no_greenway", "no greenway in the unit", "单元内无绿道")
NO_PARCEL_LIMITS = Reason(
    "no_parcel_limits", "no parcel with a height limit touches the unit", "无地块限高数据"
)
NO_CARBON_ENERGY = Reason(
    "no_carbon_energy",
    "no building floor area with an energy intensity on the unit",
    "单元内无可估算能耗的建筑面积",
)
NO_SINK = Reason(
    "no_sink",
    "no vegetation in the unit: no sink, the source–sink ratio is undefined",
    "单元内无植被碳汇，碳源碳汇比无定义",
)
CARBON_FACTOR = Reason("carbon_factor", "{why}", "{why_zh}", True)
NO_PLAN = Reason(
    "no_plan",
    "no plan: the reduction rate needs a scenario with carbon measures (ditan run --scenario plan.yaml, measures:)",
    "无规划方案：排放下降率需以含低碳措施的方案计算（ditan run --scenario plan.yaml，measures:）",
)
NO_PILOT_KIND = Reason(
    "no_pilot_kind",
    "the unit's pilot kind (new / existing / rural) is unknown, so is its baseline: set compliance.kind or "
    "inputs.units.kind_column",
    "单元试点类型（新建/既有/农村）未知，基准情景无法确定：请设置 compliance.kind 或 inputs.units.kind_column",
)
NO_BASELINE = Reason(
    "no_baseline",
    "no baseline emission: the unit has no floor area with an energy intensity (or no grid factor)",
    "无基准排放：单元内无可估算能耗的建筑面积（或无电网排放因子）",
)
OTHER = Reason("no_value", "no value for this unit", "该单元无数值")


def reasons_frame(rows: list[tuple[object, str, Reason]]) -> pd.DataFrame:
    """The long reasons table from (unit id, column, reason) triples."""
    if not rows:
        return pd.DataFrame(
            {c: pd.Series(dtype=bool if c == "data_gap" else object) for c in REASON_COLUMNS}
        )
    return pd.DataFrame(
        [(u, c, r.code, r.en, r.zh, r.data_gap) for u, c, r in rows], columns=REASON_COLUMNS
    )


def lookup(reasons: pd.DataFrame | None, units: pd.Index | np.ndarray, column: str) -> pd.DataFrame:
    """Reason rows of ``column`` for ``units`` (in that order; NaN where none is recorded)."""
    if reasons is None or reasons.empty:
        return pd.DataFrame(index=pd.Index(units), columns=REASON_COLUMNS[2:])
    sub = reasons[reasons["column"] == column].drop_duplicates("unit_id").set_index("unit_id")
    return sub[REASON_COLUMNS[2:]].reindex(pd.Index(units))
