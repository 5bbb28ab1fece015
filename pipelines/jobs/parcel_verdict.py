"""The verdict of `ditan check-parcels` (土地出让前指标核查): which checks decide, and the count of the rest.

Only the **binding** checks that count decide a parcel (``counts`` in parcel_check.csv): binding plan and location
checks, and binding unit checks unless the unit was already short before and the parcel does not worsen it. The
verdict is *fail* when a deciding check fails, else *not assessable* when a deciding check cannot be assessed, else
*pass*. Every other check (guiding, reported, already short) is counted apart; a rule whose target is not set for the
parcel's land-use class (profile ``applies_to_classes``) is *not applicable* (不适用) and not counted at all.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from ditan.spatial.landuse.classes import LANDUSE_CLASSES
from ditan.spatial.standards.profiles import Rule

RESULT = {
    "pass": "达标 pass",
    "fail": "未达标 fail",
    "not_assessable": "无法评估 not assessable",
    "not_applicable": "不适用 not applicable",
}


def class_text(classes: list[str] | None) -> tuple[str, str]:
    """(Chinese, English) names of land-use classes, e.g. ('居住用地', 'residential')."""
    if not classes:
        return "无（片区整体指标）", "none (an area-wide figure)"
    zh = "、".join(LANDUSE_CLASSES[c][0] for c in classes)
    return zh, ", ".join(LANDUSE_CLASSES[c][1].lower() for c in classes)


def not_applicable_reason(rule: Rule, lu_class: str) -> str:
    """Why a rule is not applied to a parcel of ``lu_class`` (bilingual)."""
    zh, en = class_text(rule.applies_to_classes)
    own_zh, own_en = LANDUSE_CLASSES.get(lu_class, (lu_class, lu_class))
    return (
        f"不适用：{rule.zh}的目标适用于{zh}地块，本地块为{own_zh} / not applicable: the target is set for {en} parcels, "
        f"this parcel is {own_en.lower()}"
    )


def verdict_text(
    status: str, deciding: pd.DataFrame, rest: pd.DataFrame, n_not_applicable: int
) -> str:
    """'达标 pass: 约束性检查 3/3 达标；其余 13 项中 2 项未达标 / binding checks 3/3 pass; other checks: 2 of 13 fail'."""
    bn, bp = len(deciding), int((deciding["status"] == "pass").sum())
    bf, bna = (
        int((deciding["status"] == "fail").sum()),
        int((deciding["status"] == "not_assessable").sum()),
    )
    on, of, ona = (
        len(rest),
        int((rest["status"] == "fail").sum()),
        int((rest["status"] == "not_assessable").sum()),
    )
    zh = (
        f"约束性检查 {bp}/{bn} 达标"
        + (f"，{bf} 项未达标" if bf else "")
        + (f"，{bna} 项无法评估" if bna else "")
    )
    en = (
        f"binding checks {bp}/{bn} pass"
        + (f", {bf} fail" if bf else "")
        + (f", {bna} not assessable" if bna else "")
    )
    zh += f"；其余 {on} 项中 {of} 项未达标" + (f"、{ona} 项无法评估" if ona else "")
    en += f"; other checks: {of} of {on} fail" + (f", {ona} not assessable" if ona else "")
    if n_not_applicable:
        zh += f"；{n_not_applicable} 项不适用"
        en += f"; {n_not_applicable} not applicable"
    return f"{RESULT[status]}: {zh} / {en}"


def summarize(checks: pd.DataFrame, p: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per parcel: the verdict (decided by the binding checks that count), counts and the main reasons."""
    out = []
    for _, r in p.iterrows():
        c = checks[
            (checks["parcel_id"] == r["parcel_id"]) & (checks["target"] != "—")
        ]  # reported values without a target not counted
        na_rules = c[c["status"] == "not_applicable"]
        c = c[c["status"] != "not_applicable"]
        counts = c["counts"].astype(bool)
        deciding, rest = c[counts], c[~counts]
        bad = deciding[deciding["status"] == "fail"]
        open_ = deciding[deciding["status"] == "not_assessable"]
        other = rest[rest["status"] == "fail"]
        na = c[c["status"] == "not_assessable"]
        reasons = [f"{i}: {w}" for i, w in zip(bad["item"], bad["reason"], strict=True)]
        reasons += [
            f"[无法评估 n/a] {i}: {w}" for i, w in zip(open_["item"], open_["reason"], strict=True)
        ]
        reasons += [f"({i}: {w})" for i, w in zip(other["item"], other["reason"], strict=True)][
            : max(0, 5 - len(reasons))
        ]
        reasons += [
            f"[无法评估 n/a] {i}" for i in rest.loc[rest["status"] == "not_assessable", "item"]
        ][: max(0, 6 - len(reasons))]
        status = "fail" if len(bad) else "not_assessable" if len(open_) else "pass"
        out.append(
            {
                "parcel_id": r["parcel_id"],
                "parcel_name": r["name"],
                "code": r["tag"],
                "lu_class": r["lu_class"],
                "area_m2": r["area_m2"],
                "far_plan": r["far_plan"],
                "units": ",".join(sorted(set(c["unit_id"].dropna().astype(str)))),
                "result": RESULT[status],
                "status": status,
                "verdict": verdict_text(status, deciding, rest, len(na_rules)),
                "binding_checks": len(deciding),
                "binding_pass": int((deciding["status"] == "pass").sum()),
                "binding_fail": len(bad),
                "binding_not_assessable": len(open_),
                "other_checks": len(rest),
                "other_fail": len(other),
                "n_checks": len(c),
                "n_pass": int((c["status"] == "pass").sum()),
                "n_fail": int((c["status"] == "fail").sum()),
                "n_not_assessable": len(na),
                "n_not_applicable": len(na_rules),
                "main_reasons": " | ".join(reasons) or "全部达标 / all checks pass",
            }
        )
    return pd.DataFrame(out)
