"""Walking distances on the walk network: from every origin to each facility category and station kind, and the service areas."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from ditan.pipelines.config.params import LifeCircleParams
from ditan.spatial.engine.network import (
    Network,
    Snap,
    access_points,
    group_distances,
    point_distances,
    snap_points,
)
from ditan.spatial.engine.origins import Origins
from ditan.spatial.engine.service_areas import service_area_frame
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards import columns
from ditan.spatial.study_area.model import StudyArea
from ditan.spatial.study_area.stations import station_access_points

PROXIMITY = list(columns.PROXIMITY_KINDS)


@dataclass
class _Reach:
    """What the service areas need from the distance stage."""

    node_dist: np.ndarray  # (groups, nodes)
    targets: Snap
    target_groups: np.ndarray
    groups: list[str]


def _distances(
    sa: StudyArea,
    net: Network,
    origins: Origins,
    station_cut_m: float,
    *,
    snap_max_m: float,
    ledger: Ledger,
) -> tuple[pd.DataFrame, dict, _Reach]:
    """Walking distance from every origin to the nearest facility of each category and station kind.

    The points farther than ``snap_max_m`` from the network are counted in ``ledger`` (walk-network snapping).
    """
    groups = list(sa.catalogue.categories) + PROXIMITY
    fac = sa.facilities
    st = sa.stations[sa.stations["kind"].isin(PROXIMITY)]
    fac_pts, owner = access_points(
        fac.geometry.to_numpy(), fac["outline"].to_numpy() if "outline" in fac else None
    )
    st_pts, st_owner = station_access_points(
        st
    )  # a merged station is reached from every position it was listed at
    targets = np.concatenate([fac_pts, st_pts])
    gid = {g: i for i, g in enumerate(groups)}
    tgroups = np.concatenate(
        [fac["category"].map(gid).to_numpy()[owner], st["kind"].map(gid).to_numpy()[st_owner]]
    ).astype(np.int64)
    # each group is searched as far as its own distance (its tier, or the station radius): beyond it, inf
    cat = sa.catalogue
    group_cut = np.array(
        [cat.tiers[c.tier].distance_m for c in cat.categories.values()]
        + [station_cut_m] * len(PROXIMITY)
    )
    cutoff = float(group_cut.max())
    snap_max = snap_max_m
    o_snap = snap_points(net, origins.points, max_distance_m=snap_max)
    t_snap = snap_points(net, targets, max_distance_m=snap_max)
    node_dist = group_distances(net, t_snap, tgroups, len(groups), cutoff_m=group_cut)
    d = point_distances(net, node_dist, o_snap, targets=t_snap, target_groups=tgroups)
    d[d > group_cut[None, :]] = np.inf
    # a facility counts as reached on the network when any of its access points snapped
    feature = np.concatenate([owner, len(fac) + st_owner])
    snapped = np.zeros(len(fac) + len(st), dtype=bool)
    snapped[feature[t_snap.ok]] = True
    rec = ledger.layer("walk-network snapping: facilities and stations")
    rec.read += len(snapped)
    rec.kept += int(snapped.sum())
    if (~snapped).any():
        rec.dropped[
            f"more than {snap_max:g} m from the walk network (not used for network distances)"
        ] += int((~snapped).sum())
    rec.note = "areas (parks, schools) are reached at points every 50 m along their edge; radius indicators use every station"
    used = np.unique(origins.weights["origin"].to_numpy())  # origins that carry a weight
    lost = int((~o_snap.ok[used]).sum())
    rec = ledger.layer("walk-network snapping: residential origins")
    rec.read += len(used)
    rec.kept += len(used) - lost
    if lost:
        rec.dropped[f"more than {snap_max:g} m from the walk network (counted as not covered)"] += (
            lost
        )
    pieces = net.n_components()
    if pieces > 1:
        rec.note = (
            f"the walk network is in {pieces} unconnected pieces: homes and facilities on different pieces are "
            "not reachable (distance inf)"
        )
    stats = {
        "targets_not_snapped": int((~snapped).sum()),
        "origins_not_snapped": lost,
        "cutoff_m": cutoff,
        "walk_components": pieces,
    }
    return pd.DataFrame(d, columns=groups), stats, _Reach(node_dist, t_snap, tgroups, groups)


def _service_areas(
    sa: StudyArea, lc: LifeCircleParams, radius_m: float, net: Network, reach: _Reach
) -> gpd.GeoDataFrame:
    """Service-area polygons: one per facility category at its tier distance, one per station kind at ``radius_m``."""
    cat = sa.catalogue
    spec = [(c.id, c.tier, cat.tiers[c.tier].distance_m) for c in cat.categories.values()]
    spec += [(k, f"{radius_m:g}m", radius_m) for k in PROXIMITY]
    assert [g for g, _, _ in spec] == reach.groups
    return service_area_frame(
        net,
        reach.node_dist,
        spec,
        buffer_m=lc.service_area_buffer_m,
        crs=sa.crs,
        sources=reach.targets,
        source_groups=reach.target_groups,
        form=lc.service_areas,
        max_pieces=lc.service_area_max_pieces,
        simplify_m=lc.service_area_simplify_m,
    )
