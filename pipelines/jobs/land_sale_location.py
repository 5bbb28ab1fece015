"""`ditan check-parcels`, 区位 location checks: what each parcel reaches, straight and walking.

**区位 location**: bus stop and bike rental within the transit radius (500 m) by straight line from the
parcel's edge (the official radius method) and by walking distance over the walk network from points
every 50 m along its edge (as life-circle areas are reached); metro is reported (never fails a parcel);
for each life-circle tier, the categories within the tier distance on the network and those missing.
Bus and bike are guiding (申报创建指标体系 第11项) unless the profile has a rule on their 500 m columns; the
tiers take the binding of the profile's lc_<tier>_all_pct rule for a residential parcel, else guiding.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.pipelines.compute.indicators import PROXIMITY, walk_roads
from ditan.pipelines.config.params import ComputeParams
from ditan.pipelines.jobs.parcel_rows import (
    APPLICATION,
    KINDS,
    check_row,
    rules_for,
)
from ditan.spatial.engine.network import (
    access_points,
    build_network,
    group_distances,
    point_distances,
    snap_points,
)
from ditan.spatial.standards import columns
from ditan.spatial.standards.compliance import RTOL
from ditan.spatial.standards.evidence import empty_kinds
from ditan.spatial.standards.profiles import Profile
from ditan.spatial.study_area.model import StudyArea


def _network(
    sa: StudyArea,
    parcels: gpd.GeoDataFrame,
    cutoff: float,
    *,
    snap_max_m: float,
    walk_exclude: tuple[str, ...],
):
    """The walk network around the parcels (ways within cutoff + 2 × snap distance: exact up to the cutoff)."""
    near = shapely.union_all(parcels.geometry.to_numpy()).buffer(cutoff + 2 * snap_max_m)
    roads = walk_roads(sa.roads, walk_exclude)
    return build_network(roads[roads.intersects(near)].geometry.to_numpy())


def reach(
    sa: StudyArea,
    parcels: gpd.GeoDataFrame,
    *,
    snap_max_m: float,
    walk_exclude: tuple[str, ...],
    radius_m: float,
) -> list[dict]:
    """Per parcel: straight and network distance to each station kind and facility category, and the nearest ones."""
    cat = sa.catalogue
    cutoff = max([t.distance_m for t in cat.tiers.values()] + [radius_m])
    snap_max = snap_max_m
    fac, st = sa.facilities, sa.stations[sa.stations["kind"].isin(PROXIMITY)]
    feats = pd.concat(
        [
            fac[["category", "name", "geometry"]].rename(columns={"category": "group"}),
            st[["kind", "name", "geometry"]].rename(columns={"kind": "group"}),
        ],
        ignore_index=True,
    )
    fac_pts, owner = access_points(
        fac.geometry.to_numpy(), fac["outline"].to_numpy() if "outline" in fac else None
    )
    tpts = np.concatenate([fac_pts, st.geometry.to_numpy()])
    tfeat = np.concatenate([owner, len(fac) + np.arange(len(st))])
    net = _network(sa, parcels, cutoff, snap_max_m=snap_max_m, walk_exclude=walk_exclude)
    t_snap = snap_points(net, tpts, max_distance_m=snap_max)
    out = []
    for geom in parcels.geometry:
        straight = shapely.distance(geom, feats.geometry.to_numpy())
        pts, _ = access_points(
            np.array([geom.representative_point()], dtype=object), np.array([geom], dtype=object)
        )
        p_snap = snap_points(net, pts, max_distance_m=snap_max)
        walk = np.full(len(feats), np.nan)
        if p_snap.ok.any():
            zeros = np.zeros(len(pts), dtype=np.int64)
            nd = group_distances(net, p_snap, zeros, 1, cutoff_m=cutoff)
            d = point_distances(net, nd, t_snap, targets=p_snap, target_groups=zeros)[:, 0]
            walk = (
                pd.Series(d)
                .groupby(tfeat)
                .min()
                .reindex(range(len(feats)), fill_value=np.inf)
                .to_numpy(copy=True)
            )
            walk[walk > cutoff] = np.inf
        f = feats.assign(straight_m=straight, walk_m=walk)
        out.append({"features": f, "snapped": bool(p_snap.ok.any()), "cutoff": cutoff})
    return out


def nearest(f: pd.DataFrame, group: str, by: str) -> pd.Series | None:
    sub = f[(f["group"] == group) & np.isfinite(f[by])]
    return None if sub.empty else sub.loc[sub[by].idxmin()]


def _tier_binding(
    profile: Profile, kind: str, tier: str, residential: bool
) -> tuple[str, str, str]:
    for r in rules_for(profile, kind, (columns.lc_all(tier),)).rules:
        if residential:
            return r.binding, r.source, r.clause
    return ("guiding" if residential else "info"), "GB 50180-2018", "生活圈 life circles"


def location_checks(
    p: gpd.GeoDataFrame,
    reached: list[dict],
    sa: StudyArea,
    params: ComputeParams,
    profile: Profile,
    kind: str,
) -> list[dict]:
    """区位: stations within the radius (straight and walking) and life-circle categories reached per tier."""
    rows, R, snap_max_m = [], params.transit.radius_m, params.life_circle.snap_max_m
    cat = sa.catalogue
    # kinds and categories with no feature anywhere in the study area (and not confirmed absent): data gaps, not fails
    kind_gaps = set(
        empty_kinds(
            sa.stations["kind"],
            list(KINDS),
            [*params.transit.confirmed_absent, *sa.confirmed_absent],
        )
    )
    cat_gaps = set(
        empty_kinds(
            sa.facilities["category"],
            list(cat.categories),
            [*params.life_circle.confirmed_absent, *sa.confirmed_absent],
        )
    )
    for (_, r), info in zip(p.iterrows(), reached, strict=True):
        pid, name, f = r["parcel_id"], r["name"], info["features"]
        for k, (zh, en) in KINDS.items():
            for how, col, hz, he in (
                ("radius", "straight_m", "直线", "straight line"),
                ("network", "walk_m", "步行", "walking"),
            ):
                ind = columns.proximity(k, R, how)
                rules = rules_for(profile, kind, (ind,)).rules
                binding, source, clause = (
                    (rules[0].binding, rules[0].source, rules[0].clause)
                    if rules
                    else (("info", "ditan", "TOD") if k == "metro" else ("guiding", *APPLICATION))
                )
                near = nearest(f, k, col)
                v = float(near[col]) if near is not None else np.inf
                label = f"{R:g} 米内{zh}（{hz}）{en} within {R:g} m ({he})"
                if how == "network" and not info["snapped"]:
                    status, why = (
                        "not_assessable",
                        f"地块距步行路网超过 {snap_max_m:g} 米 / parcel edge not near the walk network",
                    )
                elif k in kind_gaps:
                    status, why = (
                        "not_assessable",
                        f"数据缺失：研究范围内任何数据源均无{zh} / data gap: no {en} in any source of the study area",
                    )
                elif near is None:
                    status, why = (
                        "fail",
                        f"{R:g} 米{'' if how == 'radius' else '步行'}范围内无{zh} / no {en} within {R:g} m"
                        + ("" if how == "radius" else " walking"),
                    )
                else:
                    status = "pass" if v <= R + RTOL else "fail"
                    nm = "" if pd.isna(near["name"]) else f" {near['name']}"
                    why = (
                        f"最近{zh}{nm} {hz}距离 {v:,.0f} 米 {'≤' if status == 'pass' else '>'} {R:g} 米 / nearest {en}{nm} "
                        f"{v:,.0f} m {he} {'≤' if status == 'pass' else '>'} {R:g} m"
                    )
                rows.append(
                    check_row(
                        pid,
                        name,
                        "location",
                        label,
                        status,
                        why,
                        binding=binding,
                        indicator=ind,
                        measured=v if np.isfinite(v) else np.nan,
                        unit="m",
                        target=f"≤ {R:g}",
                        source=source,
                        clause=clause,
                    )
                )
        for tid, tier in cat.tiers.items():
            ids = [c.id for c in cat.categories.values() if c.tier == tid]
            best = f[f["group"].isin(ids)].groupby("group")["walk_m"].min().reindex(ids)
            got = [c for c in ids if best[c] <= tier.distance_m]
            gaps = [c for c in ids if c in cat_gaps and c not in got]
            gone = [c for c in ids if c not in got and c not in gaps]
            binding, source, clause = _tier_binding(
                profile, kind, tid, r["lu_class"] == "residential"
            )

            def names(cs: list[str], i: int) -> str:
                """Chinese (i = 0) or English names of the categories ``cs``."""
                if i == 0:
                    return "、".join(cat.categories[c].zh for c in cs)
                return ", ".join(cat.categories[c].en for c in cs)

            if not info["snapped"] or not sa.has_facility_source:
                status, why = (
                    "not_assessable",
                    "地块不在步行路网附近或无设施数据 / parcel not near the walk network, or no facility data",
                )
            else:  # a missing category fails; a data gap can only leave the tier not assessable, never failed
                status = "fail" if gone else ("not_assessable" if gaps else "pass")
                why = (
                    f"{tier.distance_m:g} 米内有 {names(got, 0) or '无'}；缺 {names(gone, 0) or '无'} / within {tier.distance_m:g} m: "
                    f"{names(got, 1) or 'none'}; missing: {names(gone, 1) or 'none'}"
                )
                if gaps:
                    why += f"；数据缺失 {names(gaps, 0)} / data gap: {names(gaps, 1)}"
            rows.append(
                check_row(
                    pid,
                    name,
                    "location",
                    f"{tier.zh} {tier.en}",
                    status,
                    why,
                    binding=binding,
                    indicator=columns.lc_all(tid),
                    measured=float(len(got)),
                    unit=f"of {len(ids)} categories",
                    target=f"全部 all {len(ids)} ≤ {tier.distance_m:g} m",
                    source=source,
                    clause=clause,
                )
            )
    return rows
