"""`ditan check-parcels`, 规划指标 plan checks: each parcel's plan against the profile.

**规划指标 plan**: the profile's rules (for ``land_sale.kind``) on an indicator a parcel plan carries —
far_ratio ↔ the planned FAR (or floor area ÷ parcel area), green_space_ratio_pct ↔ the planned green
ratio, max_floors ↔ height limit ÷ storey height — plus "plan complete": a parcel without FAR or floor
area, or with a missing or unknown land-use code, fails (binding). A missing green ratio or height limit
makes its rule *not assessable* (it does not fail the parcel). A rule applies by the parcel's land-use
class (profile ``applies_to_classes``: the community FAR range 1.2–3 binds a residential parcel, not a
school): for another class it is *not applicable* (不适用) and not counted.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.pipelines.jobs.parcel_rows import (
    check_row,
    rule_reason,
    rules_for,
)
from ditan.pipelines.jobs.parcel_verdict import not_applicable_reason
from ditan.spatial.standards.compliance import evaluate
from ditan.spatial.standards.profiles import Profile, indicator_entry

PLAN_INDICATORS = ("far_ratio", "green_space_ratio_pct", "max_floors")


def plan_checks(p: gpd.GeoDataFrame, profile: Profile, kind: str, code_system: str) -> list[dict]:
    """规划指标: completeness (binding) and the profile's rules on the planned FAR, green ratio and floors."""
    rows = []
    sub = rules_for(profile, kind, PLAN_INDICATORS)
    table = pd.DataFrame(
        {
            "far_ratio": p["far_plan"].to_numpy(),
            "green_space_ratio_pct": p["green_ratio_pct"].to_numpy(),
            "max_floors": p["floors_plan"].to_numpy(),
        },
        index=p["parcel_id"].to_numpy(),
    )
    long = evaluate(table, sub, kind=kind) if sub.rules else pd.DataFrame(columns=["unit_id"])
    missing = {
        "far_ratio": ("规划未给容积率或建筑面积", "the plan gives no FAR or floor area"),
        "green_space_ratio_pct": ("规划未给绿地率", "the plan gives no green ratio"),
        "max_floors": ("规划未给限高", "the plan gives no height limit"),
    }
    for _, r in p.iterrows():
        pid, name, lu_class = (
            r["parcel_id"],
            r["name"],
            r["lu_class"] if isinstance(r["lu_class"], str) else None,
        )
        gaps = []
        if not np.isfinite(r["floor_area_plan_m2"]):
            gaps.append("缺容积率或建筑面积 / no FAR or floor area")
        if pd.isna(r["tag"]) or str(r["tag"]).strip() == "":
            gaps.append("无用地代码 / no land-use code")
        elif r["lu_class"] is None or pd.isna(r["lu_class"]):
            gaps.append(
                f"用地代码 '{r['tag']}' 无法识别 / unknown {code_system} land-use code '{r['tag']}'"
            )
        soft = [
            zh
            for c, zh in (
                ("green_ratio_pct", "绿地率 green ratio"),
                ("height_limit_m", "限高 height limit"),
            )
            if pd.isna(r[c])
        ]
        ok_text = "规划条件完整 / plan complete" + (
            f"（未给 not given: {', '.join(soft)}）" if soft else ""
        )
        rows.append(
            check_row(
                pid,
                name,
                "plan",
                "规划条件完整 Plan complete",
                "fail" if gaps else "pass",
                "; ".join(gaps) or ok_text,
                binding="binding",
                indicator="plan_complete",
                target="用地代码 + 容积率/建筑面积 code + FAR/floor area",
                source="ditan",
                clause="出让条件 (land-sale conditions)",
            )
        )
        for _, e in long[long["unit_id"] == pid].iterrows():
            rule = sub.rule(e["rule_id"])
            ind = indicator_entry(rule.indicator, rule.zh)
            v, status = float(e["measured"]), e["status"]
            reason = (
                rule_reason(rule, rule.zh, ind.en, v, status == "pass", ind.unit)
                if np.isfinite(v)
                else " / ".join(missing[rule.indicator])
            )
            if (
                rule.applies_to_classes is not None and lu_class is None
            ):  # the rule depends on a class the plan does not give
                status, reason = (
                    "not_assessable",
                    "用地类别未知，无法判断是否适用 / land-use class unknown: cannot tell whether the rule applies",
                )
            elif lu_class is not None and not rule.applies_to_class(lu_class):
                status, reason = "not_applicable", not_applicable_reason(rule, lu_class)
            rows.append(
                check_row(
                    pid,
                    name,
                    "plan",
                    f"{rule.zh} {ind.en}",
                    status,
                    reason,
                    binding=rule.binding,
                    indicator=rule.indicator,
                    measured=v,
                    unit=ind.unit,
                    target=rule.target_text(),
                    source=rule.source,
                    clause=rule.clause,
                    counts=rule.binding == "binding" and status != "not_applicable",
                )
            )
    return rows
