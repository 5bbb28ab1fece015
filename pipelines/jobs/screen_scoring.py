"""`ditan screen`, scoring (试点遴选): score, rank and shortlist candidate units against a programme profile.

Every unit of the config is a candidate, except, for a profile that ``needs_residents``, a unit whose indicator
``has_residents`` is False: it is listed apart ("not assessed: no residents"), never ranked. A candidate's indicators are
checked against the profile (:func:`ditan.spatial.standards.compliance.evaluate`; a NaN is not assessable, never a fail) and
it is scored on its **assessable** rules only, so it is neither rewarded nor penalised for rules it cannot be assessed
on; "rules assessed n/N" says on how many of the N rules that apply to it the score rests. Methods:

* ``rules``: score = 100 × (2·B_met + G_met) / (2·B_assessable + G_assessable), over the binding (B) and guiding (G)
  rules that apply to the candidate's kind and are assessable (a binding rule counts double); none assessable: no score.
* ``points``: score = 100 × points / points possible: the profile's points (Σ over scoring items of the max points among
  the item's passing rules) out of the max points of the items' assessable rules; none assessable: no score.
* ``weights``: score = 100 × Σ w_i·s_i / Σ w_i over the weighted indicators the candidate has a value for, with s_i in [0, 1]:

  - an indicator with a profile rule (the first one for it that applies to the candidate's kind): s = 1 when the rule
    is met; else s = 1 − d / d_max, d the candidate's shortfall (≥ / >: target − value; ≤ / <: value − target; range:
    the distance to the nearer bound; present: 1) and d_max the largest shortfall among the failing candidates of
    that rule, i.e. the fraction of the way from the worst candidate (s = 0) to the target; s = 0 when d_max = 0;
  - an indicator without a rule: min–max scaled across the candidates, s = (v − min) / (max − min) with direction
    higher (the default), (max − v) / (max − min) with lower; s = 1 for every candidate when max = min;
  - a missing value (NaN, no column, or a rule not assessable from spatial data) adds neither score nor weight; no
    weighted indicator with a value: no score.

Ranking: score (highest first; no score last), then fewer binding rules failed, then more rules assessed, then unit id.
Shortlist: the first
``top`` ranked candidates that have a score and, with ``min_binding_pct``, meet at least that share of their assessable
binding rules (a candidate with no assessable binding rule does not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ditan.spatial.errors import ConfigError
from ditan.spatial.standards.compliance import RTOL, _fmt, evaluate, summarize
from ditan.spatial.standards.profiles import Profile, Rule

SEP = "；"


NO_UNIT = ("", "ratio", "count", "yes/no")


#: column → (Chinese, English) header of screening.csv / screening.xlsx
HEADERS: dict[str, tuple[str, str]] = {
    "rank": ("排名", "Rank"), "unit_id": ("单元编号", "Unit id"), "name": ("单元名称", "Name"), "kind": ("试点类型", "Pilot kind"),
    "score": ("得分", "Score"), "rules_assessed": ("规则可评估", "Rules assessed"), "method": ("评分方法", "Method"), "points": ("积分", "Points"),
    "points_possible": ("可评估满分", "Points possible"), "binding_met": ("约束性达标", "Binding met"),
    "binding_assessable": ("约束性可评估", "Binding assessable"), "binding_met_pct": ("约束性达标率", "Binding met (%)"),
    "guiding_met": ("引导性达标", "Guiding met"), "guiding_assessable": ("引导性可评估", "Guiding assessable"),
    "level": ("可达等级", "Level"), "level_zh": ("等级名称", "Level name"), "shortlisted": ("入围", "Shortlisted"),
    "not_ranked": ("未参与排序", "Not ranked"),
    "reasons_met": ("达标项", "Rules met"), "reasons_missed": ("未达标项", "Rules missed"),
    "not_assessable": ("无法评估项", "Not assessable"),
}  # fmt: skip


NO_RESIDENTS = "无居住人口，未参与排序 not assessed: no residents"


@dataclass
class Screening:
    table: pd.DataFrame  # one row per candidate in rank order, columns HEADERS
    long: (
        pd.DataFrame
    )  # the compliance long table (ditan.spatial.standards.compliance.COLUMNS), every unit
    profile: Profile
    method: str
    top: int
    min_binding_pct: float | None
    apart: pd.DataFrame | None = (
        None  # units listed apart, not ranked (no residents): columns HEADERS, rank and score empty
    )

    def all_rows(self) -> pd.DataFrame:
        """The ranked candidates, then the units listed apart (rank empty)."""
        if self.apart is None or self.apart.empty:
            return self.table
        return pd.concat([self.table.astype({"rank": object}), self.apart], ignore_index=True)


def default_method(profile: Profile) -> str:
    """'points' when the profile scores items, else 'rules'."""
    return "points" if any(r.points is not None for r in profile.rules) else "rules"


def reason_zh(rule: Rule, unit: str, value: float, ok: bool) -> str:
    """Chinese reason of one measured rule, e.g. '路网密度 4.5 km/km² ≥ 3 km/km²' or '社区绿化覆盖率 3.64 % < 5 %'."""
    u = "" if unit in NO_UNIT else f" {unit}"
    x = _fmt(value, rule.target, rule.target_max)
    c, t, t2 = rule.comparator, rule.target, rule.target_max
    if c == "present":
        return (
            f"{rule.zh} {'有' if ok else '无'}"
            if unit == "yes/no"
            else f"{rule.zh} {x}{u} ({'有' if ok else '无'})"
        )
    if c == "range":
        if ok:
            return f"{rule.zh} {x}{u} ∈ {t:g}–{t2:g}{u}"
        return f"{rule.zh} {x}{u} < {t:g}{u}" if value < t else f"{rule.zh} {x}{u} > {t2:g}{u}"
    sym = (
        {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
        if ok
        else {">=": "<", "<=": ">", ">": "≤", "<": "≥"}
    )
    return f"{rule.zh} {x}{u} {sym[c]} {t:g}{u}"


def rule_reasons(long: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Per unit: reasons_met, reasons_missed (binding rules first, then profile order) and not_assessable rule names."""
    rules = {r.id: r for r in profile.rules}
    rows = long.assign(_b=(long["binding"] != "binding").astype(int)).sort_values(
        "_b", kind="stable"
    )
    out: dict[str, dict[str, list[str]]] = {
        u: {"met": [], "missed": [], "na": []} for u in pd.unique(long["unit_id"])
    }
    for r in rows.itertuples(index=False):
        if r.status == "not_assessable":
            out[r.unit_id]["na"].append(r.zh)
        else:
            ok = r.status == "pass"
            out[r.unit_id]["met" if ok else "missed"].append(
                reason_zh(rules[r.rule_id], r.unit, r.measured, ok)
            )
    frame = {
        u: {
            "reasons_met": SEP.join(v["met"]),
            "reasons_missed": SEP.join(v["missed"]),
            "not_assessable": SEP.join(v["na"]),
        }
        for u, v in out.items()
    }
    return pd.DataFrame.from_dict(
        frame, orient="index", columns=["reasons_met", "reasons_missed", "not_assessable"]
    )


def rules_score(summary: pd.DataFrame) -> pd.Series:
    """100 × (2·binding met + guiding met) / (2·binding assessable + guiding assessable); NaN when nothing is assessable."""
    met = 2 * summary["binding_pass"] + summary["guiding_pass"]
    possible = (
        2 * (summary["binding_pass"] + summary["binding_fail"])
        + summary["guiding_pass"]
        + summary["guiding_fail"]
    )
    return (100.0 * met / possible.where(possible > 0)).astype(float)


def _shortfall(rule: Rule, v: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """How far each failing value is from the rule's target (0 where the rule is met)."""
    c, t, t2 = rule.comparator, rule.target, rule.target_max
    if c in (">=", ">"):
        d = t - v
    elif c in ("<=", "<"):
        d = v - t
    elif c == "range":
        d = np.maximum(t - v, v - t2)
    else:  # present
        d = np.ones_like(v)
    return np.where(ok, 0.0, np.maximum(d, 0.0))


def weights_score(
    indicators: pd.DataFrame,
    long: pd.DataFrame,
    profile: Profile,
    weights: dict[str, float],
    direction: dict[str, str] | None = None,
) -> pd.Series:
    """100 × Σ w·s / Σ w over the indicators with a value, s as in the module docstring (rule target, else min–max); NaN: none."""
    direction = direction or {}
    units = pd.Index(indicators.index)
    rule_rows = long[long["indicator"].isin(list(weights))].drop_duplicates(
        ["unit_id", "indicator"]
    )
    rules = {r.id: r for r in profile.rules}
    total, weight = pd.Series(0.0, index=units), pd.Series(0.0, index=units)
    for ind, w in weights.items():
        s = pd.Series(
            np.nan, index=units
        )  # stays NaN where the candidate cannot be assessed on the indicator
        mine = rule_rows[rule_rows["indicator"] == ind]
        ruled = set(mine["unit_id"])
        for rule_id, grp in mine[mine["status"] != "not_assessable"].groupby("rule_id", sort=False):
            ok = (grp["status"] == "pass").to_numpy()
            d = _shortfall(rules[rule_id], grp["measured"].to_numpy(dtype=float), ok)
            d_max = d.max()
            s[grp["unit_id"].to_numpy()] = np.where(
                ok, 1.0, (1.0 - d / d_max) if d_max > 0 else 0.0
            )
        free = units[~units.isin(list(ruled))]
        if len(free):
            if ind not in indicators.columns:
                raise ConfigError(
                    f"screening.weights: '{ind}' is neither a column of the indicator table nor the indicator of a "
                    f"rule of profile '{profile.id}' for these candidates"
                )
            v = pd.to_numeric(indicators.loc[free, ind], errors="coerce").astype(float)
            lo, hi = v.min(), v.max()
            if hi - lo > RTOL * max(1.0, abs(hi)):
                scaled = (
                    (v - lo) / (hi - lo)
                    if direction.get(ind, "higher") == "higher"
                    else (hi - v) / (hi - lo)
                )
            else:
                scaled = pd.Series(1.0, index=free)
            s[free] = scaled.where(v.notna())
        total += (w * s).fillna(0.0)
        weight += w * s.notna()
    return 100.0 * total / weight.where(weight > 0)


def no_residents(table: pd.DataFrame, profile: Profile) -> pd.Series:
    """True for the units listed apart: has_residents False under a profile that ``needs_residents`` (False without the column)."""
    if not profile.needs_residents or "has_residents" not in table.columns:
        return pd.Series(False, index=table.index)
    return table["has_residents"].eq(False)


def screen(
    indicators: pd.DataFrame,
    profile: Profile,
    *,
    kind: str | pd.Series | None = None,
    method: str | None = None,
    weights: dict[str, float] | None = None,
    direction: dict[str, str] | None = None,
    top: int = 10,
    min_binding_pct: float | None = None,
    reasons: pd.DataFrame | None = None,
) -> Screening:
    """Score, rank and shortlist the candidates (rows of ``indicators``, indexed by unit id) against ``profile``.

    ``reasons``: the run's long reasons table (why a value is NaN), passed to the compliance check.
    """
    method = method or default_method(profile)
    if method == "points" and default_method(profile) != "points":
        raise ConfigError(
            f"screening method 'points': profile '{profile.id}' scores no items; use method rules or weights"
        )
    if method == "weights" and not weights:
        raise ConfigError(
            "screening method 'weights' needs screening.weights (indicator id → weight)"
        )
    table = (
        indicators.set_index("unit_id") if "unit_id" in indicators.columns else indicators
    ).rename(index=str)
    if reasons is not None and not reasons.empty:
        reasons = reasons.assign(unit_id=reasons["unit_id"].astype(str))
    long = evaluate(table, profile, kind=kind, reasons=reasons)
    if long.empty:
        raise ConfigError(
            f"profile '{profile.id}' has no rule for the candidates' kind(s); choose another kind or profile"
        )
    summ = summarize(long, profile).reindex(table.index)
    apart = no_residents(table, profile)
    cand = table.index[~apart.to_numpy()]
    t = pd.DataFrame(index=table.index)
    t["name"] = table["name"] if "name" in table.columns else summ["name"]
    t["kind"] = summ["kind"]
    if method == "rules":
        t["score"] = rules_score(summ)
    elif method == "points":
        possible = summ["points_possible"].astype(float)
        t["score"] = 100.0 * summ["points"].astype(float) / possible.where(possible > 0)
    else:
        t["score"] = weights_score(
            table.loc[cand],
            long[long["unit_id"].isin(cand)],
            profile,
            dict(weights or {}),
            direction,
        )
    t.loc[apart.to_numpy(), "score"] = np.nan  # listed apart: not scored
    n_rules = long.groupby("unit_id", sort=False).size().reindex(table.index).fillna(0).astype(int)
    n_ok = (
        summ[["binding_pass", "binding_fail", "guiding_pass", "guiding_fail"]].fillna(0).sum(axis=1)
    ).astype(int)
    t["rules_assessed"] = [f"{a}/{b}" for a, b in zip(n_ok, n_rules, strict=True)]
    t["method"] = method
    t["points"], t["points_possible"] = summ["points"], summ["points_possible"]
    t["binding_met"] = summ["binding_pass"].fillna(0).astype(int)
    t["binding_assessable"] = (summ["binding_pass"] + summ["binding_fail"]).fillna(0).astype(int)
    t["binding_met_pct"] = (
        100.0 * t["binding_met"] / t["binding_assessable"].where(t["binding_assessable"] > 0)
    )
    t["guiding_met"] = summ["guiding_pass"].fillna(0).astype(int)
    t["guiding_assessable"] = (summ["guiding_pass"] + summ["guiding_fail"]).fillna(0).astype(int)
    t["level"] = summ["level"].fillna("") if profile.levels else ""
    t["level_zh"] = summ["level_zh"].fillna("") if profile.levels else ""
    t["not_ranked"] = np.where(apart.to_numpy(), NO_RESIDENTS, "")
    t = t.join(rule_reasons(long, profile))
    left, t = t[apart.to_numpy()], t[~apart.to_numpy()]
    failed = t["binding_assessable"] - t["binding_met"]
    order = pd.DataFrame(
        {"s": -t["score"].fillna(-np.inf), "f": failed, "a": -n_ok.reindex(t.index), "u": t.index}
    )
    t = t.loc[order.sort_values(["s", "f", "a", "u"], kind="stable").index]
    t.insert(0, "unit_id", t.index)
    t.insert(0, "rank", np.arange(1, len(t) + 1))
    eligible = t["score"].notna()
    if min_binding_pct is not None:
        eligible &= t["binding_met_pct"] >= min_binding_pct - RTOL * max(1.0, min_binding_pct)
    chosen = eligible & (eligible.cumsum() <= top)
    t["shortlisted"] = np.where(chosen, "yes", "no")
    left = left.assign(
        unit_id=left.index,
        rank=pd.Series([None] * len(left), index=left.index, dtype=object),
        shortlisted="no",
    )
    return Screening(
        t.reset_index(drop=True)[list(HEADERS)],
        long,
        profile,
        method,
        top,
        min_binding_pct,
        left.reset_index(drop=True)[list(HEADERS)],
    )
