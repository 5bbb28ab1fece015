"""Divided roads counted once, and the junctions of divided roads counted once.

OpenStreetMap (and Overture) draw a divided road — a road with a central reservation — as two
one-way carriageways, typically 10–40 m apart. Measuring every line would count that road twice,
and one crossing of two divided roads would become up to four junctions.

**Divided roads.** Every road line is cut into straight pieces of at most ``piece_m`` (20 m).
A piece is *one carriageway of a divided road*, and counts with weight 0.5, when a piece of
another road line lies beside it:

* both have the same road class;
* their names are compatible: equal when both are named, anything when either is unnamed;
* their directions agree within ``max_angle_deg`` (20°):

  - when both lines are one-way (OSM ``oneway`` = yes / true / 1, or -1 / reverse for a way drawn
    against the traffic; ``highway=motorway`` is one-way by OSM's implied rule), their directions
    of travel must be opposite (antiparallel);
  - when the data carry no one-way information at all (no ``oneway`` column, or one that is
    empty everywhere, as in Overture), the lines may be parallel or antiparallel;
  - otherwise — a one-way line beside a two-way line (OSM ``oneway=no``, or untagged, which OSM
    defines as two-way), two two-way lines, or any part of a roundabout — they are not paired;

* the perpendicular distance from the piece's midpoint to the other piece is at most
  ``max_gap_m`` (40 m), and the midpoint's projection falls within the other piece, so the two
  run side by side rather than end to end.

Every other piece counts with weight 1. Both carriageways of a divided road get 0.5, so their
summed length equals one centre line. A piece beside several opposite carriageways still counts
0.5 (a main road with same-named, same-class side roads is counted as two roads, not four).

**Junctions.** Junction nodes closer than ``2 × tolerance_m`` (2 × 15 m) to one another, directly
or through a chain of such nodes, are one junction. This is the geometric rule of
``osmnx.simplification.consolidate_intersections(..., rebuild_graph=False)``: buffer every node
by the tolerance, dissolve, one junction per resulting polygon. The junction's position here is
the centroid of its nodes; osmnx reports the centroid of the dissolved polygon, which may differ
by a few metres but never changes the count.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from ditan.spatial.crs.metric import ensure_projected

__all__ = [
    "oneway_state",
    "road_pieces",
    "pair_carriageways",
    "merge_runs",
    "consolidate_junctions",
]

#: one-way states of a road line
ONEWAY_FORWARD, ONEWAY_REVERSE, TWO_WAY, UNKNOWN, NEVER = 1, -1, 0, 2, 3
_FORWARD = {"yes", "true", "1"}
_REVERSE = {"-1", "reverse"}
_IMPLIED_ONEWAY = {"motorway"}
_ROUNDABOUT = {"roundabout", "circular"}
#: pieces shorter than this (floating-point noise) are dropped
_MIN_PIECE_M = 1e-9


def oneway_state(roads: pd.DataFrame) -> np.ndarray:
    """One-way state of each road line: ONEWAY_FORWARD, ONEWAY_REVERSE, TWO_WAY, UNKNOWN or NEVER."""
    n = len(roads)
    raw = (
        roads["oneway"]
        if "oneway" in roads.columns
        else pd.Series([None] * n, index=roads.index, dtype=object)
    )
    if raw.isna().all():
        state = np.full(n, UNKNOWN, dtype=np.int64)
    else:
        v = (
            raw.astype(object)
            .where(raw.notna(), None)
            .map(lambda s: None if s is None else str(s).strip().lower())
        )
        state = np.full(n, TWO_WAY, dtype=np.int64)
        if "highway" in roads.columns:
            state[(roads["highway"].isin(_IMPLIED_ONEWAY) & v.isna()).to_numpy()] = ONEWAY_FORWARD
        state[v.isin(_FORWARD).to_numpy()] = ONEWAY_FORWARD
        state[v.isin(_REVERSE).to_numpy()] = ONEWAY_REVERSE
    if "junction" in roads.columns:
        state[roads["junction"].isin(_ROUNDABOUT).to_numpy()] = NEVER
    return state


def road_pieces(
    lines: np.ndarray, *, piece_m: float = 20.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut (Multi)LineStrings into straight pieces of at most ``piece_m``: (line position, start xy, end xy)."""
    parts, part_line = shapely.get_parts(np.asarray(lines, dtype=object), return_index=True)
    coords, idx = shapely.get_coordinates(shapely.segmentize(parts, piece_m), return_index=True)
    same = idx[1:] == idx[:-1]
    a, b, line = coords[:-1][same], coords[1:][same], part_line[idx[:-1][same]]
    keep = np.hypot(*(b - a).T) > _MIN_PIECE_M
    return line[keep], a[keep], b[keep]


def pair_carriageways(
    roads: gpd.GeoDataFrame,
    road_class: np.ndarray | pd.Series,
    *,
    max_gap_m: float = 40.0,
    max_angle_deg: float = 20.0,
    piece_m: float = 20.0,
) -> gpd.GeoDataFrame:
    """Cut roads into pieces and weight each: 0.5 for one carriageway of a divided road, else 1.

    ``road_class`` gives each row's class (rows with a null class are never paired). Returns
    pieces with ``road`` (row position in ``roads``), ``weight`` and a 2-point geometry, in the
    CRS of ``roads`` (which must be metric). The rule is in the module docstring.
    """
    ensure_projected(roads, "roads")
    cls_code = pd.factorize(pd.Series(np.asarray(road_class, dtype=object)), use_na_sentinel=True)[
        0
    ]
    names = (
        roads["name"] if "name" in roads.columns else pd.Series([None] * len(roads), dtype=object)
    )
    names = names.astype(object).where(names.notna() & (names.astype(str).str.strip() != ""), None)
    name_code = pd.factorize(names.reset_index(drop=True), use_na_sentinel=True)[0]
    state = oneway_state(roads)

    road, a, b = road_pieces(roads.geometry.to_numpy(), piece_m=piece_m)
    geom = (
        shapely.linestrings(np.stack([a, b], axis=1)) if len(road) else np.array([], dtype=object)
    )
    weight = np.ones(len(road))
    if len(road):
        paired = _paired(
            road, a, b, cls_code, name_code, state, max_gap_m=max_gap_m, max_angle_deg=max_angle_deg
        )
        weight[paired] = 0.5
    return gpd.GeoDataFrame({"road": road, "weight": weight}, geometry=geom, crs=roads.crs)


def _paired(
    road: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    cls_code: np.ndarray,
    name_code: np.ndarray,
    state: np.ndarray,
    *,
    max_gap_m: float,
    max_angle_deg: float,
) -> np.ndarray:
    """Boolean per piece: another road's piece lies beside it (the pairing rule)."""
    pairable = (cls_code[road] >= 0) & (state[road] != NEVER) & (state[road] != TWO_WAY)
    cand = np.flatnonzero(pairable)
    pi, qi = _near_parallel(
        a[cand], b[cand], cls_code[road[cand]], max_gap_m=max_gap_m, max_angle_deg=max_angle_deg
    )
    p, q = cand[pi], cand[qi]
    rp, rq = road[p], road[q]
    ok = (rp != rq) & (cls_code[rp] == cls_code[rq])
    ok &= (name_code[rp] < 0) | (name_code[rq] < 0) | (name_code[rp] == name_code[rq])
    sp, sq = state[rp], state[rq]
    oneway_p, oneway_q = np.abs(sp) == 1, np.abs(sq) == 1
    ok &= (oneway_p & oneway_q) | ((sp == UNKNOWN) & (sq == UNKNOWN))
    p, q, sp, sq, oneway_p = p[ok], q[ok], sp[ok], sq[ok], oneway_p[ok]

    dp, dq = b[p] - a[p], b[q] - a[q]
    lp, lq = np.hypot(*dp.T), np.hypot(*dq.T)
    # direction of travel: drawing direction, reversed for oneway=-1
    cos = np.einsum("ij,ij->i", dp, dq) / (lp * lq) * np.where(oneway_p, sp * sq, 1)
    limit = np.cos(np.radians(max_angle_deg))
    direction_ok = np.where(oneway_p, cos <= -limit, np.abs(cos) >= limit)
    mid = (a[p] + b[p]) / 2.0
    rel = mid - a[q]
    along = np.einsum("ij,ij->i", rel, dq) / lq
    perp = np.abs(dq[:, 0] * rel[:, 1] - dq[:, 1] * rel[:, 0]) / lq
    beside = (along >= 0.0) & (along <= lq) & (perp <= max_gap_m)
    paired = np.zeros(len(road), dtype=bool)
    paired[p[direction_ok & beside]] = True
    return paired


def _near_parallel(
    a: np.ndarray, b: np.ndarray, cls: np.ndarray, *, max_gap_m: float, max_angle_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairs (i, j) of pieces of one class that may be beside each other: a superset of the pairing rule.

    Each piece becomes a 4-d point: its midpoint and, at radius ``R``, its undirected direction on a circle
    (angle doubled). Pieces beside each other have midpoints within ``reach = max_gap_m + longest / 2`` and
    directions whose points lie within the chord ``c`` of ``2 × max_angle_deg``; so they lie within
    ``√(reach² + c²)`` in 4-d. With ``R = reach`` crossing streets (chord ``2R``) fall outside: the k-d
    tree pairs far fewer pieces than a plain distance query, and the exact tests follow in ``_paired``.
    """
    d = b - a
    length = np.hypot(*d.T)
    reach = max_gap_m + length.max(initial=0.0) / 2.0 + 1e-6
    theta2 = 2.0 * np.arctan2(d[:, 1], d[:, 0])
    chord = 2.0 * reach * np.sin(np.radians(min(max_angle_deg, 90.0)))
    pts = np.column_stack([(a + b) / 2.0, reach * np.cos(theta2), reach * np.sin(theta2)])
    radius = np.hypot(reach, chord) * (1 + 1e-9)
    out_i, out_j = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    order = np.argsort(cls, kind="stable")
    bounds = np.flatnonzero(np.r_[True, cls[order][1:] != cls[order][:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):  # one tree per road class (a handful)
        members = order[s:e]
        pairs = cKDTree(pts[members]).query_pairs(r=radius, output_type="ndarray")
        out_i += [members[pairs[:, 0]], members[pairs[:, 1]]]
        out_j += [members[pairs[:, 1]], members[pairs[:, 0]]]
    return np.concatenate(out_i), np.concatenate(out_j)


def merge_runs(pieces: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Join consecutive pieces of the same road with the same weight back into lines (fewer, same length)."""
    if len(pieces) == 0:
        return pieces.copy()
    xy = shapely.get_coordinates(pieces.geometry.to_numpy()).reshape(-1, 2, 2)
    road, w = pieces["road"].to_numpy(), pieces["weight"].to_numpy()
    new = np.ones(len(pieces), dtype=bool)
    new[1:] = (road[1:] != road[:-1]) | (w[1:] != w[:-1]) | np.any(xy[1:, 0] != xy[:-1, 1], axis=1)
    run = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(pieces) - 1)
    # vertices of a run: every piece's start, then the last piece's end
    pts = np.concatenate([xy[:, 0], xy[last, 1]])
    pts_run = np.concatenate([run, run[last]])
    pos = np.concatenate([np.arange(len(pieces)), last + 0.5])
    order = np.lexsort((pos, pts_run))
    lines = shapely.linestrings(pts[order], indices=pts_run[order])
    return gpd.GeoDataFrame(
        {"road": road[first], "weight": w[first]}, geometry=lines, crs=pieces.crs
    )


def consolidate_junctions(
    xy: np.ndarray, *, tolerance_m: float = 15.0
) -> tuple[np.ndarray, np.ndarray]:
    """Merge junction nodes closer than ``2 × tolerance_m`` (chained): (label per node, centre per junction).

    Same clusters as osmnx's ``consolidate_intersections(rebuild_graph=False)``; the centre is the
    centroid of the cluster's nodes (osmnx: the centroid of the dissolved buffers). A tolerance
    of 0 leaves every node its own junction.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    k = len(xy)
    if k == 0 or tolerance_m <= 0:
        return np.arange(k), xy.copy()
    pairs = cKDTree(xy).query_pairs(r=2.0 * tolerance_m, output_type="ndarray")
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    n, labels = csgraph.connected_components(graph, directed=False)
    count = np.bincount(labels, minlength=n)
    centres = np.stack(
        [np.bincount(labels, weights=xy[:, i], minlength=n) / count for i in range(2)], axis=1
    )
    return labels, centres
