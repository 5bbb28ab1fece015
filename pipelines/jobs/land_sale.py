"""`ditan check-parcels`: check parcels about to be sold against a programme profile (土地出让前指标核查).

Each parcel (config ``land_sale``) is checked in three groups, each parcel on its own (not cumulatively):

- **规划指标 plan**: the profile's rules (for ``land_sale.kind``) on an indicator a parcel plan carries —
  far_ratio ↔ the planned FAR (or floor area ÷ parcel area), green_space_ratio_pct ↔ the planned green
  ratio, max_floors ↔ height limit ÷ storey height — plus "plan complete": a parcel without FAR or floor
  area, or with a missing or unknown land-use code, fails (binding). A missing green ratio or height limit
  makes its rule *not assessable* (it does not fail the parcel). A rule applies by the parcel's land-use
  class (profile ``applies_to_classes``: the community FAR range 1.2–3 binds a residential parcel, not a
  school): for another class it is *not applicable* (不适用) and not counted.
- **区位 location**: bus stop and bike rental within the transit radius (500 m) by straight line from the
  parcel's edge (the official radius method) and by walking distance over the walk network from points
  every 50 m along its edge (as life-circle areas are reached); metro is reported (never fails a parcel);
  for each life-circle tier, the categories within the tier distance on the network and those missing.
  Bus and bike are guiding (申报创建指标体系 第11项) unless the profile has a rule on their 500 m columns; the
  tiers take the binding of the profile's lc_<tier>_all_pct rule for a residential parcel, else guiding.
- **所在单元 unit after**: the unit(s) the parcel covers are recomputed with compute() with the parcel built
  as planned (its land takes its planned class and its floor area replaces the buildings on it), and the
  profile's rules on FAR, land-use shares and green-space ratio are evaluated before and after. A unit rule
  failing after counts against the parcel only if the parcel causes or worsens the shortfall.

The verdict (ditan.pipelines.jobs.parcel_verdict) is decided by the binding checks that count: fail when one fails, not
assessable when one cannot be assessed, else pass; the verdict row says so and counts the other checks apart.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook
from openpyxl.styles import Font

from ditan.pipelines.assemble.load import load_study_area, read_parcels
from ditan.pipelines.compute.indicators import PROXIMITY, compute, walk_roads
from ditan.pipelines.config.params import ComputeParams, params_from_config
from ditan.pipelines.config.schema import Config
from ditan.pipelines.jobs.parcel_rows import APPLICATION, COLUMNS, KINDS, check_row, num, rule_reason, rules_for
from ditan.pipelines.jobs.parcel_verdict import not_applicable_reason, summarize
from ditan.pipelines.jobs.skeleton import Context, Job
from ditan.pipelines.outputs import files as write
from ditan.spatial.engine.network import access_points, build_network, group_distances, point_distances, snap_points
from ditan.spatial.errors import ConfigError
from ditan.spatial.indicators.parcels import parcel_floor_area_m2
from ditan.spatial.io.validate import Ledger, require_unique_ids
from ditan.spatial.standards import columns
from ditan.spatial.standards.compliance import RTOL, evaluate
from ditan.spatial.standards.evidence import empty_kinds
from ditan.spatial.standards.profiles import Profile, Rule, indicator_entry, load_profile
from ditan.spatial.study_area.model import StudyArea

OUTPUTS = ("parcel_check.csv", "parcel_summary.csv", "parcel_check.xlsx", "parcels")
PLAN_INDICATORS = ("far_ratio", "green_space_ratio_pct", "max_floors")
UNIT_INDICATORS = ("far_ratio", "public_service_pct", "public_service_incl_community_pct", "industrial_residential_ratio",
                   "green_space_ratio_pct")  # fmt: skip


def read_sale_parcels(cfg: Config, sa: StudyArea, path: Path | None = None) -> gpd.GeoDataFrame:
    """The parcels to check (land_sale.parcels, or ``path`` read with its columns), in the study CRS."""
    src = cfg.land_sale.parcels
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"--parcels: file not found: {path}")
        src = src.model_copy(update={"path": Path(path).resolve()})
    p = read_parcels(src, sa.crs, Ledger())
    if p.empty:
        raise ConfigError(f"{src.label}: no parcel to check")
    p["parcel_id"] = p["parcel_id"].astype(str)
    require_unique_ids(p["parcel_id"], layer="parcels for sale")
    p["name"] = p["name"].where(p["name"].notna(), p["parcel_id"]).astype(str)
    p["area_m2"] = p.geometry.area
    p["floor_area_plan_m2"] = parcel_floor_area_m2(p)
    p["far_plan"] = p["floor_area_plan_m2"] / p["area_m2"]
    p["floors_plan"] = p["height_limit_m"] / cfg.land_sale.storey_height_m
    return p


def plan_checks(p: gpd.GeoDataFrame, profile: Profile, kind: str, code_system: str) -> list[dict]:
    """规划指标: completeness (binding) and the profile's rules on the planned FAR, green ratio and floors."""
    rows = []
    sub = rules_for(profile, kind, PLAN_INDICATORS)
    table = pd.DataFrame({"far_ratio": p["far_plan"].to_numpy(), "green_space_ratio_pct": p["green_ratio_pct"].to_numpy(),
                          "max_floors": p["floors_plan"].to_numpy()}, index=p["parcel_id"].to_numpy())  # fmt: skip
    long = evaluate(table, sub, kind=kind) if sub.rules else pd.DataFrame(columns=["unit_id"])
    missing = {"far_ratio": ("规划未给容积率或建筑面积", "the plan gives no FAR or floor area"),
               "green_space_ratio_pct": ("规划未给绿地率", "the plan gives no green ratio"),
               "max_floors": ("规划未给限高", "the plan gives no height limit")}  # fmt: skip
    for _, r in p.iterrows():
        pid, name, lu_class = r["parcel_id"], r["name"], r["lu_class"] if isinstance(r["lu_class"], str) else None
        gaps = []
        if not np.isfinite(r["floor_area_plan_m2"]):
            gaps.append("缺容积率或建筑面积 / no FAR or floor area")
        if pd.isna(r["tag"]) or str(r["tag"]).strip() == "":
            gaps.append("无用地代码 / no land-use code")
        elif r["lu_class"] is None or pd.isna(r["lu_class"]):
            gaps.append(f"用地代码 '{r['tag']}' 无法识别 / unknown {code_system} land-use code '{r['tag']}'")
        soft = [zh for c, zh in (("green_ratio_pct", "绿地率 green ratio"), ("height_limit_m", "限高 height limit")) if pd.isna(r[c])]
        ok_text = "规划条件完整 / plan complete" + (f"（未给 not given: {', '.join(soft)}）" if soft else "")
        rows.append(check_row(pid, name, "plan", "规划条件完整 Plan complete", "fail" if gaps else "pass", "; ".join(gaps) or ok_text,
                         binding="binding", indicator="plan_complete", target="用地代码 + 容积率/建筑面积 code + FAR/floor area",
                         source="ditan", clause="出让条件 (land-sale conditions)"))  # fmt: skip
        for _, e in long[long["unit_id"] == pid].iterrows():
            rule = sub.rule(e["rule_id"])
            ind = indicator_entry(rule.indicator, rule.zh)
            v, status = float(e["measured"]), e["status"]
            reason = rule_reason(rule, rule.zh, ind.en, v, status == "pass", ind.unit) if np.isfinite(v) else " / ".join(missing[rule.indicator])
            if rule.applies_to_classes is not None and lu_class is None:  # the rule depends on a class the plan does not give
                status, reason = "not_assessable", "用地类别未知，无法判断是否适用 / land-use class unknown: cannot tell whether the rule applies"
            elif lu_class is not None and not rule.applies_to_class(lu_class):
                status, reason = "not_applicable", not_applicable_reason(rule, lu_class)
            rows.append(check_row(pid, name, "plan", f"{rule.zh} {ind.en}", status, reason, binding=rule.binding, indicator=rule.indicator,
                             measured=v, unit=ind.unit, target=rule.target_text(), source=rule.source, clause=rule.clause,
                             counts=rule.binding == "binding" and status != "not_applicable"))  # fmt: skip
    return rows


def _network(sa: StudyArea, parcels: gpd.GeoDataFrame, cutoff: float, *, snap_max_m: float, walk_exclude: tuple[str, ...]):
    """The walk network around the parcels (ways within cutoff + 2 × snap distance: exact up to the cutoff)."""
    near = shapely.union_all(parcels.geometry.to_numpy()).buffer(cutoff + 2 * snap_max_m)
    roads = walk_roads(sa.roads, walk_exclude)
    return build_network(roads[roads.intersects(near)].geometry.to_numpy())


def reach(sa: StudyArea, parcels: gpd.GeoDataFrame, *, snap_max_m: float, walk_exclude: tuple[str, ...],
          radius_m: float) -> list[dict]:  # fmt: skip
    """Per parcel: straight and network distance to each station kind and facility category, and the nearest ones."""
    cat = sa.catalogue
    cutoff = max([t.distance_m for t in cat.tiers.values()] + [radius_m])
    snap_max = snap_max_m
    fac, st = sa.facilities, sa.stations[sa.stations["kind"].isin(PROXIMITY)]
    feats = pd.concat([fac[["category", "name", "geometry"]].rename(columns={"category": "group"}),
                       st[["kind", "name", "geometry"]].rename(columns={"kind": "group"})], ignore_index=True)  # fmt: skip
    fac_pts, owner = access_points(fac.geometry.to_numpy(), fac["outline"].to_numpy() if "outline" in fac else None)
    tpts = np.concatenate([fac_pts, st.geometry.to_numpy()])
    tfeat = np.concatenate([owner, len(fac) + np.arange(len(st))])
    net = _network(sa, parcels, cutoff, snap_max_m=snap_max_m, walk_exclude=walk_exclude)
    t_snap = snap_points(net, tpts, max_distance_m=snap_max)
    out = []
    for geom in parcels.geometry:
        straight = shapely.distance(geom, feats.geometry.to_numpy())
        pts, _ = access_points(np.array([geom.representative_point()], dtype=object), np.array([geom], dtype=object))
        p_snap = snap_points(net, pts, max_distance_m=snap_max)
        walk = np.full(len(feats), np.nan)
        if p_snap.ok.any():
            zeros = np.zeros(len(pts), dtype=np.int64)
            nd = group_distances(net, p_snap, zeros, 1, cutoff_m=cutoff)
            d = point_distances(net, nd, t_snap, targets=p_snap, target_groups=zeros)[:, 0]
            walk = pd.Series(d).groupby(tfeat).min().reindex(range(len(feats)), fill_value=np.inf).to_numpy(copy=True)
            walk[walk > cutoff] = np.inf
        f = feats.assign(straight_m=straight, walk_m=walk)
        out.append({"features": f, "snapped": bool(p_snap.ok.any()), "cutoff": cutoff})
    return out


def _nearest(f: pd.DataFrame, group: str, by: str) -> pd.Series | None:
    sub = f[(f["group"] == group) & np.isfinite(f[by])]
    return None if sub.empty else sub.loc[sub[by].idxmin()]


def _tier_binding(profile: Profile, kind: str, tier: str, residential: bool) -> tuple[str, str, str]:
    for r in rules_for(profile, kind, (columns.lc_all(tier),)).rules:
        if residential:
            return r.binding, r.source, r.clause
    return ("guiding" if residential else "info"), "GB 50180-2018", "生活圈 life circles"


def location_checks(p: gpd.GeoDataFrame, reached: list[dict], sa: StudyArea, params: ComputeParams, profile: Profile,
                    kind: str) -> list[dict]:  # fmt: skip
    """区位: stations within the radius (straight and walking) and life-circle categories reached per tier."""
    rows, R, snap_max_m = [], params.transit.radius_m, params.life_circle.snap_max_m
    cat = sa.catalogue
    # kinds and categories with no feature anywhere in the study area (and not confirmed absent): data gaps, not fails
    kind_gaps = set(empty_kinds(sa.stations["kind"], list(KINDS), [*params.transit.confirmed_absent, *sa.confirmed_absent]))
    cat_gaps = set(empty_kinds(sa.facilities["category"], list(cat.categories),
                               [*params.life_circle.confirmed_absent, *sa.confirmed_absent]))  # fmt: skip
    for (_, r), info in zip(p.iterrows(), reached, strict=True):
        pid, name, f = r["parcel_id"], r["name"], info["features"]
        for k, (zh, en) in KINDS.items():
            for how, col, hz, he in (("radius", "straight_m", "直线", "straight line"), ("network", "walk_m", "步行", "walking")):
                ind = columns.proximity(k, R, how)
                rules = rules_for(profile, kind, (ind,)).rules
                binding, source, clause = (rules[0].binding, rules[0].source, rules[0].clause) if rules else (
                    ("info", "ditan", "TOD") if k == "metro" else ("guiding", *APPLICATION))  # fmt: skip
                near = _nearest(f, k, col)
                v = float(near[col]) if near is not None else np.inf
                label = f"{R:g} 米内{zh}（{hz}）{en} within {R:g} m ({he})"
                if how == "network" and not info["snapped"]:
                    status, why = "not_assessable", f"地块距步行路网超过 {snap_max_m:g} 米 / parcel edge not near the walk network"
                elif k in kind_gaps:
                    status, why = "not_assessable", f"数据缺失：研究范围内任何数据源均无{zh} / data gap: no {en} in any source of the study area"
                elif near is None:
                    status, why = "fail", f"{R:g} 米{'' if how == 'radius' else '步行'}范围内无{zh} / no {en} within {R:g} m" + (
                        "" if how == "radius" else " walking")  # fmt: skip
                else:
                    status = "pass" if v <= R + RTOL else "fail"
                    nm = "" if pd.isna(near["name"]) else f" {near['name']}"
                    why = (f"最近{zh}{nm} {hz}距离 {v:,.0f} 米 {'≤' if status == 'pass' else '>'} {R:g} 米 / nearest {en}{nm} "
                           f"{v:,.0f} m {he} {'≤' if status == 'pass' else '>'} {R:g} m")  # fmt: skip
                rows.append(check_row(pid, name, "location", label, status, why, binding=binding, indicator=ind,
                                 measured=v if np.isfinite(v) else np.nan, unit="m", target=f"≤ {R:g}", source=source, clause=clause))  # fmt: skip
        for tid, tier in cat.tiers.items():
            ids = [c.id for c in cat.categories.values() if c.tier == tid]
            best = f[f["group"].isin(ids)].groupby("group")["walk_m"].min().reindex(ids)
            got = [c for c in ids if best[c] <= tier.distance_m]
            gaps = [c for c in ids if c in cat_gaps and c not in got]
            gone = [c for c in ids if c not in got and c not in gaps]
            binding, source, clause = _tier_binding(profile, kind, tid, r["lu_class"] == "residential")
            names = lambda cs, i: "、".join(cat.categories[c].zh for c in cs) if i == 0 else ", ".join(cat.categories[c].en for c in cs)  # noqa: E731
            if not info["snapped"] or not sa.has_facility_source:
                status, why = "not_assessable", "地块不在步行路网附近或无设施数据 / parcel not near the walk network, or no facility data"
            else:  # a missing category fails; a data gap can only leave the tier not assessable, never failed
                status = "fail" if gone else ("not_assessable" if gaps else "pass")
                why = (f"{tier.distance_m:g} 米内有 {names(got, 0) or '无'}；缺 {names(gone, 0) or '无'} / within {tier.distance_m:g} m: "
                       f"{names(got, 1) or 'none'}; missing: {names(gone, 1) or 'none'}")  # fmt: skip
                if gaps:
                    why += f"；数据缺失 {names(gaps, 0)} / data gap: {names(gaps, 1)}"
            rows.append(check_row(pid, name, "location", f"{tier.zh} {tier.en}", status, why, binding=binding, indicator=columns.lc_all(tid),
                             measured=float(len(got)), unit=f"of {len(ids)} categories", target=f"全部 all {len(ids)} ≤ {tier.distance_m:g} m",
                             source=source, clause=clause))  # fmt: skip
    return rows


def _restricted(sa: StudyArea, units: gpd.GeoDataFrame) -> StudyArea:
    """A copy of the study area with only ``units`` and the features near them."""
    near = shapely.box(*units.total_bounds).buffer(200.0)

    def keep(g):
        return None if g is None else g[g.intersects(near)]

    return dataclasses.replace(sa, units=units, roads=keep(sa.roads), buildings=keep(sa.buildings), landuse=keep(sa.landuse),
                               vegetation=keep(sa.vegetation), facilities=keep(sa.facilities), stations=keep(sa.stations),
                               amenities=keep(sa.amenities), parcels=keep(sa.parcels))  # fmt: skip


def with_parcel(sa: StudyArea, parcel: pd.Series) -> StudyArea:
    """The study area with ``parcel`` built as planned: its land takes its class and its floor area replaces what stands there."""
    geom = parcel.geometry
    lu = sa.landuse.copy()
    lu["geometry"] = shapely.difference(lu.geometry.to_numpy(), geom)
    lu = lu[~lu.geometry.is_empty]
    new = {"lu_class": parcel["lu_class"], "tag": parcel["tag"], "name": parcel["name"], "geometry": geom}
    lu = gpd.GeoDataFrame(pd.concat([lu, gpd.GeoDataFrame([new], crs=sa.crs)], ignore_index=True), crs=sa.crs)
    cols = ["parcel_id", "tag", "code", "lu_class", "name", "floor_area_m2", "far", "height_limit_m", "green_ratio_pct", "geometry"]
    old = sa.parcels[cols].copy() if sa.parcels is not None else gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=sa.crs)
    if len(old):
        before = old.geometry.area.to_numpy()
        old["geometry"] = shapely.difference(old.geometry.to_numpy(), geom)
        old["floor_area_m2"] = old["floor_area_m2"].to_numpy(dtype=float) * old.geometry.area.to_numpy() / before
        old = old[~old.geometry.is_empty]
    row = {**{c: parcel.get(c) for c in cols}, "floor_area_m2": parcel["floor_area_plan_m2"], "geometry": geom}
    parts = [x for x in (old, gpd.GeoDataFrame([row], crs=sa.crs)) if len(x)]
    pa = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=sa.crs)
    for c in ("floor_area_m2", "far", "height_limit_m", "green_ratio_pct"):
        pa[c] = pd.to_numeric(pa[c], errors="coerce").astype(float)
    return dataclasses.replace(sa, landuse=lu, parcels=pa)


def _gap(rule: Rule, v: float) -> float:
    """How far ``v`` lies outside the rule's target (0 inside)."""
    t, t2 = rule.target or 0.0, rule.target_max
    return {"range": max(t - v, v - (t2 or t), 0.0), ">=": max(t - v, 0.0), ">": max(t - v, 0.0),
            "<=": max(v - t, 0.0), "<": max(v - t, 0.0)}.get(rule.comparator, 0.0)  # fmt: skip


def unit_checks(p: gpd.GeoDataFrame, sa: StudyArea, params: ComputeParams, profile: Profile, kind: str) -> list[dict]:
    """所在单元: the profile's unit rules on FAR, land use and green space, before and after each parcel is built."""
    rows, sub = [], rules_for(profile, kind, UNIT_INDICATORS)
    for _, r in p.iterrows():
        pid, name = r["parcel_id"], r["name"]
        touched = sa.units[shapely.area(shapely.intersection(sa.units.geometry.to_numpy(), r.geometry)) > 1.0]
        complete = np.isfinite(r["floor_area_plan_m2"]) and pd.notna(r["lu_class"])
        if touched.empty or not complete or not sub.rules:
            why = ("地块不在任何单元内 / the parcel lies in no unit" if touched.empty else "规划条件不完整，无法推算 / plan incomplete: "
                   "the unit after cannot be worked out" if not complete else "配置的规划无单元规则 / the profile has no unit rule on these")  # fmt: skip
            rows.append(check_row(pid, name, "unit", "单元指标 Unit indicators", "not_assessable", why, binding="info"))
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
                why = rule_reason(rule, f"单元 {a['unit_id']} {rule.zh}", f"unit {a['unit_id']} {ind.en}", va, a["status"] == "pass", ind.unit)
                why += f"（出让前 before {num(vb)}）"
                worse = a["status"] == "fail" and (b["status"] != "fail" or _gap(rule, va) > _gap(rule, vb) + RTOL)
                why += "；地块造成或加剧未达标 / the parcel causes or worsens this" if worse else (
                    "；出让前已未达标，地块未加剧 / already short before; the parcel does not worsen it" if a["status"] == "fail" else "")  # fmt: skip
            held = not isinstance(r["lu_class"], str) or rule.applies_to_class(r["lu_class"])  # a school is not held to the FAR range
            if not held:
                why += f"；{not_applicable_reason(rule, r['lu_class']).replace('不适用：', '不计入判定：').replace('not applicable:', 'not counted:')}"
            decides = held and rule.binding == "binding" and (a["status"] != "fail" or worse)  # short before and not worsened: not the parcel's
            rows.append(check_row(pid, name, "unit", f"{rule.zh} {ind.en}", a["status"], why, binding=rule.binding, counts=decides,
                             indicator=rule.indicator, unit_id=a["unit_id"], measured=va, before=vb, unit=ind.unit, target=rule.target_text(),
                             source=rule.source, clause=rule.clause))  # fmt: skip
        ruled = {x.indicator for x in sub.rules}
        for ind_id in dict.fromkeys([f"lu_{r['lu_class']}_pct", *(i for i in UNIT_INDICATORS if i not in ruled)]):
            ind = indicator_entry(ind_id)
            for uid in after.index:
                vb, va = float(before.at[uid, ind_id]), float(after.at[uid, ind_id])
                rows.append(check_row(pid, name, "unit", f"{ind.zh} {ind.en}（无目标 no target）", "pass" if np.isfinite(va) else "not_assessable", f"单元 unit {uid}: {num(vb)} → {num(va)}"
                                 f"{' ' + ind.unit if ind.unit == '%' else ''}", indicator=ind_id, unit_id=uid, measured=va, before=vb,
                                 unit=ind.unit, target="—", source="ditan", clause="—"))  # fmt: skip
    return rows


def _xlsx(path: Path, checks: pd.DataFrame, summary: pd.DataFrame) -> None:
    wb = Workbook()
    for i, (title, df) in enumerate((("汇总 summary", summary), ("核查 checks", checks))):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = title
        ws.append(list(df.columns))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in df.round(write.CSV_DECIMALS).itertuples(index=False):
            ws.append([None if (isinstance(v, float) and v != v) else v.item() if isinstance(v, np.generic) else v for v in row])
        ws.freeze_panes = "B2"
    wb.properties.created = wb.properties.modified = write.FIXED_TIME
    with write.atomic_path(path) as tmp:
        wb.save(tmp)
        write.fix_zip_times(tmp)


def _file_name(pid: str) -> str:
    return re.sub(r"[^\w\-.]", "_", pid).strip(".") or "parcel"


def parcel_map(r: pd.Series, info: dict, summary: pd.Series, sa: StudyArea, *, radius_m: float, tiles: bool) -> str:
    """A one-page map of one parcel: what to show (units, nearest stations, reached and missing facilities, reasons)."""
    from ditan.maps.pages import parcel_page  # rendering stays out of the computation

    f, cat = info["features"], sa.catalogue
    marks = [(_nearest(f, k, "straight_m"), "#1565c0", f"{zh} {en}") for k, (zh, en) in KINDS.items()]
    for cid, cc in cat.categories.items():
        walk = _nearest(f, cid, "walk_m")
        if walk is not None and walk["walk_m"] <= cat.tiers[cc.tier].distance_m:
            marks.append((walk, "#2e7d32", f"已达 reached: {cc.zh} {cc.en}"))
        else:
            marks.append((_nearest(f, cid, "straight_m"), "#ef6c00", f"缺 missing (> {cat.tiers[cc.tier].distance_m:g} m): {cc.zh} {cc.en}"))
    points = []
    for near, col, label in marks:
        if near is None:
            continue
        walk = "—" if not np.isfinite(near["walk_m"]) else f"{near['walk_m']:,.0f}"
        text = f"{label} {'' if pd.isna(near['name']) else near['name']}: 直线 straight {near['straight_m']:,.0f} m, 步行 walking {walk} m"
        points.append((near.geometry, col, text))
    headline = f"{summary['verdict']} · {r['tag']} · FAR {num(r['far_plan'])}"
    return parcel_page(
        r.geometry, crs=sa.crs, units=sa.units[sa.units.intersects(r.geometry)], radius_m=radius_m, marks=points,
        ok=summary["status"] == "pass", title=f"地块出让前指标核查 {r['parcel_id']} {r['name']}", headline=headline,
        reasons=str(summary["main_reasons"]).split(" | "), parcel_label=f"地块 parcel {r['parcel_id']} {r['name']} ({r['tag']})",
        tiles=tiles,
    )


@dataclass
class SaleInputs:
    sa: StudyArea
    parcels: gpd.GeoDataFrame


@dataclass
class ParcelChecks:
    sale: SaleInputs
    reached: list[dict]
    checks: pd.DataFrame
    summary: pd.DataFrame


class ParcelCheckJob(Job[SaleInputs, ParcelChecks]):
    """``ditan check-parcels``: every parcel for sale checked (plan, location, unit after); no manifest."""

    manifest_name = None

    def __init__(self, cfg: Config, *, parcels: Path | None = None) -> None:
        if cfg.land_sale is None:
            raise ConfigError(f"{cfg.source_path}: no land_sale section; add land_sale: {{parcels: {{path, code_column, far_column …}}}}")
        self.cfg, self.parcels, self.params = cfg, parcels, params_from_config(cfg)
        self.profile = load_profile(cfg.land_sale.profile)
        kind = self.profile.kind_id(cfg.land_sale.kind) if self.profile.kinds else cfg.land_sale.kind
        if kind is None:
            raise ConfigError(f"land_sale.kind '{cfg.land_sale.kind}' is not a kind of profile '{self.profile.id}' "
                              f"({', '.join(self.profile.kinds)})")  # fmt: skip
        self.kind = kind

    def allowed(self, name: str) -> bool:
        return name in OUTPUTS

    def load(self, ctx: Context) -> SaleInputs:
        sa = load_study_area(self.cfg, crop_to_units=False)  # parcels for sale may lie beyond the units
        return SaleInputs(sa, read_sale_parcels(self.cfg, sa, self.parcels))

    def compute(self, sale: SaleInputs, ctx: Context) -> ParcelChecks:
        sa, p, prm, profile, kind = sale.sa, sale.parcels, self.params, self.profile, self.kind
        reached = reach(sa, p, snap_max_m=prm.life_circle.snap_max_m, walk_exclude=prm.life_circle.walk_exclude,
                        radius_m=prm.transit.radius_m)  # fmt: skip
        rows = plan_checks(p, profile, kind, self.cfg.land_sale.parcels.code_system)
        rows += location_checks(p, reached, sa, prm, profile, kind) + unit_checks(p, sa, prm, profile, kind)
        checks = pd.DataFrame(rows).reindex(columns=COLUMNS)
        order = {pid: i for i, pid in enumerate(p["parcel_id"])}
        checks = checks.sort_values("parcel_id", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
        return ParcelChecks(sale, reached, checks, summarize(checks, p))

    def write(self, c: ParcelChecks, stage: Path, ctx: Context) -> list[str]:
        sa, p = c.sale.sa, c.sale.parcels
        write.write_csv(stage / "parcel_check.csv", c.checks.set_index("parcel_id"))
        write.write_csv(stage / "parcel_summary.csv", c.summary.set_index("parcel_id"))
        _xlsx(stage / "parcel_check.xlsx", c.checks, c.summary)
        (stage / "parcels").mkdir()
        for (_, r), info, (_, s) in zip(p.iterrows(), c.reached, c.summary.iterrows(), strict=True):
            page = parcel_map(r, info, s, sa, radius_m=self.params.transit.radius_m, tiles=self.cfg.map.tiles)
            write.write_text(stage / "parcels" / f"{_file_name(r['parcel_id'])}.html", page)
        return list(OUTPUTS)


def check_parcels(cfg: Config, out_dir: Path, *, parcels: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check every parcel, write the outputs into ``out_dir`` (replaced whole) and return (checks, summary)."""
    done = ParcelCheckJob(cfg, parcels=parcels).run(out_dir)
    return done.computed.checks, done.computed.summary
