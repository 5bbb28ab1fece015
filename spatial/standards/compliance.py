"""Check an indicator table against a programme profile: one row per unit × rule, then a per-unit summary.

Status per rule: 'pass' (达标), 'fail' (未达标) or 'not_assessable' (无法评估: the indicator is
non-spatial, the column is absent, or the unit's value is NaN). A NaN is never a fail: its reason
comes from the run's long *reasons* table (ditan.spatial.standards.reasons) when one is given, and the row
says whether it is a **data gap** (absent from the data: add a source) or a property of the unit
(no residents …). Comparisons allow a relative tolerance of 1e-9 so that a computed 99.99999999999 %
meets a 100 % target.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from ditan.spatial.errors import ConfigError, feature_list
from ditan.spatial.standards.profiles import BINDING_ZH, Profile, Rule, indicator_entry

__all__ = ["evaluate", "summarize"]

STATUS_ZH = {"pass": "达标", "fail": "未达标", "not_assessable": "无法评估"}
COLUMNS = [
    "unit_id", "name", "kind", "rule_id", "zh", "indicator", "indicator_zh", "indicator_en", "unit", "measured", "comparator",
    "target", "status", "status_zh", "reason", "reason_zh", "data_gap", "binding", "binding_zh", "item", "points", "points_max", "source", "clause",
    "unconfirmed", "note",
]  # fmt: skip
SUMMARY = [
    "binding_pass",
    "binding_fail",
    "binding_na",
    "binding_gap",  # of binding_na: not assessable because of a data gap
    "guiding_pass",
    "guiding_fail",
    "guiding_na",
    "guiding_gap",
    "points",
    "points_possible",
]
RTOL = 1e-9
# why a measured indicator can be NaN, by id prefix or suffix (first match wins)
_NAN_WHY = [
    ("lc_", "no residential floor area (or weight) in the unit, or no facility source"),
    ("_500m_", "no residential floor area (or weight) in the unit, or no station source"),
    ("industrial_residential", "no residential land in the unit"),
    ("green_coverage", "no vegetation raster or polygons"),
    ("permeable", "no land-cover class raster"),
    ("park_service", "no residential land in the unit"),
    ("public_service_incl", "the land-use code system cannot tell community-service land apart"),
    ("_count", "no station or facility source"),
    ("per_person", "no population"),
    ("per_10k_people", "no population"),
]


_NAN_WHY_ZH = {
    "no residential land in the unit": "单元内无居住用地",
    "the land-use code system cannot tell community-service land apart": "所用用地分类无法区分社区服务设施用地",
    "no station or facility source": "无站点或设施数据",
    "no population": "无人口数据",
}


def _reason_zh(
    rule: Rule, zh: str, status: str, measured: float, reason: str, given: object = None
) -> str:
    """The reason in Chinese: the rule's name, the value and the target, or why it cannot be judged (``given``: from the reasons table)."""
    if status == "not_assessable" and isinstance(given, str) and given:
        return f"{zh}：无法评估（{given}）"
    if status == "not_assessable":
        if reason.startswith("not assessable from spatial data"):
            return f"{zh}：空间数据无法评估（需调查或现场核查）"
        if reason.startswith("not measured"):
            return f"{zh}：无法评估（指标表无此列，未计算）"
        why = next((v for k, v in _NAN_WHY_ZH.items() if k in reason), "该单元无数值")
        return f"{zh}：无法评估（{why}）"
    value = _fmt(measured, rule.target, rule.target_max)
    if rule.comparator == "present":
        return f"{zh}：{value}（{'有' if status == 'pass' else '无'}）"
    verdict = "达标" if status == "pass" else "未达标"
    return f"{zh} {value}，目标 {rule.target_text()}，{verdict}"


def _nan_reason(indicator_id: str) -> str:
    for key, why in _NAN_WHY:
        if key in indicator_id:
            return f"no value: {why}"
    return "no value for this unit"


def _fmt(v: float, *targets: float | None) -> str:
    """Short text of a value, with digits enough not to print a failing 99.95 as the target 100."""
    s = ""
    for d in range(3, 13):
        s = f"{v:,.{d - 3}f}" if abs(v) >= 1000 else f"{v:.{d}g}"
        shown = float(s.replace(",", ""))
        if not any(
            t is not None and shown == t and abs(v - t) > RTOL * max(1.0, abs(t)) for t in targets
        ):
            break
    return s


def _unit_kinds(
    units: pd.Index, profile: Profile, kind: str | pd.Series | None, table: pd.DataFrame
) -> pd.Series:
    """Kind id of every unit; ConfigError naming the units whose kind is missing or unknown."""
    needs_kind = any(r.applies_to for r in profile.rules)
    if kind is None:
        if "kind" in table.columns:
            kind = pd.Series(table["kind"].to_numpy(), index=units)
        elif len(profile.kinds) == 1:
            kind = next(iter(profile.kinds))
        elif not needs_kind:
            return pd.Series([None] * len(units), index=units, dtype=object)
        else:
            raise ConfigError(
                f"profile '{profile.id}' has rules per pilot kind ({_kinds_text(profile)}): pass kind= (one kind, "
                "or a Series by unit id) or give the indicator table a 'kind' column"
            )
    raw = (
        kind.reindex(units)
        if isinstance(kind, pd.Series)
        else pd.Series([kind] * len(units), index=units, dtype=object)
    )
    ids = raw.map(lambda v: profile.kind_id(v) if pd.notna(v) else None)
    bad = ids.isna()
    if bad.any() and (needs_kind or profile.kinds):
        shown = [f"{u} ({raw[u]!r})" for u in units[bad.to_numpy()]]
        raise ConfigError(
            f"profile '{profile.id}': units with a missing or unknown kind: {feature_list(shown)}; "
            f"the profile's kinds are {_kinds_text(profile)}"
        )
    return ids


def _kinds_text(profile: Profile) -> str:
    return ", ".join(f"{k} {zh}" for k, zh in profile.kinds.items()) or "(none declared)"


def _judge(rule: Rule, v: np.ndarray) -> np.ndarray:
    """Pass mask of finite values ``v`` against the rule (NaN is handled by the caller)."""
    # Rule's validation gives every comparator but 'present' a target (and 'range' a target_max)
    t, t2 = cast(float, rule.target), cast(float, rule.target_max)
    tol = RTOL * max(1.0, abs(t or 0.0), abs(t2 or 0.0))
    c = rule.comparator
    if c == ">=":
        return v >= t - tol
    if c == "<=":
        return v <= t + tol
    if c == ">":
        return v > t + tol
    if c == "<":
        return v < t - tol
    if c == "range":
        return (v >= t - tol) & (v <= t2 + tol)
    return v > tol  # present: a count ≥ 1, a share > 0, or a yes (1)


def _reasons(rule: Rule, label: str, unit: str, v: np.ndarray, ok: np.ndarray) -> list[str]:
    u = f" {unit}" if unit and unit not in ("ratio", "count", "yes/no") else ""
    out = []
    for x, good in zip(v, ok, strict=True):
        val = f"{label} {_fmt(x, rule.target, rule.target_max)}{u}"
        if rule.comparator == "present":
            out.append(
                f"{label}: {_fmt(x, 0.0)} (present)"
                if good
                else f"{label}: {_fmt(x)} (none present)"
            )
        elif rule.comparator == "range":
            side = "within" if good else ("below" if x < rule.target else "above")
            out.append(f"{val} {side} {rule.target_text()}")
        else:
            neg = {">=": "<", "<=": ">", ">": "≤", "<": "≥"}[rule.comparator]
            sym = rule.target_text().split(" ")[0] if good else neg
            out.append(f"{val} {sym} {rule.target:g}")
    return out


def _given(reasons: pd.DataFrame | None, column: str, units: pd.Index) -> pd.DataFrame:
    """The reasons-table rows of ``column`` for ``units`` (reason_en, reason_zh, data_gap; NaN where none), unit ids matched as text."""
    cols = ["reason_en", "reason_zh", "data_gap"]
    if reasons is None or reasons.empty:
        return pd.DataFrame(index=range(len(units)), columns=cols)
    sub = reasons[reasons["column"] == column]
    sub = sub.assign(_u=sub["unit_id"].astype(str)).drop_duplicates("_u").set_index("_u")
    return sub[cols].reindex(units.astype(str)).reset_index(drop=True)


def _rule_rows(
    rule: Rule, table: pd.DataFrame, units: pd.Index, reasons: pd.DataFrame | None = None
) -> pd.DataFrame:
    ind = indicator_entry(rule.indicator, rule.zh)
    n = len(units)
    measured = np.full(n, np.nan)
    status = np.full(n, "not_assessable", dtype=object)
    gap = np.zeros(n, dtype=bool)
    given_zh = [None] * n
    if not ind.spatial:
        reason = [
            f"not assessable from spatial data (survey or site-visit indicator: {ind.zh})"
        ] * n
    elif rule.indicator not in table.columns:
        reason = [f"not measured: the indicator table has no column {rule.indicator}"] * n
    else:
        measured = (
            pd.to_numeric(table.loc[units, rule.indicator], errors="coerce")
            .astype(float)
            .to_numpy()
        )
        have = np.isfinite(measured)
        ok = np.zeros(n, dtype=bool)
        ok[have] = _judge(rule, measured[have])
        status[have] = np.where(ok[have], "pass", "fail")
        texts = np.array([_nan_reason(rule.indicator)] * n, dtype=object)
        given = _given(reasons, rule.indicator, units)
        known = (
            ~have & given["reason_en"].notna().to_numpy()
        )  # a NaN with its reason recorded by the run
        texts[known] = given["reason_en"].to_numpy()[known]
        given_zh = given["reason_zh"].where(pd.Series(known)).tolist()
        gap = known & given["data_gap"].fillna(False).astype(bool).to_numpy()
        label = (
            ind.en[:1].lower() + ind.en[1:] if ind.en[1:2].islower() else ind.en
        )  # keep 'EV …', 'FAR'
        texts[have] = _reasons(rule, label, ind.unit, measured[have], ok[have])
        reason = list(texts)
    reason_zh = [
        _reason_zh(rule, rule.zh, st, m, r, g)
        for st, m, r, g in zip(status, measured, reason, given_zh, strict=True)
    ]
    points = (
        np.where(status == "pass", rule.points, 0.0)
        if rule.points is not None
        else np.full(n, np.nan)
    )
    return pd.DataFrame(
        {
            "unit_id": units,
            "rule_id": rule.id,
            "zh": rule.zh,
            "indicator": rule.indicator,
            "indicator_zh": ind.zh,
            "indicator_en": ind.en,
            "unit": ind.unit,
            "measured": measured,
            "comparator": rule.comparator,
            "target": rule.target_text(),
            "status": status,
            "status_zh": [STATUS_ZH[s] for s in status],
            "reason": reason,
            "reason_zh": reason_zh,
            "data_gap": gap,
            "binding": rule.binding,
            "binding_zh": BINDING_ZH[rule.binding],
            "item": rule.item_id,
            "points": points.astype(float),
            "points_max": np.nan if rule.points is None else rule.points,
            "source": rule.source,
            "clause": rule.clause,
            "unconfirmed": rule.unconfirmed,
            "note": rule.note,
        }
    )


def evaluate(
    indicators: pd.DataFrame,
    profile: Profile,
    *,
    kind: str | pd.Series | None = None,
    reasons: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long table: one row per unit × rule that applies to the unit's kind (columns: COLUMNS).

    ``indicators`` is indexed by unit id (or has a ``unit_id`` column). ``kind`` is one kind id (or
    Chinese name) for every unit, or a Series of them by unit id; without it the table's ``kind``
    column is used, or the profile's only kind, or none when no rule depends on the kind.
    ``reasons`` is the run's long reasons table (ditan.spatial.standards.reasons.REASON_COLUMNS): a rule on
    a NaN value is not assessable with that reason (else a generic one) and ``data_gap`` from it.
    """
    table = indicators.set_index("unit_id") if "unit_id" in indicators.columns else indicators
    if table.index.has_duplicates:
        dup = table.index[table.index.duplicated()].unique()
        raise ConfigError(f"indicator table: duplicate unit ids {feature_list(list(dup))}")
    units = table.index
    kinds = _unit_kinds(units, profile, kind, table)
    parts = []
    for pos, rule in enumerate(profile.rules):
        applies = (
            kinds.isin(rule.applies_to).to_numpy()
            if rule.applies_to
            else np.ones(len(units), dtype=bool)
        )
        if applies.any():
            rows = _rule_rows(rule, table, units[applies], reasons)
            rows["kind"] = kinds.to_numpy()[applies]
            rows["_unit_pos"], rows["_rule_pos"] = np.flatnonzero(applies), pos
            parts.append(rows)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    long = pd.concat(parts, ignore_index=True).sort_values(
        ["_unit_pos", "_rule_pos"], kind="stable"
    )
    if "name" in table.columns:
        long["name"] = table["name"].reindex(long["unit_id"]).to_numpy()
    else:
        long["name"] = None
    return long[COLUMNS].reset_index(drop=True)


def summarize(long: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Per unit: pass / fail / not-assessable counts by binding, points, points possible and the level reached.

    ``points`` is Σ over scoring items of the max points among the item's passing rules;
    ``points_possible`` is Σ over the items of the max points among the item's assessable rules (an
    item with none adds nothing; NaN for both when the profile has no scoring rules). ``*_gap`` counts
    the not-assessable rules whose indicator is absent from the data (``data_gap``), a subset of ``*_na``. ``level`` is the last (highest) of the
    profile's levels whose ``min_points`` is reached and whose required rules all pass; a required
    rule that does not apply to the unit's kind is not required of it, one that is not assessable
    is not met.
    """
    out_cols = ["name", "kind", *SUMMARY, "level", "level_zh"]
    if long.empty:
        return pd.DataFrame(columns=out_cols).rename_axis("unit_id")
    order = pd.unique(long["unit_id"])
    g = long.assign(n=1).pivot_table(
        index="unit_id", columns=["binding", "status"], values="n", aggfunc="sum", fill_value=0
    )
    out = pd.DataFrame(index=pd.Index(order, name="unit_id"))
    first = long.drop_duplicates("unit_id").set_index("unit_id")
    out["name"], out["kind"] = first["name"].reindex(order), first["kind"].reindex(order)
    gap = (
        long["data_gap"].fillna(False).astype(bool)
        if "data_gap" in long.columns
        else pd.Series(False, index=long.index)
    )
    gaps = (
        (gap & (long["status"] == "not_assessable"))
        .groupby([long["unit_id"], long["binding"]], sort=False)
        .sum()
    )
    for b in ("binding", "guiding"):
        for s, short in (("pass", "pass"), ("fail", "fail"), ("not_assessable", "na")):
            col = g[(b, s)] if (b, s) in g.columns else pd.Series(0, index=g.index)
            out[f"{b}_{short}"] = col.reindex(order).fillna(0).astype(int)
        mine = (
            gaps.xs(b, level="binding")
            if b in gaps.index.get_level_values("binding")
            else pd.Series(dtype=int)
        )
        out[f"{b}_gap"] = mine.reindex(order).fillna(0).astype(int)
    scoring = long[long["item"].notna()]
    if scoring.empty:
        out["points"] = out["points_possible"] = np.nan
    else:
        ok = scoring["status"] != "not_assessable"
        items = scoring.assign(best=scoring["points_max"].where(ok, 0.0)).groupby(
            ["unit_id", "item"], sort=False
        )
        per_item = items.agg(got=("points", "max"), best=("best", "max"))
        out["points"] = per_item["got"].groupby(level="unit_id").sum().reindex(order).fillna(0.0)
        out["points_possible"] = (
            per_item["best"].groupby(level="unit_id").sum().reindex(order).fillna(0.0)
        )
    status = {
        u: dict(zip(r["rule_id"], r["status"], strict=True))
        for u, r in long.groupby("unit_id", sort=False)
    }
    level = [_level(status[u], profile, out.at[u, "points"]) for u in order]
    zh = {lv.id: lv.zh for lv in profile.levels}
    out["level"] = pd.Series(level, index=out.index, dtype=object)  # None where no level is reached
    out["level_zh"] = pd.Series(
        [zh.get(v) if v else None for v in level], index=out.index, dtype=object
    )
    return out[out_cols]


def _level(status: dict[str, str], profile: Profile, points: float) -> str | None:
    reached = None
    for lv in profile.levels:
        if lv.min_points is not None and not (
            points >= lv.min_points - RTOL * max(1.0, abs(lv.min_points))
        ):
            continue
        if all(status[r] == "pass" for r in lv.requires if r in status):
            reached = lv.id
    return reached
