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

All per-edge work is vectorised with numpy/shapely; only the groups are looped over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

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
    return _Segments(
        edge=e, s0=s0 * scale, s1=s1 * scale, a=a, b=b, start=start, count=count, off=off
    )


def _intervals(
    net: Network,
    d: np.ndarray,
    dmax: float,
    src_edge: np.ndarray,
    src_pos: np.ndarray,
    src_acc: np.ndarray,
):
    """Reachable intervals (edge, lo, hi) of one group, merged so that they do not overlap."""
    L = np.asarray(net.length_m, dtype=float)
    du, dv = d[net.u], d[net.v]
    eu = np.flatnonzero(du <= dmax)
    ev = np.flatnonzero(dv <= dmax)
    es = np.flatnonzero(src_acc <= dmax)
    left = dmax - src_acc[es]
    edge = np.concatenate([eu, ev, src_edge[es]])
    lo = np.concatenate(
        [
            np.zeros(len(eu)),
            np.maximum(L[ev] - (dmax - dv[ev]), 0.0),
            np.maximum(src_pos[es] - left, 0.0),
        ]
    )
    hi = np.concatenate(
        [np.minimum(dmax - du[eu], L[eu]), L[ev], np.minimum(src_pos[es] + left, L[src_edge[es]])]
    )
    if not len(edge):
        return edge, lo, hi
    order = np.lexsort((lo, edge))
    edge, lo, hi = edge[order], lo[order], hi[order]
    # running maximum of hi within each edge: offset each edge above every earlier one
    off = np.concatenate([[0.0], np.cumsum(L + 1.0)])[edge]
    run = np.maximum.accumulate(hi + off) - off
    new = np.ones(len(edge), dtype=bool)
    new[1:] = (edge[1:] != edge[:-1]) | (lo[1:] > run[:-1])
    starts = np.flatnonzero(new)
    return edge[starts], lo[starts], np.maximum.reduceat(hi, starts)


def _cut(seg: _Segments, edge: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One LineString per interval (edge, lo, hi): the edge's segments clipped to [lo, hi], exactly."""
    out = np.full(len(edge), shapely.LineString(), dtype=object)
    point = hi <= lo
    if point.any():  # a single reachable position (reached with nothing to spare)
        out[point] = shapely.points(_at(seg, edge[point], lo[point]))
    k = np.flatnonzero(~point)
    if not len(k):
        return out
    cnt = seg.count[edge[k]]
    rows = np.repeat(np.arange(len(k)), cnt)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    sg = seg.start[edge[k]][rows] + within
    a_s = np.maximum(lo[k][rows], seg.s0[sg])
    b_s = np.minimum(hi[k][rows], seg.s1[sg])
    ok = b_s > a_s
    rows, sg, a_s, b_s = rows[ok], sg[ok], a_s[ok], b_s[ok]
    p0, p1 = _interp(seg, sg, a_s), _interp(seg, sg, b_s)
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = rows[1:] != rows[:-1]
    # vertices: each clipped segment's start, then the end of each interval's last segment
    xy = np.concatenate([p0, p1[last]])
    key = np.concatenate([2 * np.arange(len(rows)), 2 * np.flatnonzero(last) + 1])
    owner = np.concatenate([rows, rows[last]])
    order = np.argsort(key, kind="stable")
    lines = shapely.linestrings(xy[order], indices=owner[order])
    got = np.unique(rows)
    out[k[got]] = lines
    return out


def _interp(seg: _Segments, sg: np.ndarray, s: np.ndarray) -> np.ndarray:
    f = (s - seg.s0[sg]) / (seg.s1[sg] - seg.s0[sg])
    return seg.a[sg] + (seg.b[sg] - seg.a[sg]) * np.clip(f, 0.0, 1.0)[:, None]


def _at(seg: _Segments, edge: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Coordinates at position s along each edge (edges without segments: their segment start)."""
    key = seg.s1 + seg.off[seg.edge]  # increasing over all segments: sorted by edge, then by s1
    sg = np.searchsorted(key, s + seg.off[edge], side="left")
    sg = np.clip(sg, seg.start[edge], seg.start[edge] + np.maximum(seg.count[edge] - 1, 0))
    return _interp(seg, np.minimum(sg, len(seg.s1) - 1), s)


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
    node_dist = np.atleast_2d(np.asarray(node_dist, dtype=float))
    n_groups = node_dist.shape[0]
    dmax = np.broadcast_to(np.asarray(max_dist_m, dtype=float), (n_groups,))
    seg = _segments(net)
    if sources is not None and source_groups is not None:
        ok = sources.ok
        s_edge, s_grp, s_acc = sources.edge[ok], np.asarray(source_groups)[ok], sources.access_m[ok]
        s_pos = sources.t[ok] * np.asarray(net.length_m, dtype=float)[s_edge]
    else:
        s_edge = s_grp = np.zeros(0, dtype=np.int64)
        s_acc = s_pos = np.zeros(0)
    parts = []
    for g in range(n_groups):
        sel = s_grp == g
        dg = -np.inf if np.isnan(dmax[g]) else dmax[g]  # nan: nothing reachable
        edge, lo, hi = _intervals(net, node_dist[g], dg, s_edge[sel], s_pos[sel], s_acc[sel])
        parts.append((np.full(len(edge), g), edge, lo, hi, _cut(seg, edge, lo, hi)))
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
    pieces = reachable_pieces(
        net, node_dist, max_dist_m, sources=sources, source_groups=source_groups
    )
    return _areas(pieces, np.atleast_2d(node_dist).shape[0], buffer_m, crs)


def _areas(pieces: Pieces, n_groups: int, buffer_m: float, crs) -> gpd.GeoSeries:
    if crs is not None and not CRS.from_user_input(crs).is_projected:
        raise CRSError(
            f"service areas: CRS {CRS.from_user_input(crs).name} is geographic (degrees); the network must be "
            "built in a metric CRS (ditan.spatial.crs.metric.to_metric)"
        )
    order = np.argsort(pieces.group, kind="stable")
    bounds = np.searchsorted(pieces.group[order], np.arange(n_groups + 1))
    geoms = [
        _area(pieces.geometry[order[bounds[g] : bounds[g + 1]]], buffer_m) for g in range(n_groups)
    ]
    return gpd.GeoSeries(geoms, crs=crs)


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
) -> gpd.GeoDataFrame:
    """Service areas as a table: category, tier, distance_m, reachable_network_km, area_km2, form, geometry.

    ``groups[i] = (category id, tier id, distance in metres)`` describes row ``i`` of ``node_dist``.
    ``form``: ``polygons`` (the reachable streets buffered by ``buffer_m`` and dissolved), ``lines`` (the
    reachable streets as one MultiLineString per group; area_km2 NaN) or ``auto`` (polygons up to
    ``max_pieces`` reachable pieces in all: dissolving a whole city's streets takes minutes).
    """
    n = len(groups)
    dist = np.array([float(g[2]) for g in groups])
    pieces = reachable_pieces(net, node_dist, dist, sources=sources, source_groups=source_groups)
    polygons = form == "polygons" or (form == "auto" and len(pieces.group) <= max_pieces)
    geom = _areas(pieces, n, buffer_m, crs).to_numpy() if polygons else _lines(pieces, n)
    reach = np.bincount(pieces.group, weights=pieces.length_m, minlength=n)
    return gpd.GeoDataFrame(
        {
            "category": [g[0] for g in groups],
            "tier": [g[1] for g in groups],
            "distance_m": dist,
            "reachable_network_km": reach / 1000.0,
            "area_km2": shapely.area(geom) / 1e6 if polygons else np.full(n, np.nan),
            "form": "polygon" if polygons else "streets",
        },
        geometry=geom,
        crs=crs,
    )


def _lines(pieces: Pieces, n_groups: int) -> np.ndarray:
    """One MultiLineString per group: its reachable street pieces (single reachable points left out)."""
    line = shapely.get_type_id(pieces.geometry) == 1
    out = np.array([shapely.MultiLineString()] * n_groups, dtype=object)
    if line.any():
        g = pieces.group[line]
        order = np.argsort(g, kind="stable")
        have = np.unique(g)
        out[have] = shapely.multilinestrings(
            pieces.geometry[line][order], indices=np.searchsorted(have, g[order])
        )
    return out
