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

from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from ditan.spatial.crs.metric import ensure_projected
from ditan.spatial.engine.carriageway_search import (
    _MIN_PIECE_M,
    NEVER,
    ONEWAY_FORWARD,
    ONEWAY_REVERSE,
    TWO_WAY,
    UNKNOWN,
    _segment_candidates,
    _segment_pieces,
    _segments,
)

__all__ = [
    "oneway_state",
    "road_pieces",
    "pair_carriageways",
    "paired_runs",
    "merge_runs",
    "consolidate_junctions",
]

_FORWARD = {"yes", "true", "1"}
_REVERSE = {"-1", "reverse"}
_IMPLIED_ONEWAY = {"motorway"}
_ROUNDABOUT = {"roundabout", "circular"}


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
    pc = _pairing(roads, road_class, max_gap_m, max_angle_deg, piece_m, every_piece=True)
    geom = (
        shapely.linestrings(np.stack([pc.a, pc.b], axis=1))
        if len(pc.road)
        else np.array([], dtype=object)
    )
    weight = np.where(pc.paired, 0.5, 1.0)
    return gpd.GeoDataFrame({"road": pc.road, "weight": weight}, geometry=geom, crs=roads.crs)


def paired_runs(
    roads: gpd.GeoDataFrame,
    road_class: np.ndarray | pd.Series,
    *,
    max_gap_m: float = 40.0,
    max_angle_deg: float = 20.0,
    piece_m: float = 20.0,
) -> gpd.GeoDataFrame:
    """The stretches of road that are one carriageway of a divided road (weight 0.5), joined into lines.

    Equal, row for row, to ``merge_runs(pair_carriageways(...))`` restricted to weight < 1, but cut
    into pieces only the straight segments that another road's segment may lie beside: on a city of
    a million nodes that is a small fraction of the 10 M pieces of 20 m.
    """
    ensure_projected(roads, "roads")
    pc = _pairing(roads, road_class, max_gap_m, max_angle_deg, piece_m, every_piece=False)
    k = np.flatnonzero(pc.paired)
    # the piece before each paired piece in the order of every piece (pair_carriageways'): the previous piece of
    # its segment, or the last of the previous segment (every kept segment has at least one piece)
    follows = np.zeros(len(k), dtype=bool)
    if len(k) > 1:
        i, j = k[:-1], k[1:]
        same_seg = (pc.seg[j] == pc.seg[i]) & (pc.idx[j] == pc.idx[i] + 1)
        next_seg = (pc.seg[j] == pc.seg[i] + 1) & (pc.idx[j] == 0) & pc.last[i]
        follows[1:] = same_seg | next_seg
    road, a, b = pc.road[k], pc.a[k], pc.b[k]
    weight = np.full(len(k), 0.5)
    first, lines = _merge(road, weight, a, b, follows)
    return gpd.GeoDataFrame(
        {"road": road[first], "weight": weight[first]},
        geometry=lines if len(k) else np.array([], dtype=object),
        crs=roads.crs,
    )


class _Pieces(NamedTuple):
    """Pieces in the order of :func:`road_pieces`: road, segment, position in the segment, last of it, ends, paired."""

    road: np.ndarray
    seg: np.ndarray
    idx: np.ndarray
    last: np.ndarray
    a: np.ndarray
    b: np.ndarray
    paired: np.ndarray


def _pairing(
    roads: gpd.GeoDataFrame,
    road_class: np.ndarray | pd.Series,
    max_gap_m: float,
    max_angle_deg: float,
    piece_m: float,
    *,
    every_piece: bool,
) -> _Pieces:
    """Pieces and their pairing flag: every piece, or (``every_piece=False``) only those of segments that may pair."""
    cls_code = pd.factorize(pd.Series(np.asarray(road_class, dtype=object)), use_na_sentinel=True)[
        0
    ]
    names = (
        roads["name"] if "name" in roads.columns else pd.Series([None] * len(roads), dtype=object)
    )
    names = names.astype(object).where(names.notna() & (names.astype(str).str.strip() != ""), None)
    name_code = pd.factorize(names.reset_index(drop=True), use_na_sentinel=True)[0]
    state = oneway_state(roads)
    geoms = roads.geometry.to_numpy()
    seg_road, sa, sb = _segments(geoms)
    s, t = _segment_candidates(
        geoms, seg_road, sa, sb, cls_code, name_code, state, max_gap_m, max_angle_deg, piece_m
    )
    sel = np.arange(len(seg_road)) if every_piece else np.unique(np.concatenate([s, t]))
    seg, idx, last, pa, pb = _segment_pieces(sa, sb, sel, piece_m)
    road = seg_road[seg]
    paired = np.zeros(len(seg), dtype=bool)
    if len(s):
        # candidate piece pairs: every piece p of s against the pieces of t around the projection of p's midpoint
        first = np.searchsorted(seg, sel)
        n_pieces = np.bincount(np.searchsorted(sel, seg), minlength=len(sel))
        ps, pt = np.searchsorted(sel, s), np.searchsorted(sel, t)
        row = np.repeat(np.arange(len(s)), n_pieces[ps])
        p = np.arange(len(row)) - np.repeat(np.cumsum(n_pieces[ps]) - n_pieces[ps], n_pieces[ps])
        p += first[ps][row]
        tr = t[row]
        d = sb[tr] - sa[tr]
        length = np.hypot(*d.T)
        along = np.einsum("ij,ij->i", (pa[p] + pb[p]) / 2.0 - sa[tr], d) / length
        nt = n_pieces[pt][row]
        j = np.floor(along / length * nt).astype(np.int64)
        p = np.repeat(p, 3)
        q = np.clip(
            np.repeat(j, 3) + np.tile(np.array([-1, 0, 1]), len(j)), 0, np.repeat(nt, 3) - 1
        )
        q += np.repeat(first[pt][row], 3)
        ok = _beside(
            p,
            q,
            road,
            pa,
            pb,
            cls_code,
            name_code,
            state,
            max_gap_m=max_gap_m,
            max_angle_deg=max_angle_deg,
        )
        paired[p[ok]] = True
    return _Pieces(road, seg, idx, last, pa, pb, paired)


def _beside(
    p: np.ndarray,
    q: np.ndarray,
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
    """Boolean per candidate piece pair (p, q): the piece q of another road lies beside p (the pairing rule)."""
    rp, rq = road[p], road[q]
    ok = (rp != rq) & (cls_code[rp] == cls_code[rq])
    ok &= (name_code[rp] < 0) | (name_code[rq] < 0) | (name_code[rp] == name_code[rq])
    sp, sq = state[rp], state[rq]
    oneway_p, oneway_q = np.abs(sp) == 1, np.abs(sq) == 1
    ok &= (oneway_p & oneway_q) | ((sp == UNKNOWN) & (sq == UNKNOWN))
    ok &= (cls_code[rp] >= 0) & (sp != NEVER) & (sp != TWO_WAY)
    dp, dq = b[p] - a[p], b[q] - a[q]
    lp, lq = np.hypot(*dp.T), np.hypot(*dq.T)
    # direction of travel: drawing direction, reversed for oneway=-1
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.einsum("ij,ij->i", dp, dq) / (lp * lq) * np.where(oneway_p, sp * sq, 1)
        limit = np.cos(np.radians(max_angle_deg))
        direction_ok = np.where(oneway_p, cos <= -limit, np.abs(cos) >= limit)
        mid = (a[p] + b[p]) / 2.0
        rel = mid - a[q]
        along = np.einsum("ij,ij->i", rel, dq) / lq
        perp = np.abs(dq[:, 0] * rel[:, 1] - dq[:, 1] * rel[:, 0]) / lq
    beside = (along >= 0.0) & (along <= lq) & (perp <= max_gap_m)
    return ok & direction_ok & beside


def merge_runs(pieces: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Join consecutive pieces of the same road with the same weight back into lines (fewer, same length)."""
    if len(pieces) == 0:
        return pieces.copy()
    xy = shapely.get_coordinates(pieces.geometry.to_numpy()).reshape(-1, 2, 2)
    road, w = pieces["road"].to_numpy(), pieces["weight"].to_numpy()
    first, lines = _merge(road, w, xy[:, 0], xy[:, 1], np.ones(len(pieces), dtype=bool))
    return gpd.GeoDataFrame(
        {"road": road[first], "weight": w[first]}, geometry=lines, crs=pieces.crs
    )


def _merge(
    road: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray, follows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive pieces (same road and weight, end to start, ``follows`` its predecessor): first piece, line."""
    n = len(road)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.array([], dtype=object)
    new = np.ones(n, dtype=bool)
    new[1:] = (
        (road[1:] != road[:-1]) | (w[1:] != w[:-1]) | np.any(a[1:] != b[:-1], axis=1) | ~follows[1:]
    )
    run = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, n - 1)
    # vertices of a run: every piece's start, then the last piece's end
    pts = np.concatenate([a, b[last]])
    pts_run = np.concatenate([run, run[last]])
    pos = np.concatenate([np.arange(n), last + 0.5])
    order = np.lexsort((pos, pts_run))
    return first, shapely.linestrings(pts[order], indices=pts_run[order])


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
