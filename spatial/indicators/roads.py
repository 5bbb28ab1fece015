"""Road network density (km/km²) by Chinese road class, and intersection density.

OSM highway values map to the four classes of GB/T 51328: 快速路 expressway (motorway, trunk),
主干路 arterial (primary), 次干路 collector (secondary), 支路 local (tertiary, residential,
unclassified, living_street); links go with their road. Service roads, footways, cycleways,
paths and tracks are not city roads and are excluded unless the config includes them (they
then count as local roads).

Rules:

* **Divided roads count once.** A divided road is drawn as two one-way carriageways 10–40 m
  apart; each carriageway counts half, so the pair counts as one centre line
  (ditan.spatial.engine.carriageways has the exact pairing rule: same class, compatible names,
  opposite one-way directions within 20° — either direction when the data carry no one-way
  tags — side by side within 40 m). ``road_length_naive_km``
  keeps the old measure, every carriageway counted in full, to show the overstatement.
* **Boundaries.** Roads are clipped to each unit; a road on a boundary shared by k units counts
  1/k to each (ditan.spatial.engine.allocate).
* **Junctions count once.** Intersections are nodes where ≥ 3 city-road segments meet, on the
  whole network. Nodes closer than 2 × 15 m to one another (the corners where two divided roads
  cross, the two ends of a staggered crossing) are one junction, as in osmnx's
  consolidate_intersections; the junction is placed at the centroid of its nodes and a junction
  on a boundary shared by k units counts 1/k. ``intersection_count_raw`` keeps the old count of
  unconsolidated nodes (same boundary rule).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.allocate import line_pieces, point_units
from ditan.spatial.engine.carriageways import consolidate_junctions, paired_runs

__all__ = ["classify_roads", "road_density", "intersection_density", "node_degree"]

ROAD_CLASS = {
    "motorway": "expressway", "motorway_link": "expressway", "trunk": "expressway", "trunk_link": "expressway",
    "primary": "arterial", "primary_link": "arterial",
    "secondary": "collector", "secondary_link": "collector",
    "tertiary": "local", "tertiary_link": "local", "residential": "local", "unclassified": "local",
    "living_street": "local",
}  # fmt: skip
CLASS_NAMES = {
    "expressway": ("快速路", "Expressway"),
    "arterial": ("主干路", "Arterial"),
    "collector": ("次干路", "Collector"),
    "local": ("支路", "Local"),
}
DEFAULT_INCLUDED = tuple(ROAD_CLASS)


def classify_roads(
    roads: gpd.GeoDataFrame, *, include: tuple[str, ...] = DEFAULT_INCLUDED
) -> pd.Series:
    """Chinese road class of each road ('expressway' … 'local'), None where not a counted city road."""
    hw = roads["highway"].astype(object)
    cls = hw.map(ROAD_CLASS)
    extra = hw.isin(include) & cls.isna()
    cls[extra] = "local"
    cls[~hw.isin(include)] = None
    return cls


def road_density(
    units: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    *,
    include: tuple[str, ...] = DEFAULT_INCLUDED,
    divided: bool = True,
    max_gap_m: float = 40.0,
) -> pd.DataFrame:
    """road_length_km, road_length_naive_km, road_density_km_per_km2 and one density column per class, per unit.

    With ``divided`` the two carriageways of a divided road count half each (road_length_km and
    the densities); road_length_naive_km always counts every carriageway in full.
    """
    ensure_projected(units, "units")
    ensure_projected(roads, "roads")
    cls = classify_roads(roads, include=include)
    city = roads[cls.notna().to_numpy()]
    city_cls = cls[cls.notna()].to_numpy()
    unit_geoms = units.geometry.to_numpy()
    area_km2 = units.geometry.area.to_numpy() / 1e6
    with ThreadPoolExecutor(1) as side:
        # the carriageways are paired on a second thread while the lengths are clipped (GEOS and numpy
        # work, mostly without the GIL; neither changes what the other reads)
        pairing = side.submit(paired_runs, city, city_cls, max_gap_m=max_gap_m) if divided else None
        naive = _km_by_class(
            unit_geoms, city.geometry.to_numpy(), city_cls, np.ones(len(city)), len(units)
        )
    if pairing is not None:
        # the paired stretches (weight 0.5) are the only difference from the naive length: subtract half of them
        half = pairing.result()
        road = half["road"].to_numpy()
        by = naive - _km_by_class(
            unit_geoms,
            half.geometry.to_numpy(),
            city_cls[road],
            1.0 - half["weight"].to_numpy(),
            len(units),
        )
    else:
        by = naive
    out = pd.DataFrame(index=units.index)
    out["road_length_km"] = by.sum(axis=1).to_numpy()
    out["road_length_naive_km"] = naive.sum(axis=1).to_numpy()
    out["road_density_km_per_km2"] = out["road_length_km"] / area_km2
    for c in CLASS_NAMES:
        out[f"road_density_{c}_km_per_km2"] = by[c].to_numpy() / area_km2
    return out


def _km_by_class(
    unit_geoms: np.ndarray,
    lines: np.ndarray,
    line_cls: np.ndarray,
    weight: np.ndarray,
    n_units: int,
) -> pd.DataFrame:
    """Weighted km of lines per unit (rows, by position) and class (columns), boundary lengths split."""
    pieces = line_pieces(unit_geoms, lines)
    line = pieces["line"].to_numpy()
    pieces["km"] = pieces["length_m"].to_numpy() * weight[line] / 1000.0
    pieces["cls"] = line_cls[line]
    by = pieces.pivot_table(index="unit", columns="cls", values="km", aggfunc="sum")
    return by.reindex(index=range(n_units), columns=list(CLASS_NAMES)).fillna(0.0)


def intersection_density(
    units: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    *,
    include: tuple[str, ...] = DEFAULT_INCLUDED,
    junction_tolerance_m: float = 15.0,
) -> pd.DataFrame:
    """intersection_count, intersection_count_raw and intersection_density_per_km2.

    Junction nodes are nodes where ≥ 3 city-road segments meet; the degree is taken on the
    whole network (roads outside the unit still make a junction a junction). Nodes closer than
    ``2 × junction_tolerance_m`` are one junction (0 disables this); intersection_count_raw
    counts the nodes themselves. A junction or node on a boundary shared by k units counts 1/k.
    """
    ensure_projected(units, "units")
    ensure_projected(roads, "roads")
    cls = classify_roads(roads, include=include)
    node_xy, degree = node_degree(roads.geometry.to_numpy()[cls.notna().to_numpy()])
    nodes = node_xy[degree >= 3]
    labels, centres = consolidate_junctions(nodes, tolerance_m=junction_tolerance_m)
    unit_geoms = units.geometry.to_numpy()
    raw = _allocate(unit_geoms, nodes)
    # a junction of one node is that node (its centre is the node's coordinates, exactly): reuse its allocation
    size = np.bincount(labels, minlength=len(centres))
    alone = size[labels] == 1
    merged = np.flatnonzero(size > 1)
    alloc = pd.concat(
        [
            raw[alone[raw["point"].to_numpy()]].assign(
                point=lambda t: labels[t["point"].to_numpy()]
            ),
            _allocate(unit_geoms, centres[merged]).assign(
                point=lambda t: merged[t["point"].to_numpy()]
            ),
        ]
    )
    # rows in the order point_units gives for the centres: by centre, each centre's units in index order
    alloc = alloc.iloc[np.argsort(alloc["point"].to_numpy(), kind="stable")]
    count = _count(alloc, len(unit_geoms))
    out = pd.DataFrame(index=units.index)
    out["intersection_count"] = count
    out["intersection_count_raw"] = _count(raw, len(unit_geoms))
    out["intersection_density_per_km2"] = count / (units.geometry.area.to_numpy() / 1e6)
    return out


def _allocate(unit_geoms: np.ndarray, xy: np.ndarray) -> pd.DataFrame:
    """point_units of points given as coordinates."""
    return point_units(unit_geoms, shapely.points(xy) if len(xy) else np.array([], dtype=object))


def _count(alloc: pd.DataFrame, n_units: int) -> np.ndarray:
    """Points per unit, a point on a boundary shared by k units counting 1/k."""
    return np.bincount(
        alloc["unit"].to_numpy(), weights=alloc["weight"].to_numpy(), minlength=n_units
    ).astype(float)


def node_degree(lines: np.ndarray, *, precision_m: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and their degrees of the network of ``lines``: ``build_network(lines)``'s node_xy and degree().

    The same rule (vertices equal to ``precision_m`` are one node, one edge per node pair), without the edge
    geometries and their index, and with the rows sorted by one integer key instead of ``np.unique(axis=0)``.
    """
    parts = shapely.get_parts(np.asarray(lines, dtype=object))
    coords, line_idx = shapely.get_coordinates(parts, return_index=True)
    same = line_idx[1:] == line_idx[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    key = np.round(np.vstack([a, b]) / precision_m).astype(np.int64)
    if len(key) == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    # one int64 per (x, y) key, ordered as the rows (x first, then y): np.unique(key, axis=0)'s order
    low = key.min(axis=0)
    span = key.max(axis=0) - low + 1
    if span[0] < 2**62 // span[1]:
        one = (key[:, 0] - low[0]) * span[1] + (key[:, 1] - low[1])
        _, first, inv = np.unique(one, return_index=True, return_inverse=True)
        uniq = key[first]
    else:  # an extent no city has: the plain row sort
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    u, v = inv[: len(a)], inv[len(a) :]
    keep = u != v
    u, v, a, b = u[keep], v[keep], a[keep], b[keep]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    _, first = np.unique(lo * len(uniq) + hi, return_index=True)
    first = np.sort(first)
    u, v, a, b = u[first], v[first], a[first], b[first]
    node_xy = uniq.astype(float) * precision_m
    # exact coordinates of each node (first occurrence), not the rounded key
    node_xy[u] = a
    node_xy[v] = b
    return node_xy, np.bincount(np.concatenate([u, v]), minlength=len(node_xy))
