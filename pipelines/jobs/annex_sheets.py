"""Which of a unit's annex sheets can be drawn, and what the chart sheets read.

- The carbon sheets (7 屋顶光伏潜力图, 8 碳排放强度图) need the carbon inventory and the building footprints.
- The 指标达标图 (9) needs a compliance profile (``compliance.profile``): the run's indicators are checked
  against it here as ``ditan run`` checks them (the same rules, unit kinds and reasons).

A sheet that cannot be drawn is skipped for every unit, with the reason ('中文 / English') in annex.json.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from ditan.pipelines.compute.indicators import RunResult
from ditan.pipelines.config.schema import Config
from ditan.spatial.standards.compliance import evaluate
from ditan.spatial.standards.profiles import load_profile
from ditan.spatial.study_area.model import StudyArea

__all__ = ["CARBON_SHEETS", "carbon_sheets", "targets_checks"]

CARBON_SHEETS = ("rooftop_pv", "carbon")


def carbon_sheets(
    sa: StudyArea, res: RunResult
) -> tuple[gpd.GeoDataFrame | None, str, dict[str, str]]:
    """The roofs with their installable kWp, the note on the method, and the carbon sheets skipped with the reason.

    The 屋顶光伏潜力图 and 碳排放强度图 need the carbon inventory (``carbon.enabled``) and the building footprints.
    """
    why = ""
    if res.carbon is None or res.carbon_factors is None:
        why = "碳盘查未启用（carbon.enabled: false） / no carbon inventory (carbon.enabled: false)"
    elif "buildings" in sa.absent or sa.buildings.empty or res.carbon.roofs.empty:
        en = sa.absent.get("buildings", "the building layer has no footprint")
        why = f"无建筑数据，屋顶面积与建筑面积未知 / no buildings: {en}"
    if why:
        return None, "", dict.fromkeys(CARBON_SHEETS, why)
    f = res.carbon_factors
    roofs = sa.buildings[["geometry"]].join(res.carbon.roofs, how="inner")
    share = f.install_share
    ghi = (
        f"× 年水平面总辐照量 {f.ghi_kwh_per_m2.value:,.0f} kWh/m² × 系统效率 {f.performance_ratio.value:g}（GB 50797）"
        if f.ghi_kwh_per_m2 is not None
        else "（无当地辐照量：年发电量无法估算）"
    )
    method = "\n".join(
        (
            "潜力估算，非已装机：建筑轮廓屋顶面积（重叠只计一次）× 可安装比例 × "
            f"{f.kwp_per_m2.value:g} kWp/m²",
            f"可安装比例（整县屋顶分布式光伏试点）：党政机关 {share['government']:.0%}、"
            f"学校医院等公共建筑 {share['school']:.0%}、工商业 {share['commercial']:.0%}、"
            f"居民 {share['residential']:.0%}",
            f"年发电量 = 装机容量 {ghi}",
        )
    )
    return roofs, method, {}


def targets_checks(
    sa: StudyArea, res: RunResult, cfg: Config, units: list[str] | None = None
) -> tuple[pd.DataFrame | None, dict, str, dict[str, str]]:
    """Compliance rows of ``units`` (default: all), the rules by id, the profile's name, the sheet skipped and why."""
    profile_id = cfg.compliance.profile
    if not profile_id:
        why = (
            "未设置达标核查标准（compliance.profile） / no compliance profile (compliance.profile)"
        )
        return None, {}, "", {"targets": why}
    profile = load_profile(profile_id)
    kind = sa.units["kind"] if "kind" in sa.units else cfg.compliance.kind
    table = res.indicators
    if units is not None:  # only the units drawn: a city's annex is of a few of them
        table = table[table.index.astype(str).isin([str(u) for u in units])]
    checks = evaluate(table, profile, kind=kind, reasons=res.reasons)
    return checks, {r.id: r for r in profile.rules}, f"{profile.zh}", {}
