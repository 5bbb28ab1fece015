"""The main job: every indicator family for every unit of a StudyArea (orchestration only)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from pipelines.config import Config
from spatial.indicators import green, intensity, landuse, life_circle, roads, transit
from spatial.indicators.origins import Origins, residential_origins
from spatial.network import Network, access_points, build_network, nearest_by_group
from spatial.standards.registry import Indicator, life_circle_indicator, registry
from spatial.study_area import StudyArea

log = logging.getLogger(__name__)
PROXIMITY = list(transit.PROXIMITY_KINDS)


@dataclass
class Timer:
    """Wall time of each stage; ``on_stage`` lets the CLI show progress."""

    seconds: dict[str, float] = field(default_factory=dict)
    on_stage: Callable[[str], None] | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.on_stage:
            self.on_stage(name)
        t0 = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - t0, 3)


@dataclass
class RunResult:
    indicators: pd.DataFrame  # index unit_id, registry columns
    units: gpd.GeoDataFrame  # units with the indicators
    columns: dict[str, Indicator]  # the registry entries of the columns, in order
    network: Network
    origin_distances: pd.DataFrame  # per residential origin: network metres to each category / station kind
    stats: dict


def walk_roads(sa: StudyArea, cfg: Config) -> gpd.GeoDataFrame:
    """Walkable ways: all highways but the excluded classes and those tagged foot/access=no."""
    r = sa.roads
    keep = ~r["highway"].isin(cfg.life_circle.walk_exclude)
    for key in ("foot", "access"):
        if key in r:
            keep &= ~r[key].isin(["no"])
    return r[keep]


def column_registry(sa: StudyArea) -> dict[str, Indicator]:
    """Registry entries of every output column, in table order (life-circle categories inserted)."""
    cat = sa.catalogue
    lc = [
        life_circle_indicator(c.id, c.zh, c.en, cat.tiers[c.tier].zh, cat.tiers[c.tier].distance_m)
        for c in cat.categories.values()
    ]
    reg = registry(lc)
    order = list(registry().keys())
    at = order.index("lc_basis") + 1
    order[at:at] = [i.id for i in lc]
    return {k: reg[k] for k in order}


def compute(sa: StudyArea, cfg: Config, timer: Timer | None = None) -> RunResult:
    timer = timer or Timer()
    units = sa.units
    n = len(units)
    idx = units.index
    parts: list[pd.DataFrame] = [pd.DataFrame({"name": units["name"], "area_km2": units.geometry.area / 1e6}, index=idx)]
    include = tuple(cfg.roads.include)
    with timer.stage("roads"):
        parts.append(roads.road_density(units, sa.roads, include=include))
        parts.append(roads.intersection_density(units, sa.roads, include=include))
    with timer.stage("intensity"):
        pieces = intensity.building_pieces(units, sa.buildings)
        parts.append(intensity.intensity(units, sa.buildings, pieces))
    with timer.stage("land use"):
        faces = landuse.landuse_faces(sa.landuse)
        parts.append(landuse.landuse_shares(units, faces))
    with timer.stage("green coverage"):
        if sa.landcover is not None:
            lc = sa.landcover
            parts.append(green.green_coverage_from_raster(units, lc.path, vegetation_classes=lc.vegetation_classes,
                                                          ndvi_threshold=lc.ndvi_threshold, nodata=lc.nodata))  # fmt: skip
        else:
            parts.append(green.green_coverage_from_polygons(units, sa.vegetation))
    with timer.stage("walk network"):
        net = build_network(walk_roads(sa, cfg).geometry.to_numpy())
        origins = residential_origins(units, sa.buildings, pieces, faces)
    with timer.stage("network distances"):
        dist, stats = _distances(sa, cfg, net, origins)
    with timer.stage("life circles and 500 m"):
        parts.append(pd.DataFrame({"residential_floor_area_m2": origins.floor_area_m2(n)}, index=idx))
        parts.append(life_circle.life_circle_coverage(n, origins, dist, sa.catalogue, index=idx))
        radius = transit.straight_distances(origins.points, sa.stations, PROXIMITY)
        parts.append(transit.proximity_coverage(n, origins, radius, dist[PROXIMITY], index=idx, radius_m=cfg.transit.radius_m))
        parts.append(transit.station_counts(units, sa.stations))
    table = pd.concat(parts, axis=1)
    cols = column_registry(sa)
    table = table[[c for c in cols if c in table.columns and c != "unit_id"]]
    table.index.name = "unit_id"
    stats.update(walk_nodes=net.n_nodes, walk_edges=len(net.u), walk_components=net.n_components(), origins=len(origins.points))
    out_units = gpd.GeoDataFrame(table.drop(columns=["name"]).join(units[["name", "geometry"]]), geometry="geometry", crs=units.crs)
    return RunResult(indicators=table, units=out_units, columns=cols, network=net, origin_distances=dist, stats=stats)


def _distances(sa: StudyArea, cfg: Config, net: Network, origins: Origins) -> tuple[pd.DataFrame, dict]:
    """Walking distance from every origin to the nearest facility of each category and station kind."""
    groups = list(sa.catalogue.categories) + PROXIMITY
    fac = sa.facilities
    st = sa.stations[sa.stations["kind"].isin(PROXIMITY)]
    fac_pts, owner = access_points(fac.geometry.to_numpy(), fac["outline"].to_numpy() if "outline" in fac else None)
    targets = np.concatenate([fac_pts, st.geometry.to_numpy()])
    gid = {g: i for i, g in enumerate(groups)}
    tgroups = np.concatenate([fac["category"].map(gid).to_numpy()[owner], st["kind"].map(gid).to_numpy()]).astype(np.int64)
    cutoff = max([t.distance_m for t in sa.catalogue.tiers.values()] + [cfg.transit.radius_m])
    d, o_snap, t_snap = nearest_by_group(net, origins.points, targets, tgroups, len(groups), cutoff_m=cutoff, snap_max_m=cfg.life_circle.snap_max_m)
    snap_max = cfg.life_circle.snap_max_m
    # a facility counts as reached on the network when any of its access points snapped
    feature = np.concatenate([owner, len(fac) + np.arange(len(st))])
    snapped = np.zeros(len(fac) + len(st), dtype=bool)
    snapped[feature[t_snap.ok]] = True
    rec = sa.ledger.layer("walk-network snapping: facilities and stations")
    rec.read += len(snapped)
    rec.kept += int(snapped.sum())
    if (~snapped).any():
        rec.dropped[f"more than {snap_max:g} m from the walk network (not used for network distances)"] += int((~snapped).sum())
    rec.note = "areas (parks, schools) are reached at points every 50 m along their edge; radius indicators use every station"
    used = np.unique(origins.weights["origin"].to_numpy())  # origins that carry a weight
    lost = int((~o_snap.ok[used]).sum())
    rec = sa.ledger.layer("walk-network snapping: residential origins")
    rec.read += len(used)
    rec.kept += len(used) - lost
    if lost:
        rec.dropped[f"more than {snap_max:g} m from the walk network (counted as not covered)"] += lost
    stats = {"targets_not_snapped": int((~snapped).sum()), "origins_not_snapped": lost, "cutoff_m": cutoff}
    return pd.DataFrame(d, columns=groups), stats
