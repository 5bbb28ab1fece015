"""The carbon sheets of the map annex: 附图7 屋顶光伏潜力图 and 附图8 碳排放强度图 (the carbon inventory, 碳盘查).

Drawn like the other sheets (:mod:`ditan.maps.annex_sheets`), only when the run has a carbon inventory and buildings
(``AnnexLayers.skipped`` says why not). The roofs are coloured in fixed kWp classes (``style.PV_KWP_BREAKS``) so that
sheets compare; the units by carbon intensity in quantile classes of the study area. Every figure in the notes is the
central value with its range (the factors' low and high bounds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from ditan.maps import style as st
from ditan.maps.annex_sheets import AnnexLayers, _clip, _roads, _val

__all__ = ["CARBON_DRAW", "pv_class_labels"]


def _ranged(L: AnnexLayers, uid: str, col: str, unit: str, fmt: str = ",.0f") -> str:
    """'central unit（low – high）', or why there is no value (:func:`_val`)."""
    text = _val(L, uid, col, unit, fmt)
    lo, hi = (
        L.indicators.at[uid, f"{col}{s}"] if f"{col}{s}" in L.indicators.columns else np.nan
        for s in ("_low", "_high")
    )
    if text.startswith("—") or pd.isna(lo) or pd.isna(hi):
        return text
    return f"{text}（{lo:{fmt}} – {hi:{fmt}}）"


def pv_class_labels() -> list[str]:
    """Legend text of the kWp classes (style.PV_KWP_BREAKS): '< 20 kWp', '20–50 kWp', …, '≥ 300 kWp'."""
    b = st.PV_KWP_BREAKS
    return [
        f"< {hi:g} kWp" if i == 0 else f"≥ {lo:g} kWp" if np.isinf(hi) else f"{lo:g}–{hi:g} kWp"
        for i, (lo, hi) in enumerate(zip(b, b[1:], strict=False))
    ]


def _rooftop_pv(ax, L, uid, ext):
    """屋顶光伏潜力图: every building coloured by its installable kWp class; the unit's totals with their ranges."""
    roofs = _clip(L.roofs, ext)
    colours = st.class_colors(len(st.PV_KWP_BREAKS) - 1, st.SOLAR_SEQUENTIAL)
    cls = st.pv_class(roofs["pv_kwp"].to_numpy(dtype=float)) if len(roofs) else np.zeros(0)
    handles = []
    for k, (colour, label) in enumerate(zip(colours, pv_class_labels(), strict=True)):
        part = roofs[cls == k]
        if len(part):
            part.plot(ax=ax, color=colour, edgecolor="#555555", linewidth=0.2, zorder=6)
        handles.append(Patch(facecolor=colour, edgecolor="#555555", label=label))
    none = roofs[cls < 0]
    if len(none):
        none.plot(ax=ax, color=st.PV_NONE_COLOR, edgecolor="#bdbdbd", linewidth=0.2, zorder=5)
        handles.append(
            Patch(facecolor=st.PV_NONE_COLOR, edgecolor="#bdbdbd", label="单元外建筑（未计）")
        )
    notes = [
        f"屋顶光伏可装机容量（本单元）：{_ranged(L, uid, 'rooftop_pv_kwp', ' kWp')}",
        f"年发电量潜力：{_ranged(L, uid, 'rooftop_pv_mwh_per_year', ' MWh/a')}",
        f"可再生能源替代率（潜力）：{_ranged(L, uid, 'renewable_substitution_potential_pct', '%', '.1f')}",
        "括号内为因子范围（下限 – 上限）；建筑着色为每栋可装机容量中值",
        *([L.pv_method] if L.pv_method else []),
    ]
    return handles, notes


def _carbon(ax, L, uid, ext):
    """碳排放强度图: the study area's units coloured by CO₂ per m² of floor area; the unit's inventory in the notes."""
    col = "co2_per_floor_area_kg_per_m2"
    _roads(ax, _clip(L.roads, ext), alpha=0.3, scale=0.3, other=False)
    values = (
        pd.to_numeric(L.indicators[col], errors="coerce").reindex(L.units.index)
        if col in L.indicators.columns
        else pd.Series(np.nan, index=L.units.index)
    ).to_numpy(dtype=float)
    breaks = st.class_breaks(values, k=5, method="quantile")
    colours = st.class_colors(len(breaks) - 1, st.EMISSION_SEQUENTIAL)
    cls = st.classify(values, breaks)
    handles = []
    for k, colour in enumerate(colours if np.isfinite(values).any() else []):
        part = L.units[cls == k]
        if len(part):
            part.plot(ax=ax, color=colour, edgecolor="#555555", linewidth=0.5, alpha=0.85, zorder=2)
        lo, hi = breaks[k], breaks[k + 1]
        handles.append(
            Patch(facecolor=colour, edgecolor="#555555", label=f"{lo:.1f} – {hi:.1f} kgCO2/m²·a")
        )
    nan = L.units[cls < 0]
    if len(nan):
        nan.plot(
            ax=ax,
            facecolor=st.NODATA_COLOR,
            edgecolor="#737373",
            hatch="///",
            linewidth=0.5,
            zorder=2,
        )
        handles.append(
            Patch(facecolor=st.NODATA_COLOR, edgecolor="#737373", hatch="///", label="无法评估")
        )
    for other_id, v, p in zip(
        L.units.index, values, L.units.geometry.representative_point(), strict=True
    ):
        text = f"{other_id}\n{v:.0f}" if np.isfinite(v) else str(other_id)
        ax.text(p.x, p.y, text, ha="center", va="center", fontsize=5.5, color="#222222", zorder=9)
    notes = [
        f"单位建筑面积碳排放（本单元）：{_ranged(L, uid, col, ' kgCO2/m²·a', '.1f')}",
        f"建筑运行碳排放：{_ranged(L, uid, 'building_co2_t_per_year', ' tCO2/a')}",
        f"人均碳排放：{_ranged(L, uid, 'co2_per_capita_t', ' tCO2/人·a', '.2f')}",
        f"植被碳汇：{_ranged(L, uid, 'carbon_sink_t_per_year', ' tCO2/a', ',.1f')}",
        f"碳源碳汇比：{_ranged(L, uid, 'source_sink_ratio', '')}",
        "筛查级估算：建筑面积 × 能耗强度（GB/T 51161）× 电网/热力排放因子",
        "括号内为因子范围（下限 – 上限）",
        "交通、废弃物与行为无法由空间数据评估，未计入",
    ]
    return handles, notes


CARBON_DRAW = {"rooftop_pv": _rooftop_pv, "carbon": _carbon}
