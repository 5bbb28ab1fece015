"""Service areas (isochrones) of facility categories over the walking network.

Rule. A place on the network is served by a category at a distance ``D`` (its life-circle tier:
300 / 500 / 1000 m) when the network distance from the nearest facility of the category to it
is at most ``D``. Distances come from :func:`ditan.spatial.engine.network.group_distances`, which starts
from each facility's snapped point with its access leg (facility → street) already added, so
the distance that leg costs is included. Along an edge ``u → v`` of length ``L`` the distance
at position ``s`` from ``u`` is ``min(d_u + s, d_v + (L − s))``, so the reachable part of the
edge is ``[0, D − d_u] ∪ [L − (D − d_v), L]`` (each only when that end is within ``D``).
When the facilities' snap is passed, the edge a facility is snapped to is also reachable
directly from the facility: ``|s − t·L| ≤ D − access``. Edges are cut exactly at those positions
(each edge line is exploded into straight segments, which are cut by linear interpolation).

The reachable pieces are buffered by ``buffer_m`` — the last metres from the street to a door
— with round caps and joins, and unioned into one (Multi)Polygon per group; a group with
nothing reachable (no facility snapped, or none within ``D``) gets an empty polygon.

As streets (``form: lines``, what a whole city gets) the pieces are joined end to end where they meet
at a node, a vertex stored once per line through it. The per-edge and per-piece loops are compiled
(:mod:`ditan.spatial.engine.service_area_kernels`, numba); the groups run on threads, each group computed
the same way whichever thread runs it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from ditan.spatial.engine import service_area_kernels as kernels
from ditan.spatial.engine.network import Network, Snap
from ditan.spatial.errors import CRSError

__all__ = ["Pieces", "reachable_pieces", "service_areas", "service_area_frame"]

#: segments per quarter circle of the buffers (4 keeps a city's union fast; area error < 1 %)
QUAD_SEGS = 4


@dataclass
class Pieces:
    """Reachable parts of the network: one row per (group, edge, maximal reachable interval)."""

    group: np.ndarray  # (k,) group index
    edge: np.ndarray  # (k,) edge index
    lo_m: np.ndarray  # (k,) start of the interval, metres from the edge's node u
    hi_m: np.ndarray  # (k,) end of the interval (hi_m >= lo_m; equal: a single point)
    geometry: np.ndarray  # (k,) LineString of the interval (Point when hi_m == lo_m)

    @property
    def length_m(self) -> np.ndarray:
        """Network length of each piece (in the units of ``Network.length_m``)."""
        return self.hi_m - self.lo_m


@dataclass
class _Segments:
    """Edge lines exploded into straight segments, oriented from u to v, sorted by edge."""

    edge: np.ndarray  # (q,) edge of each segment
    s0: np.ndarray  # (q,) position of the segment start along the edge, from u (network metres)
    s1: np.ndarray  # (q,) position of the segment end
    a: np.ndarray  # (q, 2) coordinates at s0
    b: np.ndarray  # (q, 2) coordinates at s1
    start: np.ndarray  # (m,) first segment of each edge
    count: np.ndarray  # (m,) number of segments of each edge
    off: (
        np.ndarray
    )  # (m,) offset putting each edge's positions above every earlier edge's (for sorted searches)
    length: np.ndarray  # (m,) each edge's network length (Network.length_m)
    u: np.ndarray  # (m,) node u of each edge
    v: np.ndarray  # (m,) node v
    n_nodes: int
    _ends: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def node_ends(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The edge ends at each node and their directions (``kernels.node_ends``), computed once."""
        if self._ends is None:
            self._ends = kernels.node_ends(
                self.n_nodes, self.u, self.v, self.start, self.count, self.a, self.b
            )
        return self._ends


def _segments(net: Network) -> _Segments:
    """Straight segments of every edge line, positions measured from node u and scaled to ``length_m``.

    ``build_network`` draws every edge from u to v; lines of a hand-made network that start at v
    instead are detected (first vertex nearer v than u) and reversed.
    """
    m = len(net.u)
    coords, idx = shapely.get_coordinates(
        np.asarray(net.edge_line, dtype=object), return_index=True
    )
    n_coords = np.bincount(idx, minlength=m)
    first = np.concatenate([[0], np.cumsum(n_coords)[:-1]])
    same = idx[1:] == idx[:-1]
    a, b, e = coords[:-1][same], coords[1:][same], idx[:-1][same]
    seg_len = np.hypot(*(b - a).T)
    keep = seg_len > 0
    a, b, e, seg_len = a[keep], b[keep], e[keep], seg_len[keep]
    count = np.bincount(e, minlength=m)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    line_len = np.bincount(e, weights=seg_len, minlength=m)
    cum = np.cumsum(seg_len)
    end_raw = cum - np.concatenate([[0.0], cum])[start][e]  # distance from the line's first vertex
    begin_raw = end_raw - seg_len
    # orientation: does the line start at u?
    has = n_coords > 0
    head = np.zeros((m, 2))
    head[has] = coords[first[has]]
    rev = np.hypot(*(head - net.node_xy[net.v]).T) < np.hypot(*(head - net.node_xy[net.u]).T)
    r = rev[e]
    s0 = np.where(r, line_len[e] - end_raw, begin_raw)
    s1 = np.where(r, line_len[e] - begin_raw, end_raw)
    a, b = np.where(r[:, None], b, a), np.where(r[:, None], a, b)
    scale = np.asarray(net.length_m, dtype=float)[e] / line_len[e]
    order = np.lexsort((s0, e))  # reversed lines: their segments in order from u
    e, s0, s1, a, b, scale = e[order], s0[order], s1[order], a[order], b[order], scale[order]
    off = np.concatenate([[0.0], np.cumsum(np.asarray(net.length_m, dtype=float) + 1.0)])[:-1]
    s0, s1 = s0 * scale, s1 * scale
    # each line's ends exactly at 0 and its length (the sums above leave them a few ulp off)
    has = count > 0
    s0[start[has]] = 0.0
    s1[(start + count - 1)[has]] = np.asarray(net.length_m, dtype=float)[has]
    return _Segments(
        edge=e,
        s0=s0,
        s1=s1,
        a=np.ascontiguousarray(a),
        b=np.ascontiguousarray(b),
        start=start,
        count=count,
        off=off,
        length=np.ascontiguousarray(net.length_m, dtype=float),
        u=np.ascontiguousarray(net.u, dtype=np.int64),
        v=np.ascontiguousarray(net.v, dtype=np.int64),
        n_nodes=int(net.n_nodes),
    )


def _cut(seg: _Segments, edge: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One LineString per interval (edge, lo, hi): the edge's segments clipped to [lo, hi], exactly."""
    out = np.full(len(edge), shapely.LineString(), dtype=object)
    point = hi <= lo
    if point.any():  # a single reachable position (reached with nothing to spare)
        out[point] = shapely.points(_at(seg, edge[point], lo[point]))
    xy, counts, piece = _piece_lines(seg, edge, lo, hi, join=False)
    if len(counts):
        out[piece] = shapely.linestrings(xy, indices=np.repeat(np.arange(len(counts)), counts))
    return out


def _piece_lines(
    seg: _Segments, edge: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, join: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices, vertices per line, first piece of each line) of the pieces, each alone or joined (``kernels.piece_lines``)."""
    ptr, ends, ang = (
        seg.node_ends() if join else (np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0))
    )
    return kernels.piece_lines(
        np.ascontiguousarray(edge, dtype=np.int64),
        np.ascontiguousarray(lo, dtype=float),
        np.ascontiguousarray(hi, dtype=float),
        seg.length,
        seg.start,
        seg.count,
        seg.s0,
        seg.s1,
        seg.a,
        seg.b,
        ptr,
        ends,
        ang,
        join,
    )


def _interp(seg: _Segments, sg: np.ndarray, s: np.ndarray) -> np.ndarray:
    f = (s - seg.s0[sg]) / (seg.s1[sg] - seg.s0[sg])
    return seg.a[sg] + (seg.b[sg] - seg.a[sg]) * np.clip(f, 0.0, 1.0)[:, None]


def _at(seg: _Segments, edge: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Coordinates at position s along each edge (edges without segments: their segment start)."""
    key = seg.s1 + seg.off[seg.edge]  # increasing over all segments: sorted by edge, then by s1
    sg = np.searchsorted(key, s + seg.off[edge], side="left")
    sg = np.clip(sg, seg.start[edge], seg.start[edge] + np.maximum(seg.count[edge] - 1, 0))
    return _interp(seg, np.minimum(sg, len(seg.s1) - 1), s)


class _Reachable:
    """What the reachable intervals of every group are computed from (the network's segments, the sources by group)."""

    def __init__(
        self,
        net: Network,
        node_dist: np.ndarray,
        max_dist_m: np.ndarray | Sequence[float],
        sources: Snap | None,
        source_groups: np.ndarray | None,
    ) -> None:
        self.net = net
        self.node_dist = np.atleast_2d(np.asarray(node_dist, dtype=float))
        self.n_groups = self.node_dist.shape[0]
        self.dmax = np.broadcast_to(np.asarray(max_dist_m, dtype=float), (self.n_groups,))
        self.seg = _segments(net)
        if sources is not None and source_groups is not None:
            ok = sources.ok
            s_edge, s_grp = sources.edge[ok], np.asarray(source_groups)[ok]
            s_acc = sources.access_m[ok]
            s_pos = sources.t[ok] * np.asarray(net.length_m, dtype=float)[s_edge]
        else:
            s_edge = s_grp = np.zeros(0, dtype=np.int64)
            s_acc = s_pos = np.zeros(0)
        order = np.lexsort((s_edge, s_grp))
        self.sources = tuple(
            np.ascontiguousarray(x[order]) for x in (s_edge.astype(np.int64), s_pos, s_acc)
        )
        self.source_at = np.searchsorted(s_grp[order], np.arange(self.n_groups + 1))

    def intervals(self, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Group ``g``'s reachable intervals (edge, lo, hi), sorted by edge then lo, not overlapping.

        Along an edge of length L the intervals are ``[0, D − d_u]`` (when ``d_u ≤ D``), ``[L − (D − d_v), L]``
        (when ``d_v ≤ D``) and, for each of the group's sources on it, ``[t − (D − access), t + (D − access)]``
        (when ``access ≤ D``), clipped to ``[0, L]`` and merged where they overlap.
        """
        i, j = self.source_at[g], self.source_at[g + 1]
        dg = -np.inf if np.isnan(self.dmax[g]) else float(self.dmax[g])  # nan: nothing reachable
        return kernels.intervals(
            np.ascontiguousarray(self.node_dist[g]),
            self.seg.u,
            self.seg.v,
            self.seg.length,
            dg,
            *(x[i:j] for x in self.sources),
        )


def _threads(fn, items: Sequence, workers: int | None = None) -> list:
    """``[fn(i) for i in items]`` on up to ``workers`` threads (default: the cores), results in order.

    The work is numpy and GEOS, which release the GIL: each item is computed the same way whichever thread runs it.
    """
    workers = min(workers or os.cpu_count() or 1, len(items))
    if workers <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def reachable_pieces(
    net: Network,
    node_dist: np.ndarray,
    max_dist_m: np.ndarray | Sequence[float],
    *,
    sources: Snap | None = None,
    source_groups: np.ndarray | None = None,
) -> Pieces:
    """The parts of the network within each group's distance, cut exactly at partial edges.

    ``node_dist`` is (n_groups, n_nodes) from :func:`ditan.spatial.engine.network.group_distances`, computed
    with a cutoff at least ``max(max_dist_m)``. Pass the facilities' ``sources`` snap and their
    ``source_groups`` to include the stretch of a facility's own edge reached directly from it
    (without it an edge whose ends are both out of reach but which holds a facility stays empty).
    """
    r = _Reachable(net, node_dist, max_dist_m, sources, source_groups)
    parts = []
    for g in range(r.n_groups):
        edge, lo, hi = r.intervals(g)
        parts.append((np.full(len(edge), g), edge, lo, hi, _cut(r.seg, edge, lo, hi)))
    cat = [np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(5)]
    return Pieces(
        group=cat[0].astype(np.int64),
        edge=cat[1].astype(np.int64),
        lo_m=cat[2].astype(float),
        hi_m=cat[3].astype(float),
        geometry=cat[4].astype(object),
    )


def _area(geoms: np.ndarray, buffer_m: float) -> shapely.Geometry:
    """Buffered union of one group's pieces (a cascaded union of the buffers: the fastest of the GEOS routes tried)."""
    if not len(geoms):
        return shapely.Polygon()
    return shapely.union_all(shapely.buffer(geoms, buffer_m, quad_segs=QUAD_SEGS))


def service_areas(
    net: Network,
    node_dist: np.ndarray,
    max_dist_m: np.ndarray | Sequence[float],
    *,
    buffer_m: float = 25.0,
    crs=None,
    sources: Snap | None = None,
    source_groups: np.ndarray | None = None,
) -> gpd.GeoSeries:
    """One (Multi)Polygon per group: the reachable network buffered by ``buffer_m`` (empty: nothing reachable)."""
    _check_crs(crs)
    r = _Reachable(net, node_dist, max_dist_m, sources, source_groups)
    done = _threads(lambda g: _group_polygon(r, r.intervals(g), buffer_m, 0.0), range(r.n_groups))
    return gpd.GeoSeries([area for area, _ in done], crs=crs)


def _check_crs(crs) -> None:
    if crs is not None and not CRS.from_user_input(crs).is_projected:
        raise CRSError(
            f"service areas: CRS {CRS.from_user_input(crs).name} is geographic (degrees); the network must be "
            "built in a metric CRS (ditan.spatial.crs.metric.to_metric)"
        )


def _group_polygon(
    r: _Reachable, iv: tuple[np.ndarray, np.ndarray, np.ndarray], buffer_m: float, simplify_m: float
) -> tuple[shapely.Geometry, float]:
    """A group's area from its intervals (simplified within ``simplify_m``, kept valid) and its area before that."""
    area = _area(_cut(r.seg, *iv), buffer_m)
    exact = float(shapely.area(area))
    if simplify_m > 0:
        area = shapely.simplify(area, simplify_m, preserve_topology=True)
    return area, exact


def _group_lines(
    r: _Reachable, iv: tuple[np.ndarray, np.ndarray, np.ndarray], simplify_m: float
) -> shapely.Geometry:
    """A group's reachable streets: one MultiLineString of its pieces joined at nodes (single points left out)."""
    xy, counts, _ = _piece_lines(r.seg, *iv, join=True)
    geom = shapely.from_ragged_array(
        shapely.GeometryType.MULTILINESTRING,
        xy,
        (np.concatenate([[0], np.cumsum(counts)]), np.array([0, len(counts)])),
    )[0]
    del xy, counts  # copied into the geometry: not kept while it is simplified
    if simplify_m > 0:
        geom = shapely.simplify(geom, simplify_m, preserve_topology=False)
    return geom


def _reach_m(iv: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    """Reachable network length of a group's intervals (summed in piece order, as ``np.bincount`` does)."""
    e, lo, hi = iv
    return float(np.bincount(np.zeros(len(e), np.int64), hi - lo, 1)[0])


def _polygon_intervals(
    r: _Reachable, form: str, max_pieces: int, workers: int | None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """Every group's intervals when the areas are drawn as polygons, else None (drawn as streets).

    ``auto``: polygons while all groups together have at most ``max_pieces`` pieces; the groups are
    counted one after another and the count stops at the first group that passes the limit.
    """
    if form == "lines":
        return None
    if form == "polygons":
        return _threads(r.intervals, range(r.n_groups), workers)
    ivs, total = [], 0
    for g in range(r.n_groups):
        iv = r.intervals(g)
        total += len(iv[0])
        if total > max_pieces:
            return None
        ivs.append(iv)
    return ivs


def service_area_frame(
    net: Network,
    node_dist: np.ndarray,
    groups: Sequence[tuple[str, str, float]],
    *,
    buffer_m: float = 25.0,
    crs=None,
    sources: Snap | None = None,
    source_groups: np.ndarray | None = None,
    form: str = "polygons",
    max_pieces: int = 40_000,
    simplify_m: float = 0.0,
    workers: int | None = None,
) -> gpd.GeoDataFrame:
    """Service areas as a table: category, tier, distance_m, reachable_network_km, area_km2, form, geometry.

    ``groups[i] = (category id, tier id, distance in metres)`` describes row ``i`` of ``node_dist``.
    ``form``: ``polygons`` (the reachable streets buffered by ``buffer_m`` and dissolved), ``lines`` (the
    reachable streets as one MultiLineString per group; area_km2 NaN) or ``auto`` (polygons up to
    ``max_pieces`` reachable pieces in all: dissolving a whole city's streets takes minutes).

    Lines: the reachable pieces are joined end to end where they meet at a node (two at a time, opposite
    directions first), so a vertex is stored once per line through it, not once per piece; the lines cover
    exactly the points of the pieces. ``simplify_m`` > 0: each geometry is then simplified within that many
    metres (Douglas–Peucker; polygons keeping their topology). ``reachable_network_km`` and ``area_km2`` are
    always those of the exact geometry, before simplifying. The groups are computed on up to ``workers``
    threads (default: every core), with the same result as on one.
    """
    _check_crs(crs)
    n = len(groups)
    dist = np.array([float(g[2]) for g in groups])
    r = _Reachable(net, node_dist, dist, sources, source_groups)
    ivs = _polygon_intervals(r, form, max_pieces, workers)
    if ivs is not None:
        done = _threads(
            lambda g: _group_polygon(r, ivs[g], buffer_m, simplify_m), range(n), workers
        )
        geom = np.array([a for a, _ in done], dtype=object)
        area_km2 = np.array([e for _, e in done], dtype=float) / 1e6
        reach = np.array([_reach_m(iv) for iv in ivs])
    else:
        # each group's intervals live only while its thread draws them: a whole city's (every group
        # reaching most edges) would hold hundreds of megabytes at once
        def lines(g: int) -> tuple[shapely.Geometry, float]:
            iv = r.intervals(g)
            return _group_lines(r, iv, simplify_m), _reach_m(iv)

        done = _threads(lines, range(n), workers)
        geom = np.array([a for a, _ in done], dtype=object)
        reach = np.array([m for _, m in done], dtype=float)
        area_km2 = np.full(n, np.nan)
    polygons = ivs is not None
    return gpd.GeoDataFrame(
        {
            "category": [g[0] for g in groups],
            "tier": [g[1] for g in groups],
            "distance_m": dist,
            "reachable_network_km": reach / 1000.0,
            "area_km2": area_km2,
            "form": "polygon" if polygons else "streets",
        },
        geometry=geom.reshape(-1),
        crs=crs,
    )
