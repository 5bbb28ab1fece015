"""The units layer of the interactive map: tooltip and popup of every indicator, and its colourings.

The units can be coloured by the chosen indicator and the key indicators present (quantile classes; emissions
in a yellow-to-red, solar potential in a yellow-to-brown palette), and by the binding result of a compliance
profile; a NaN shows its reason in the popup. A value with low and high bounds (the carbon inventory) is one
popup row, "central（low – high）".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.maps import legend as lg
from ditan.maps import style as st
from ditan.maps.geojson_layer import MISSING, _col, _const, _esc, _fmt, _geojson
from ditan.spatial.standards.registry import Indicator

UNITS_LAYER = "分析单元 Analysis units"
#: after the popup label of a value with low and high bounds (the carbon inventory's columns)
RANGE_NOTE = " · 中值（下限 – 上限） central (low – high)"
#: popup label of the unit's radar chart
CHART_LABEL = "达标雷达图 Radar: share of each target (dashed = 100 %)"


def _add_units(
    m: folium.Map,
    units: gpd.GeoDataFrame,
    indicators: Mapping[str, Indicator],
    color_by: str,
    keys: Sequence[str],
    compliance: pd.DataFrame | None,
    reasons: pd.DataFrame | None = None,
    *,
    charts: Sequence[str] | None = None,
) -> tuple[folium.GeoJson, dict]:
    """The units layer (tooltip: key indicators; popup: every indicator, a NaN with its reason) and the colouring schemes.

    ``charts``: per unit, markup shown in the popup under its name (the radar SVG of :mod:`ditan.maps.popup_chart`).
    """
    ids = [_esc(i) for i in units.index]
    props: dict[str, pd.Series | list] = {
        "uid": ids,
        "name": _col(units, "name") if "name" in units.columns else ids,
    }
    cols = [c for c in indicators if c in units.columns and c not in ("name", "unit_id")]
    # a value with low and high bounds (the carbon inventory) shows as one row: central (low – high)
    bounded = [c for c in cols if f"{c}_low" in units.columns and f"{c}_high" in units.columns]
    bounds = {f"{c}{s}" for c in bounded for s in ("_low", "_high")} - {color_by}
    cols = [c for c in cols if c not in bounds]
    if color_by not in cols:
        cols.insert(0, color_by)
    popup = {"uid": "单元编号 Unit id", "name": "单元名称 Unit name"}
    if charts is not None:
        props["chart"] = list(charts)
        popup["chart"] = CHART_LABEL
    why = _reason_text(reasons, units.index)
    for i, col in enumerate(cols):
        props[f"t{i}"] = _col(units, col, _fmt)
        if col in bounded:
            props[f"t{i}"] = _with_range(units, col, props[f"t{i}"])
        if col in why:
            text = why[col].reindex(units.index)
            props[f"t{i}"] = [
                f"{MISSING} 无法评估：{_esc(t)}" if isinstance(t, str) else v
                for v, t in zip(props[f"t{i}"], text, strict=True)
            ]
        popup[f"t{i}"] = (indicators[col].label if col in indicators else col) + (
            RANGE_NOTE if col in bounded else ""
        )
    numeric = [
        c
        for c in cols
        if pd.api.types.is_numeric_dtype(units[c]) and not pd.api.types.is_bool_dtype(units[c])
    ]
    chosen = [color_by] + [k for k in keys if k in numeric and k != color_by]
    schemes = []
    tooltip = {"name": popup["name"]}
    for j, col in enumerate(chosen):
        ind = indicators.get(col)
        values = pd.to_numeric(units[col], errors="coerce").to_numpy(dtype=float)
        nan = ~np.isfinite(values)
        explained = col in why and why[col].reindex(units.index[nan]).notna().all()
        scheme, props[f"k{j}"] = lg.indicator_scheme(
            values,
            lg.SCHEME_TITLES.get(col, "") + (ind.label if ind else col),
            ind.unit if ind else "",
            f"k{j}",
            palette=st.palette_of(col),
            nodata_label=st.NOT_ASSESSABLE_LABEL if nan.any() and explained else st.NODATA_LABEL,
        )
        schemes.append(scheme)
        tooltip[f"t{cols.index(col)}"] = popup[f"t{cols.index(col)}"]
    if compliance is not None and not compliance.empty:
        scheme, extra = lg.compliance_scheme(units.index.astype(str), compliance)
        schemes.append(scheme)
        props.update(extra)
        tooltip |= {
            "cb": "约束性 达标/未达标/无法评估 Binding pass/fail/n.a.",
            "cg": "引导性 Guiding pass/fail/n.a.",
            "cf": "未达标项 Failed rules",
        }
    first = schemes[0]

    def style(feature: dict) -> dict:
        c = feature["properties"]["k0"]
        return (
            dict(st.NODATA_STYLE)
            if c < 0
            else {**st.UNIT_STYLE, "fillColor": first["colors"][c], "className": ""}
        )

    hover = _const({"weight": 3, "color": "#000000"})
    layer = _geojson(
        m, units, props, style, tooltip, popup, name=UNITS_LAYER, highlight_function=hover
    )
    cfg = {
        "title": "单元着色 Colour units by",
        "schemes": schemes,
        "active": 0,
        "unit": {**st.UNIT_STYLE, "className": ""},
        "nodata": st.NODATA_STYLE,
    }
    return layer, cfg


def _with_range(units: gpd.GeoDataFrame, col: str, text: list[str]) -> list[str]:
    """'central（low – high）' where the central value and both bounds are numbers; the central text otherwise."""
    lo, hi = _col(units, f"{col}_low", _fmt), _col(units, f"{col}_high", _fmt)
    return [
        f"{t}（{a} – {b}）" if MISSING not in (t, a, b) else t
        for t, a, b in zip(text, lo, hi, strict=True)
    ]


def _reason_text(reasons: pd.DataFrame | None, units: pd.Index) -> dict[str, pd.Series]:
    """Column → the reason of each NaN, by unit ('中文 / English')."""
    if reasons is None or reasons.empty:
        return {}
    r = reasons[reasons["unit_id"].isin(units)].drop_duplicates(["unit_id", "column"])
    text = r["reason_zh"].astype(str) + " / " + r["reason_en"].astype(str)
    return {
        col: pd.Series(text[g.index].to_numpy(), index=g["unit_id"].to_numpy())
        for col, g in r.groupby("column", sort=False)
    }
