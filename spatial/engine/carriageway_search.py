"""Where a divided road's two carriageways may lie beside each other: the candidate search of carriageways.

The pairing rule (ditan.spatial.engine.carriageways) is tested on pieces of 20 m; a city of a million nodes has
ten million of them. The search here works on the roads' straight segments instead — an STRtree of the roads,
then bounding boxes, directions and projections of segments — and returns the segment pairs on which some piece
pair may pass the rule (a superset, with tolerances); only those segments are cut into pieces.
"""

from __future__ import annotations

import numpy as np
import shapely

__all__: list[str] = []

#: one-way states of a road line
ONEWAY_FORWARD, ONEWAY_REVERSE, TWO_WAY, UNKNOWN, NEVER = 1, -1, 0, 2, 3
#: pieces shorter than this (floating-point noise) are dropped
_MIN_PIECE_M = 1e-9


def _segments(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The straight segments of (Multi)LineStrings that give pieces (longer than ``_MIN_PIECE_M``): (line, start, end).

    Segmentizing a line cuts each of its segments on its own (GEOS' densifier), so a segment's pieces are
    those of :func:`road_pieces`; a segment of length ≤ ``_MIN_PIECE_M`` gives none (it is one piece, dropped).
    """
    parts, part_line = shapely.get_parts(np.asarray(lines, dtype=object), return_index=True)
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    same = idx[1:] == idx[:-1]
    a, b, line = coords[:-1][same], coords[1:][same], part_line[idx[:-1][same]]
    keep = np.hypot(*(b - a).T) > _MIN_PIECE_M
    return line[keep], a[keep], b[keep]


def _segment_pieces(
    a: np.ndarray, b: np.ndarray, sel: np.ndarray, piece_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pieces of the segments ``sel`` (ascending): (segment, position in it, last of it, start, end)."""
    if len(sel) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0, dtype=bool), np.zeros((0, 2)), np.zeros((0, 2))
    segs = shapely.segmentize(shapely.linestrings(np.stack([a[sel], b[sel]], axis=1)), piece_m)
    coords, idx = shapely.get_coordinates(segs, return_index=True)
    same = idx[1:] == idx[:-1]
    pa, pb, which = coords[:-1][same], coords[1:][same], idx[:-1][same]
    count = np.bincount(which, minlength=len(sel))
    start = np.cumsum(count) - count
    pos = np.arange(len(which)) - start[which]
    return sel[which], pos, pos == count[which] - 1, pa, pb


def _segment_candidates(
    geoms: np.ndarray,
    seg_road: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    cls_code: np.ndarray,
    name_code: np.ndarray,
    state: np.ndarray,
    max_gap_m: float,
    max_angle_deg: float,
    piece_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Directed segment pairs (s, t) such that a piece of s may lie beside a piece of t: a superset of the rule.

    Found road by road (an STRtree of the roads, filtered by class, name and one-way state), then segment by
    segment (bounding boxes within ``max_gap_m``, directions within ``max_angle_deg``, and some midpoint of a
    piece of s — at least a quarter piece from its ends — projecting onto t within ``max_gap_m``); tolerances of
    10 µm and 1e-6 in the cosine keep every pair the exact test of :func:`_beside` accepts.
    """
    empty = np.zeros(0, dtype=np.int64)
    n_roads = len(geoms)
    pairable = (cls_code >= 0) & (state != NEVER) & (state != TWO_WAY)
    count = np.bincount(seg_road, minlength=n_roads)
    first = np.cumsum(count) - count
    cand = np.flatnonzero(pairable & (count > 0))
    if len(cand) < 2:
        return empty, empty
    tol = 1e-5
    reach = max_gap_m + tol
    box = shapely.bounds(geoms[cand])
    tree = shapely.STRtree(geoms[cand])
    i, j = tree.query(shapely.box(*(box + np.array([-reach, -reach, reach, reach])).T))
    keep = i < j
    ri, rj = cand[i[keep]], cand[j[keep]]
    ok = cls_code[ri] == cls_code[rj]
    ok &= (name_code[ri] < 0) | (name_code[rj] < 0) | (name_code[ri] == name_code[rj])
    si, sj = state[ri], state[rj]
    ok &= ((np.abs(si) == 1) & (np.abs(sj) == 1)) | ((si == UNKNOWN) & (sj == UNKNOWN))
    ri, rj = ri[ok], rj[ok]
    rbox = np.zeros((n_roads, 4))
    rbox[cand] = box
    lo, hi = np.minimum(a, b), np.maximum(a, b)

    def near(seg: np.ndarray, other_lo: np.ndarray, other_hi: np.ndarray) -> np.ndarray:
        return np.all((lo[seg] <= other_hi + reach) & (hi[seg] >= other_lo - reach), axis=1)

    # segments of ri near the box of rj, then against each segment of rj
    row = np.repeat(np.arange(len(ri)), count[ri])
    s = (
        np.arange(len(row))
        - np.repeat(np.cumsum(count[ri]) - count[ri], count[ri])
        + first[ri][row]
    )
    k = near(s, rbox[rj[row], :2], rbox[rj[row], 2:])
    row, s = row[k], s[k]
    r2 = rj[row]
    row2 = np.repeat(np.arange(len(s)), count[r2])
    t = (
        np.arange(len(row2))
        - np.repeat(np.cumsum(count[r2]) - count[r2], count[r2])
        + first[r2][row2]
    )
    s = s[row2]
    k = near(s, lo[t], hi[t])
    s, t = s[k], t[k]
    d = b - a
    length = np.hypot(*d.T)
    cos = np.einsum("ij,ij->i", d[s], d[t]) / (length[s] * length[t])
    k = np.abs(cos) >= np.cos(np.radians(max_angle_deg)) - 1e-6
    s, t = s[k], t[k]
    s, t = np.concatenate([s, t]), np.concatenate([t, s])
    k = _may_project(s, t, a, d, length, max_gap_m + tol, piece_m, tol)
    return s[k], t[k]


def _may_project(
    s: np.ndarray,
    t: np.ndarray,
    a: np.ndarray,
    d: np.ndarray,
    length: np.ndarray,
    gap: float,
    piece_m: float,
    tol: float,
) -> np.ndarray:
    """Whether some point of s at least min(len/2, piece_m/4) from its ends projects onto t within ``gap``.

    A piece of a segment longer than ``piece_m`` is at least ``piece_m / 2`` long, so its midpoint lies that far
    from the segment's ends; a shorter segment is one piece, its midpoint in the middle.
    """
    u = d[t] / length[t][:, None]
    r0 = a[s] - a[t]
    ds = d[s]
    lam_end = np.minimum(0.5, piece_m / 4.0 / length[s]) * (1.0 - 1e-6)
    low, high = lam_end, 1.0 - lam_end
    for c0, c1, lo_v, hi_v in (
        (np.einsum("ij,ij->i", r0, u), np.einsum("ij,ij->i", ds, u), -tol, length[t] + tol),
        (
            u[:, 0] * r0[:, 1] - u[:, 1] * r0[:, 0],
            u[:, 0] * ds[:, 1] - u[:, 1] * ds[:, 0],
            -gap,
            gap,
        ),
    ):
        with np.errstate(divide="ignore", invalid="ignore"):
            l1, l2 = (lo_v - c0) / c1, (hi_v - c0) / c1
        flat = c1 == 0
        inside = (c0 >= lo_v) & (c0 <= hi_v)
        low = np.maximum(low, np.where(flat, np.where(inside, -np.inf, np.inf), np.minimum(l1, l2)))
        high = np.minimum(
            high, np.where(flat, np.where(inside, np.inf, -np.inf), np.maximum(l1, l2))
        )
    return low <= high + 1e-9
