"""The rows of parcel_check.csv (`ditan check-parcels`): columns, check groups, bindings and bilingual reasons."""

from __future__ import annotations

import numpy as np

from ditan.pipelines.jobs.parcel_verdict import RESULT
from ditan.spatial.standards.profiles import BINDING_ZH, Profile, Rule

GROUPS = {"plan": "规划指标 plan", "location": "区位 location", "unit": "所在单元 unit after"}
BINDING = {**{k: f"{v} {k}" for k, v in BINDING_ZH.items()}, "info": "参考 reported"}
COLUMNS = ["parcel_id", "parcel_name", "group", "item", "indicator", "unit_id", "measured", "unit", "before", "target",
           "result", "status", "binding", "counts", "reason", "source", "clause"]  # fmt: skip
KINDS = {
    "bus_stop": ("公交站", "bus stop"),
    "bike_rental": ("自行车租赁点", "bike rental"),
    "metro": ("地铁站", "metro"),
}
APPLICATION = ("低碳社区（近零碳排放社区）申报创建指标体系", "附件4 第11项 倡导居民低碳出行")
WORDS = {"within": ("在", " 范围内", "within"), "below": ("低于", "", "below"), "above": ("超出", "", "above"),
         ">=": ("≥", "", "≥"), "<=": ("≤", "", "≤"), ">": (">", "", ">"), "<": ("<", "", "<")}  # fmt: skip
NOT = {">=": "below", ">": "below", "<=": "above", "<": "above"}


def num(v: float) -> str:
    """A measured value as printed in a reason: '—' when not finite, thousands separated from 1000."""
    return "—" if not np.isfinite(v) else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def rule_reason(rule: Rule, zh: str, en: str, v: float, ok: bool, unit: str = "") -> str:
    """Bilingual reason: '容积率 3.6 超出 1.2–3 / FAR 3.6 above 1.2–3'."""
    u = f" {unit}" if unit and unit not in ("ratio", "count", "yes/no") else ""
    if rule.comparator == "present":
        return f"{zh} {num(v)}{'（有）' if ok else '（无）'} / {en} {num(v)} ({'present' if ok else 'none present'})"
    word = (
        ("within" if ok else "below" if v < (rule.target or 0) else "above")
        if rule.comparator == "range"
        else (rule.comparator if ok else NOT[rule.comparator])
    )
    target = rule.target_text() if rule.comparator == "range" else f"{rule.target:g}"
    a, b, e = WORDS[word]
    return f"{zh} {num(v)}{u} {a} {target}{u}{b} / {en} {num(v)}{u} {e} {target}{u}"


def rules_for(profile: Profile, kind: str, indicators: tuple[str, ...]) -> Profile:
    """The profile cut to the rules on ``indicators`` that apply to ``kind``."""
    rules = [
        r
        for r in profile.rules
        if r.indicator in indicators and (not r.applies_to or kind in r.applies_to)
    ]
    return profile.model_copy(update={"rules": rules, "levels": []})


def check_row(pid: str, name: str, group: str, item: str, status: str, reason: str, **kw) -> dict:
    """One row of parcel_check.csv; ``binding`` (default info) and ``counts`` (default: binding) among ``kw``."""
    binding = kw.pop("binding", "info")
    return {
        "parcel_id": pid,
        "parcel_name": name,
        "group": GROUPS[group],
        "item": item,
        "result": RESULT[status],
        "status": status,
        "binding": BINDING[binding],
        "counts": kw.pop("counts", binding == "binding"),
        "reason": reason,
        **kw,
    }
