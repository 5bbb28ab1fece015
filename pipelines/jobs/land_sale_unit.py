"""`ditan check-parcels`, 所在单元 unit checks: the unit(s) a parcel covers, before and after it is built.

**所在单元 unit after**: the unit(s) the parcel covers are recomputed with compute() with the parcel built
as planned (its land takes its planned class and its floor area replaces the buildings on it), and the
profile's rules on FAR, land-use shares and green-space ratio are evaluated before and after. A unit rule
failing after counts against the parcel only if the parcel causes or worsens the shortfall.
"""

from __future__ import annotations

import dataclasses
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.params import ComputeParams
from ditan.pipelines.jobs.parcel_rows import (
    check_row,
    num,
    rule_reason,
    rules_for,
)
from ditan.pipelines.jobs.parcel_verdict import not_applicable_reason
from ditan.spatial.standards.compliance import RTOL, evaluate
from ditan.spatial.standards.profiles import Profile, Rule, indicator_entry
from ditan.spatial.study_area.model import StudyArea

UNIT_INDICATORS = ("far_ratio", "public_service_pct", "public_service_incl_community_pct", "industrial_residential_ratio",
                   "green_space_ratio_pct")  # fmt: skip


def _restricted(sa: StudyArea, units: gpd.GeoDataFrame) -> StudyArea:
    """A copy of the study area with only ``units`` and the features near them."""
    near = shapely.box(*units.total_bounds).buffer(200.0)

    def keep(g):
        return None if g is None else g[g.intersects(near)]

    return dataclasses.replace(
        sa,
        units=units,
        roads=keep(sa.roads),
        buildings=keep(sa.buildings),
        landuse=keep(sa.landuse),
        vegetation=keep(sa.vegetation),
        facilities=keep(sa.facilities),
        stations=keep(sa.stations),
        amenities=keep(sa.amenities),
        parcels=keep(sa.parcels),
    )


def with_parcel(sa: StudyArea, parcel: pd.Series) -> StudyArea:
    """The study area with ``parcel`` built as planned: its land takes its class and its floor area replaces what stands there."""
    geom = parcel.geometry
    lu = sa.landuse.copy()
    lu["geometry"] = shapely.difference(lu.geometry.to_numpy(), geom)
    lu = lu[~lu.geometry.is_empty]
    new = {
        "lu_class": parcel["lu_class"],
        "tag": parcel["tag"],
        "name": parcel["name"],
        "geometry": geom,
    }
    lu = gpd.GeoDataFrame(
        pd.concat([lu, gpd.GeoDataFrame([new], crs=sa.crs)], ignore_index=True), crs=sa.crs
    )
    cols = [
        "parcel_id",
        "tag",
        "code",
        "lu_class",
        "name",
        "floor_area_m2",
        "far",
        "height_limit_m",
        "green_ratio_pct",
        "geometry",
    ]
    old = (
        sa.parcels[cols].copy()
        if sa.parcels is not None
        else gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=sa.crs)
    )
    if len(old):
        before = old.geometry.area.to_numpy()
        old["geometry"] = shapely.difference(old.geometry.to_numpy(), geom)
        old["floor_area_m2"] = (
            old["floor_area_m2"].to_numpy(dtype=float) * old.geometry.area.to_numpy() / before
        )
        old = old[~old.geometry.is_empty]
    row = {
        **{c: parcel.get(c) for c in cols},
        "floor_area_m2": parcel["floor_area_plan_m2"],
        "geometry": geom,
    }
    parts = [x for x in (old, gpd.GeoDataFrame([row], crs=sa.crs)) if len(x)]
    pa = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=sa.crs)
    for c in ("floor_area_m2", "far", "height_limit_m", "green_ratio_pct"):
        pa[c] = pd.to_numeric(pa[c], errors="coerce").astype(float)
    return dataclasses.replace(sa, landuse=lu, parcels=pa)


def _gap(rule: Rule, v: float) -> float:
    """How far ``v`` lies outside the rule's target (0 inside)."""
    t, t2 = rule.target or 0.0, rule.target_max
    return {
        "range": max(t - v, v - (t2 or t), 0.0),
        ">=": max(t - v, 0.0),
        ">": max(t - v, 0.0),
        "<=": max(v - t, 0.0),
        "<": max(v - t, 0.0),
    }.get(rule.comparator, 0.0)


def unit_checks(
    p: gpd.GeoDataFrame, sa: StudyArea, params: ComputeParams, profile: Profile, kind: str
) -> list[dict]:
    """所在单元: the profile's unit rules on FAR, land use and green space, before and after each parcel is built."""
    rows, sub = [], rules_for(profile, kind, UNIT_INDICATORS)
    for _, r in p.iterrows():
        pid, name = r["parcel_id"], r["name"]
        touched = sa.units[
            shapely.area(shapely.intersection(sa.units.geometry.to_numpy(), r.geometry)) > 1.0
        ]
        complete = np.isfinite(r["floor_area_plan_m2"]) and pd.notna(r["lu_class"])
        if touched.empty or not complete or not sub.rules:
            why = (
                "地块不在任何单元内 / the parcel lies in no unit"
                if touched.empty
                else "规划条件不完整，无法推算 / plan incomplete: "
                "the unit after cannot be worked out"
                if not complete
                else "配置的规划无单元规则 / the profile has no unit rule on these"
            )
            rows.append(
                check_row(
                    pid,
                    name,
                    "unit",
                    "单元指标 Unit indicators",
                    "not_assessable",
                    why,
                    binding="info",
                )
            )
            continue
        part = _restricted(sa, touched)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res_b, res_a = compute(part, params), compute(with_parcel(part, r), params)
        before, after = res_b.indicators, res_a.indicators
        lb = evaluate(before, sub, kind=kind, reasons=getattr(res_b, "reasons", None))
        la = evaluate(after, sub, kind=kind, reasons=getattr(res_a, "reasons", None))
        for (_, b), (_, a) in zip(lb.iterrows(), la.iterrows(), strict=True):
            rule = sub.rule(a["rule_id"])
            ind = indicator_entry(rule.indicator, rule.zh)
            vb, va = float(b["measured"]), float(a["measured"])
            if a["status"] == "not_assessable":
                why = f"{a['reason_zh']} / {a['reason']}"
                worse = False
            else:
                why = rule_reason(
                    rule,
                    f"单元 {a['unit_id']} {rule.zh}",
                    f"unit {a['unit_id']} {ind.en}",
                    va,
                    a["status"] == "pass",
                    ind.unit,
                )
                why += f"（出让前 before {num(vb)}）"
                worse = a["status"] == "fail" and (
                    b["status"] != "fail" or _gap(rule, va) > _gap(rule, vb) + RTOL
                )
                why += (
                    "；地块造成或加剧未达标 / the parcel causes or worsens this"
                    if worse
                    else (
                        "；出让前已未达标，地块未加剧 / already short before; the parcel does not worsen it"
                        if a["status"] == "fail"
                        else ""
                    )
                )
            held = not isinstance(r["lu_class"], str) or rule.applies_to_class(
                r["lu_class"]
            )  # a school is not held to the FAR range
            if not held:
                why += f"；{not_applicable_reason(rule, r['lu_class']).replace('不适用：', '不计入判定：').replace('not applicable:', 'not counted:')}"
            decides = (
                held and rule.binding == "binding" and (a["status"] != "fail" or worse)
            )  # short before and not worsened: not the parcel's
            rows.append(
                check_row(
                    pid,
                    name,
                    "unit",
                    f"{rule.zh} {ind.en}",
                    a["status"],
                    why,
                    binding=rule.binding,
                    counts=decides,
                    indicator=rule.indicator,
                    unit_id=a["unit_id"],
                    measured=va,
                    before=vb,
                    unit=ind.unit,
                    target=rule.target_text(),
                    source=rule.source,
                    clause=rule.clause,
                )
            )
        ruled = {x.indicator for x in sub.rules}
        for ind_id in dict.fromkeys(
            [f"lu_{r['lu_class']}_pct", *(i for i in UNIT_INDICATORS if i not in ruled)]
        ):
            ind = indicator_entry(ind_id)
            for uid in after.index:
                vb, va = float(before.at[uid, ind_id]), float(after.at[uid, ind_id])
                rows.append(
                    check_row(
                        pid,
                        name,
                        "unit",
                        f"{ind.zh} {ind.en}（无目标 no target）",
                        "pass" if np.isfinite(va) else "not_assessable",
                        f"单元 unit {uid}: {num(vb)} → {num(va)}"
                        f"{' ' + ind.unit if ind.unit == '%' else ''}",
                        indicator=ind_id,
                        unit_id=uid,
                        measured=va,
                        before=vb,
                        unit=ind.unit,
                        target="—",
                        source="ditan",
                        clause="—",
                    )
                )
    return rows
