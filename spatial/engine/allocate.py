"""Shared rule for features on unit boundaries.

A line lying along the boundary shared by two units counts half to each; a point within
``BOUNDARY_TOL_M`` of the edges of k units counts 1/k to each. Summing over units that tile
the area therefore never counts a feature twice and never loses it. Units that overlap (a data
problem the loader reports) are each measured over their whole area: what lies inside both
counts in full to each. Lines are clipped to the units grown by ``OVERLAP_TOL_M``, so
a road drawn along a shared boundary is inside both even when floating-point noise puts its
vertices a hair to one side (a road cut into pieces gets interpolated vertices); the length
two units' pieces of the same line have in common is then split.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import pandas as pd
import shapely

__all__ = ["line_pieces", "point_units", "polygon_pieces"]

#: distance within which a point is "on" a unit
BOUNDARY_TOL_M = 0.5
#: distance within which a line is on a unit's boundary, and two units' pieces of one line are the same piece
#: (1 µm: a thousand times the floating-point noise of metric coordinates in the millions; where k ≥ 3 units
#: meet at a corner, a road through it loses at most ~3 µm to the pairwise split)
OVERLAP_TOL_M = 1e-6


def line_pieces(unit_geoms: np.ndarray, lines: np.ndarray) -> pd.DataFrame:
    """Clip lines to units: (unit position, line position, length_m) with shared lengths split."""
    grown = shapely.buffer(unit_geoms, OVERLAP_TOL_M, join_style="mitre")
    tree = shapely.STRtree(grown)
    li, ui = tree.query(lines, predicate="intersects")
    shapely.prepare(grown)
    # most lines lie wholly inside one unit: only those crossing a unit's edge are clipped (and lines that run
    # over themselves, whose overlay with the unit counts the doubled stretch once, as before)
    inside = shapely.contains_properly(grown[ui], lines[li])
    inside[inside] = shapely.is_simple(lines[li][inside])
    pieces = lines[li].copy()
    cut = ~inside
    pieces[cut] = _on_cores(shapely.intersection, lines[li][cut], grown[ui][cut])
    # a line touching a unit only at a point gives a piece of length 0, dropped below
    length = shapely.length(pieces)
    df = pd.DataFrame({"unit": ui, "line": li, "length_m": length, "k": np.arange(len(li))})
    df = df[df["length_m"] > 0]
    pairs = df.merge(df, on="line", suffixes=("_a", "_b"))
    pairs = pairs[pairs["unit_a"] != pairs["unit_b"]]
    if len(pairs):
        ka, kb = pairs["k_a"].to_numpy(), pairs["k_b"].to_numpy()
        ua, ub = pairs["unit_a"].to_numpy(), pairs["unit_b"].to_numpy()
        shared = _shared_length(pieces, ka, kb, unit_geoms, ua, ub)
        give = pd.Series(shared / 2.0).groupby(ka).sum()
        df["length_m"] = df["length_m"] - df["k"].map(give).fillna(0.0)
    return df[["unit", "line", "length_m"]].reset_index(drop=True)


#: two units' pieces of a line are compared inside the overlap of their bounding boxes grown by this much: every
#: point of a within 2 × OVERLAP_TOL_M of b, and the point of b nearest to it, lie well inside that window
_WINDOW_M = 10 * OVERLAP_TOL_M


def _shared_length(
    pieces: np.ndarray,
    ka: np.ndarray,
    kb: np.ndarray,
    unit_geoms: np.ndarray,
    ua: np.ndarray,
    ub: np.ndarray,
) -> np.ndarray:
    """Length piece ka has in common with piece kb along the edges of both their units (unit ua, ub), per pair.

    Only the segments of both pieces that reach into the window where they can meet matter (the overlap of their
    boxes grown by ``_WINDOW_M``: every point of a within 2 × OVERLAP_TOL_M of b, and the point of b nearest to
    it, lie inside it). Where each piece has one segment there and the two are collinear — a road crossing from
    one unit into the next, the usual case — the flat-capped buffer of b meets a in the overlap of the two along
    the line, and when the edge strips of both units contain that overlap (one GEOS predicate), its length is the
    answer. Every other pair is overlaid as the rule says, on the segments in the window (runs kept whole).
    """
    box_a, box_b = shapely.bounds(pieces[ka]), shapely.bounds(pieces[kb])
    lo = np.maximum(box_a[:, :2], box_b[:, :2]) - _WINDOW_M
    hi = np.minimum(box_a[:, 2:], box_b[:, 2:]) + _WINDOW_M
    meet = np.flatnonzero(np.all(lo <= hi, axis=1))
    shared = np.zeros(len(ka))
    if len(meet) == 0:
        return shared
    lo, hi = lo[meet], hi[meet]
    n = len(meet)
    seg_a = _window_segments(pieces[ka[meet]], lo, hi)
    seg_b = _window_segments(pieces[kb[meet]], lo, hi)
    # only where the line runs along the edge of both units: inside overlapping units it counts to each in full
    edge = shapely.buffer(shapely.boundary(unit_geoms), 2 * OVERLAP_TOL_M, cap_style="flat")
    shapely.prepare(edge)
    edge_a, edge_b = edge[ua[meet]], edge[ub[meet]]
    out = np.full(n, np.nan)
    one = np.flatnonzero(
        (np.bincount(seg_a.owner, minlength=n) == 1) & (np.bincount(seg_b.owner, minlength=n) == 1)
    )
    i, j = np.searchsorted(seg_a.owner, one), np.searchsorted(seg_b.owner, one)
    a0, a1, b0, b1 = seg_a.s0[i], seg_a.s1[i], seg_b.s0[j], seg_b.s1[j]
    la, lb = np.hypot(*(a1 - a0).T), np.hypot(*(b1 - b0).T)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (a1 - a0) / la[:, None]
    rel0, rel1 = b0 - a0, b1 - a0
    off0 = np.abs(u[:, 0] * rel0[:, 1] - u[:, 1] * rel0[:, 0])
    off1 = np.abs(u[:, 0] * rel1[:, 1] - u[:, 1] * rel1[:, 0])
    t0, t1 = np.einsum("ij,ij->i", rel0, u), np.einsum("ij,ij->i", rel1, u)
    start = np.maximum(np.minimum(t0, t1), 0.0)
    end = np.minimum(np.maximum(t0, t1), la)
    collinear = (
        (la >= _MIN_FAST_M) & (lb >= _MIN_FAST_M) & (off0 <= _COLLINEAR_M) & (off1 <= _COLLINEAR_M)
    )
    out[one[collinear & (end <= start)]] = 0.0
    k = np.flatnonzero(collinear & (end > start))
    if len(k):
        stretch = shapely.linestrings(
            np.stack([a0[k] + u[k] * start[k, None], a0[k] + u[k] * end[k, None]], axis=1)
        )
        rows = one[k]
        # one thread: a prepared geometry builds its index on first use, which threads must not share
        along = _contains_both(edge_a[rows], edge_b[rows], stretch)
        out[rows[along]] = (end - start)[k[along]]
    rest = np.flatnonzero(np.isnan(out))
    if len(rest):
        a = _runs(seg_a, rest)
        b = _runs(seg_b, rest)
        common = _on_cores(_near_b, a, b)
        # where that common stretch lies inside both edge strips (the usual case) the overlays with them change
        # nothing: only the others are overlaid
        length = shapely.length(common)
        inside = _contains_both(edge_a[rest], edge_b[rest], common) | (length == 0)
        strip = np.flatnonzero(~inside)
        length[strip] = _on_cores(
            _along_edges, common[strip], edge_a[rest][strip], edge_b[rest][strip]
        )
        out[rest] = length
    shared[meet] = out
    return shared


#: the fast path of _shared_length: both segments at least this long, and the ends of b this close to a's line
_MIN_FAST_M = 1e-3
_COLLINEAR_M = 1e-8


def _contains_both(edge_a: np.ndarray, edge_b: np.ndarray, stretch: np.ndarray) -> np.ndarray:
    return shapely.contains_properly(edge_a, stretch) & shapely.contains_properly(edge_b, stretch)


class _Segments(NamedTuple):
    """Segments of lines that reach into each line's window, in order: start, end, owner (line), run start."""

    s0: np.ndarray
    s1: np.ndarray
    owner: np.ndarray
    new_run: np.ndarray


def _window_segments(geoms: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> _Segments:
    """The segments of each (Multi)LineString whose boxes reach into its window [lo, hi], and where runs start."""
    multi = shapely.get_type_id(geoms) != 1
    if multi.any():
        parts, owner = shapely.get_parts(geoms[multi], return_index=True)
        parts = np.concatenate([geoms[~multi], parts])
        owner = np.concatenate([np.flatnonzero(~multi), np.flatnonzero(multi)[owner]])
        order = np.argsort(owner, kind="stable")
        parts, owner = parts[order], owner[order]
    else:
        parts, owner = geoms, np.arange(len(geoms))
    xy, part = shapely.get_coordinates(parts, return_index=True)
    same = np.flatnonzero(part[1:] == part[:-1])
    s0, s1, seg_part = xy[same], xy[same + 1], part[same]
    seg_owner = owner[seg_part]
    reach = np.all(
        (np.minimum(s0, s1) <= hi[seg_owner]) & (np.maximum(s0, s1) >= lo[seg_owner]), axis=1
    )
    k = np.flatnonzero(reach)
    new = np.ones(len(k), dtype=bool)
    new[1:] = (same[k[1:]] != same[k[:-1]] + 1) | (seg_part[k[1:]] != seg_part[k[:-1]])
    return _Segments(s0[k], s1[k], seg_owner[k], new)


def _runs(seg: _Segments, rows: np.ndarray) -> np.ndarray:
    """Per row (ascending line positions), its runs of consecutive segments in the window: a MultiLineString.

    Segments are kept whole and runs keep their joins, so near the window the buffer and overlays see the
    line as it is.
    """
    out = np.full(len(rows), _EMPTY_LINES, dtype=object)
    keep = np.isin(seg.owner, rows)
    k = np.flatnonzero(keep)
    if len(k) == 0:
        return out
    s0, s1, new = seg.s0[k], seg.s1[k], seg.new_run[k]
    new[0] = True
    run = np.cumsum(new) - 1
    last = np.append(np.flatnonzero(new)[1:] - 1, len(k) - 1)
    # vertices of a run: every segment's start, then the last segment's end
    pts = np.concatenate([s0, s1[last]])
    pts_run = np.concatenate([run, run[last]])
    order = np.lexsort((np.concatenate([np.arange(len(k)), last + 0.5]), pts_run))
    lines = shapely.linestrings(pts[order], indices=pts_run[order])
    row = np.searchsorted(rows, seg.owner[k][new])
    return shapely.multilinestrings(lines, indices=row, out=out)


_EMPTY_LINES = shapely.from_wkt("MULTILINESTRING EMPTY")


def _near_b(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The stretches of a within 2 × OVERLAP_TOL_M of b (flat-capped: not beyond b's ends)."""
    return shapely.intersection(a, shapely.buffer(b, 2 * OVERLAP_TOL_M, cap_style="flat"))


def _along_edges(common: np.ndarray, edge_a: np.ndarray, edge_b: np.ndarray) -> np.ndarray:
    return shapely.length(shapely.intersection(shapely.intersection(common, edge_a), edge_b))


#: below this many geometries an element-wise operation runs on one core (starting threads costs more)
_MIN_PER_CORE = 2_000


def _on_cores(func, *arrays: np.ndarray) -> np.ndarray:  # noqa: ANN001 (any element-wise shapely function)
    """``func(*arrays)`` on the machine's cores: slices of the arrays in threads (shapely releases the GIL).

    Element-wise, so the result equals the one-thread call exactly.
    """
    n = len(arrays[0])
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    workers = min(cores, n // _MIN_PER_CORE)
    if workers < 2:
        return func(*arrays)
    bounds = np.linspace(0, n, workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        parts = list(
            pool.map(
                lambda se: func(*(x[se[0] : se[1]] for x in arrays)),
                zip(bounds[:-1], bounds[1:], strict=True),
            )
        )
    return np.concatenate(parts)


def point_units(
    unit_geoms: np.ndarray, points: np.ndarray, *, tol_m: float = BOUNDARY_TOL_M
) -> pd.DataFrame:
    """Assign points to units: (unit position, point position, weight).

    A point within ``tol_m`` of the edges of k units counts 1/k to each; a point inside a unit,
    away from its edge, counts 1 to it (inside two overlapping units: 1 to each).
    """
    tree = shapely.STRtree(unit_geoms)
    pi, ui = tree.query(points, predicate="dwithin", distance=tol_m)
    on_edge = (
        shapely.dwithin(points[pi], shapely.boundary(unit_geoms[ui]), tol_m)
        if len(pi)
        else np.zeros(0, dtype=bool)
    )
    k = np.bincount(pi[on_edge], minlength=len(points))
    weight = np.where(on_edge, 1.0 / np.maximum(k[pi], 1), 1.0)
    return pd.DataFrame({"unit": ui, "point": pi, "weight": weight})


def polygon_pieces(unit_geoms: np.ndarray, polys: np.ndarray) -> pd.DataFrame:
    """Intersect polygons with units: (unit position, polygon position, area_m2) of each overlap."""
    tree = shapely.STRtree(unit_geoms)
    pi, ui = tree.query(polys, predicate="intersects")
    shapely.prepare(unit_geoms)
    # a polygon wholly inside the unit (most buildings, parcels) needs no overlay
    inside = shapely.contains_properly(unit_geoms[ui], polys[pi])
    area = shapely.area(polys[pi])
    area[~inside] = shapely.area(shapely.intersection(polys[pi[~inside]], unit_geoms[ui[~inside]]))
    keep = area > 0
    return pd.DataFrame({"unit": ui[keep], "poly": pi[keep], "area_m2": area[keep]})
