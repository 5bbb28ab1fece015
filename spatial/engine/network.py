"""Street networks as compact arrays, bounded snapping, and multi-source shortest paths.

A network is built from line geometries alone: every consecutive vertex pair is an edge, and
vertices with the same coordinates (to ``precision_m``) are one node, so OSM ways that share a
node are connected and lines that merely cross (bridges) are not. Distances come from
``scipy.sparse.csgraph.dijkstra`` run once for all sources of a group through a virtual
source node, cut off at the largest distance of interest — or, on a large graph, from the compiled
bucket-queue search of :mod:`ditan.spatial.engine.fast_distances` (the same distances, faster).

Points (buildings, facilities) attach to the nearest edge — not node — within a maximum
distance; the straight access leg from the point to the edge counts in the walking distance.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

if TYPE_CHECKING:
    from ditan.spatial.engine.fast_snap import SegmentGrid

__all__ = [
    "Network",
    "build_network",
    "Snap",
    "snap_points",
    "group_distances",
    "point_distances",
    "nearest_by_group",
    "access_points",
]

#: weight given to zero-length virtual edges (csgraph treats explicit zeros as "no edge")
_EPS = 1e-9


@dataclass
class Network:
    """An undirected network: node coordinates and edges (u, v, length)."""

    node_xy: np.ndarray  # (n, 2) metric coordinates
    u: np.ndarray  # (m,) int
    v: np.ndarray  # (m,) int
    length_m: np.ndarray  # (m,) float
    edge_line: np.ndarray  # (m,) shapely LineStrings, for snapping
    tree: shapely.STRtree | None  # of edge_line; None: built when first needed (strtree())
    _csr: sparse.csr_matrix | None = field(default=None, repr=False, compare=False)
    # the edges in a grid, built by the first large snap (fast_snap)
    _grid: SegmentGrid | None = field(default=None, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    def degree(self) -> np.ndarray:
        """Number of distinct edges meeting at each node."""
        return np.bincount(np.concatenate([self.u, self.v]), minlength=self.n_nodes)

    def csr(self) -> sparse.csr_matrix:
        """Symmetric adjacency (lengths; the shortest of parallel edges), built once per network."""
        if self._csr is None:
            n = self.n_nodes
            w = np.maximum(self.length_m, _EPS)
            rows, cols, ww = (
                np.concatenate([self.u, self.v]),
                np.concatenate([self.v, self.u]),
                np.concatenate([w, w]),
            )
            csr = sparse.csr_matrix((ww, (rows, cols)), shape=(n, n))  # sums repeated entries …
            # … so when some (u, v) pair repeats (a hand-made network; build_network never repeats one) keep the shortest
            self._csr = csr if csr.nnz == len(ww) else _min_csr(rows, cols, ww, n, n)
        return self._csr

    def strtree(self) -> shapely.STRtree:
        """The R-tree of the edges, built once per network."""
        if self.tree is None:
            self.tree = shapely.STRtree(self.edge_line)
        return self.tree

    def n_components(self) -> int:
        return int(csgraph.connected_components(self.csr(), directed=False)[0])


def build_network(lines: np.ndarray, *, precision_m: float = 0.01) -> Network:
    """Build a network from an array of (Multi)LineStrings in a metric CRS."""
    parts = shapely.get_parts(np.asarray(lines, dtype=object))
    coords, line_idx = shapely.get_coordinates(parts, return_index=True)
    same = line_idx[1:] == line_idx[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    key = np.round(np.vstack([a, b]) / precision_m).astype(np.int64)
    uniq, inv = _unique_rows(key)
    u, v = inv[: len(a)], inv[len(a) :]
    keep = u != v
    u, v, a, b = u[keep], v[keep], a[keep], b[keep]
    # one edge per unordered node pair (a way drawn twice over the same nodes counts once)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    _, first = np.unique(lo * max(len(uniq), 1) + hi, return_index=True)
    first = np.sort(first)
    u, v, a, b = u[first], v[first], a[first], b[first]
    node_xy = uniq.astype(float) * precision_m
    # exact coordinates of each node (first occurrence), not the rounded key
    node_xy[u] = a
    node_xy[v] = b
    edge_line = _linestrings(np.stack([a, b], axis=1))
    length = np.hypot(*(b - a).T)
    return Network(
        node_xy=node_xy,
        u=u,
        v=v,
        length_m=length,
        edge_line=edge_line,
        tree=None,  # a large city's points are snapped without it (fast_snap): built only if asked for
    )


def _linestrings(ends: np.ndarray) -> np.ndarray:
    """Two-point LineStrings of ``ends`` (k, 2, 2), made on two threads when there are many (GEOS releases the GIL)."""
    if len(ends) < 200_000:
        return shapely.linestrings(ends)
    with ThreadPoolExecutor(2) as pool:
        return np.concatenate(list(pool.map(shapely.linestrings, np.array_split(ends, 2))))


def _unique_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, axis=0, return_inverse=True)`` of int64 pairs, through one int64 per row when they fit (10× faster)."""
    if not len(key):
        return key.reshape(0, 2), np.zeros(0, dtype=np.int64)
    lo = key.min(axis=0)
    span = key.max(axis=0) - lo
    if span[1] >= 2**31 or span[0] >= 2**31:
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        return uniq, inv.ravel()
    # (x, y) ordered as x * 2^32 + y: the same order as the rows' lexicographic one
    packed = ((key[:, 0] - lo[0]) << 32) | (key[:, 1] - lo[1])
    uniq, inv = np.unique(packed, return_inverse=True)
    rows = np.stack([(uniq >> 32) + lo[0], (uniq & 0xFFFFFFFF) + lo[1]], axis=1)
    return rows, inv.ravel()


@dataclass
class Snap:
    """Where points attach to the network."""

    edge: np.ndarray  # (k,) edge index, -1 if not snapped
    t: np.ndarray  # (k,) position along the edge from u, 0..1
    access_m: np.ndarray  # (k,) straight distance from the point to the edge
    ok: np.ndarray  # (k,) bool: within the maximum snapping distance


#: at least this many points (all of them points) are snapped by the compiled grid search of
#: :mod:`ditan.spatial.engine.fast_snap`, which chooses the edge GEOS's nearest-neighbour query would
FAST_SNAP_MIN_POINTS = 100_000


def snap_points(net: Network, points: np.ndarray, *, max_distance_m: float) -> Snap:
    """Attach points to their nearest edge within ``max_distance_m``."""
    k = len(points)
    edge = np.full(k, -1, dtype=np.int64)
    t = np.zeros(k)
    access = np.full(k, np.inf)
    if k and len(net.edge_line):
        points = np.asarray(points, dtype=object)
        if k >= FAST_SNAP_MIN_POINTS and (shapely.get_type_id(points) <= 0).all():
            pi, ei = _nearest_edges(net, points, max_distance_m)
            # GEOS's distance and position, on two threads (shapely releases the GIL)
            dist, proj = np.empty(len(pi)), np.empty(len(pi))
            with ThreadPoolExecutor(2) as pool:
                list(
                    pool.map(
                        lambda f: f(),
                        [
                            lambda: shapely.distance(points[pi], net.edge_line[ei], out=dist),
                            lambda: shapely.line_locate_point(
                                net.edge_line[ei], points[pi], out=proj
                            ),
                        ],
                    )
                )
        else:
            (pi, ei), dist = net.strtree().query_nearest(
                points, max_distance=max_distance_m, return_distance=True, all_matches=False
            )
            proj = shapely.line_locate_point(net.edge_line[ei], points[pi])
        edge[pi] = ei
        access[pi] = dist
        t[pi] = np.clip(proj / np.maximum(net.length_m[ei], _EPS), 0.0, 1.0)
    return Snap(edge=edge, t=t, access_m=access, ok=edge >= 0)


def _nearest_edges(
    net: Network, points: np.ndarray, max_distance_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """(point, edge) pairs as ``STRtree.query_nearest``: the grid search chooses, GEOS decides the near-ties."""
    from ditan.spatial.engine.fast_snap import TIE_M, SegmentGrid, nearest_segments

    if net._grid is None:
        net._grid = SegmentGrid(shapely.get_coordinates(net.edge_line).reshape(-1, 4))
    xy = np.full((len(points), 2), np.nan)  # missing and empty points: NaN, snapped nowhere
    coords, which = shapely.get_coordinates(points, return_index=True)
    xy[which] = coords
    best, near, next_near = nearest_segments(net._grid, xy, max_distance_m)
    with np.errstate(invalid="ignore"):  # inf - inf where nothing is near: not a tie
        unsure = (next_near - near <= TIE_M) | (np.abs(near - max_distance_m) <= TIE_M)
    sure = np.flatnonzero((best >= 0) & ~unsure)
    ask = np.flatnonzero(unsure)
    pu, eu = net.strtree().query_nearest(
        points[ask], max_distance=max_distance_m, all_matches=False
    )
    pi, ei = np.concatenate([sure, ask[pu]]), np.concatenate([best[sure], eu])
    order = np.argsort(pi, kind="stable")
    return pi[order], ei[order]


def group_distances(
    net: Network, snap: Snap, groups: np.ndarray, n_groups: int, *, cutoff_m: float | np.ndarray
) -> np.ndarray:
    """Distance from the nearest point of each group to every node: (n_groups, n_nodes).

    One virtual node per group is linked to both ends of each of its points' edges with the
    access leg plus the part of the edge walked. ``cutoff_m`` is one distance for all groups or
    one per group; beyond its group's cutoff a distance is inf. Groups sharing a cutoff are
    searched in one ``dijkstra`` call from their virtual nodes, so a run makes one call per
    distinct cutoff (a life circle's three tiers and the station radius: three calls).

    A graph of ``FAST_MIN_NODES`` nodes or more (with finite cutoffs) is searched by the compiled
    bucket queue of :mod:`ditan.spatial.engine.fast_distances` instead, tile by tile on every core:
    the same distances (the same float sums along the same paths) in a fraction of the time.
    """
    n = net.n_nodes
    cut = np.broadcast_to(np.asarray(cutoff_m, dtype=float), (n_groups,))
    ok = snap.ok
    e, tt, acc, g = snap.edge[ok], snap.t[ok], snap.access_m[ok], np.asarray(groups)[ok]
    L = net.length_m[e]
    rows = np.concatenate([g, g])
    cols = np.concatenate([net.u[e], net.v[e]])
    w = np.maximum(np.concatenate([acc + tt * L, acc + (1 - tt) * L]), _EPS)
    base = net.csr()
    if n >= FAST_MIN_NODES and np.isfinite(cut).all():
        from ditan.spatial.engine.fast_distances import nearest_source_distances

        return nearest_source_distances(
            base.indptr, base.indices, base.data, rows, cols, w, cut, node_xy=net.node_xy
        )
    virtual = _min_csr(rows, cols, w, n_groups, n)
    # the base graph with the virtual nodes' rows appended (edges from them only): (n + n_groups) square
    graph = sparse.csr_matrix(
        (
            np.concatenate([base.data, virtual.data]),
            np.concatenate([base.indices, virtual.indices]),
            np.concatenate([base.indptr, base.indptr[-1] + virtual.indptr[1:]]),
        ),
        shape=(n + n_groups, n + n_groups),
    )
    out = np.full((n_groups, n), np.inf)
    tasks = [
        (np.flatnonzero(cut == c), float(c)) for c in np.unique(cut)
    ]  # one search per distinct cutoff
    workers = _search_processes(n, n_groups)
    if workers > 1:
        # split each search's groups in halves, and run them on the cores (forked: the graph is shared, not copied)
        tasks = [
            (part, c) for which, c in tasks for part in np.array_split(which, workers) if len(part)
        ]
        _SHARED.update(graph=graph, n=n)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                results = pool.map(_search, tasks)
        finally:
            _SHARED.clear()
    else:
        results = [
            csgraph.dijkstra(graph, directed=True, indices=n + which, limit=c)[:, :n]
            for which, c in tasks
        ]
    for (which, _), dist in zip(tasks, results, strict=True):
        out[which] = dist
    return out


#: a graph with at least this many nodes is searched on every core (below, starting processes costs more than it saves)
PARALLEL_MIN_NODES = 50_000
#: a graph with at least this many nodes is searched by the compiled search: below, scipy answers in less time
#: than a process takes to load the compiled loops (≈0.5 s; at 100k nodes scipy takes ≈0.25 s on two cores)
FAST_MIN_NODES = 200_000
_SHARED: dict = {}


def _search_processes(n_nodes: int, n_groups: int) -> int:
    """How many processes to search on: the cores, for a large graph, when this process may fork children."""
    cores = os.cpu_count() or 1
    daemon = multiprocessing.current_process().daemon  # e.g. a dask worker: no children allowed
    if (
        n_nodes < PARALLEL_MIN_NODES
        or cores < 2
        or n_groups < 2
        or daemon
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 1
    return min(cores, n_groups)


def _search(task: tuple[np.ndarray, float]) -> np.ndarray:
    which, cutoff = task
    n = _SHARED["n"]
    return csgraph.dijkstra(_SHARED["graph"], directed=True, indices=n + which, limit=cutoff)[:, :n]


def _min_csr(
    rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n_rows: int, n_cols: int
) -> sparse.csr_matrix:
    """CSR matrix keeping the smallest weight of repeated (row, col) entries (csr_matrix would sum them)."""
    order = np.lexsort((w, cols, rows))
    rows, cols, w = rows[order], cols[order], w[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, w = rows[first], cols[first], w[first]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))]).astype(np.int64)
    return sparse.csr_matrix((w, cols.astype(np.int64), indptr), shape=(n_rows, n_cols))


def point_distances(
    net: Network,
    node_dist: np.ndarray,
    origins: Snap,
    *,
    targets: Snap | None = None,
    target_groups: np.ndarray | None = None,
) -> np.ndarray:
    """Network distance from each origin to the nearest target of each group: (n_origins, n_groups).

    Origins reach their edge's two ends (access leg + part of the edge). When a target lies on
    the same edge as an origin, the direct walk along that edge is taken if shorter.
    Origins not snapped get inf.
    """
    n_groups = node_dist.shape[0]
    k = len(origins.edge)
    out = np.full((k, n_groups), np.inf)
    ok = origins.ok
    e, tt, acc = origins.edge[ok], origins.t[ok], origins.access_m[ok]
    L = net.length_m[e]
    via_u = node_dist[:, net.u[e]] + (tt * L)
    via_v = node_dist[:, net.v[e]] + ((1 - tt) * L)
    out[ok] = (np.minimum(via_u, via_v) + acc).T
    if targets is not None and target_groups is not None:
        o = pd.DataFrame({"o": np.flatnonzero(ok), "edge": e, "to": tt, "ao": acc})
        tk = targets.ok
        t = pd.DataFrame(
            {
                "edge": targets.edge[tk],
                "tt": targets.t[tk],
                "at": targets.access_m[tk],
                "g": target_groups[tk],
            }
        )
        same = o.merge(t, on="edge")
        if len(same):
            same["d"] = (
                same["ao"]
                + same["at"]
                + (same["to"] - same["tt"]).abs() * net.length_m[same["edge"].to_numpy()]
            )
            best = same.groupby(["o", "g"])["d"].min().reset_index()
            oi, gi = best["o"].to_numpy(), best["g"].to_numpy()
            out[oi, gi] = np.minimum(out[oi, gi], best["d"].to_numpy())
    return out


def nearest_by_group(
    net: Network,
    origins: np.ndarray,
    targets: np.ndarray,
    target_groups: np.ndarray,
    n_groups: int,
    *,
    cutoff_m: float | np.ndarray,
    snap_max_m: float,
) -> tuple[np.ndarray, Snap, Snap]:
    """Network distance (n_origins, n_groups) from each origin point to the nearest target of each group.

    Returns the distances and both snaps (so callers can count what lay beyond ``snap_max_m``).
    """
    o_snap = snap_points(net, origins, max_distance_m=snap_max_m)
    t_snap = snap_points(net, targets, max_distance_m=snap_max_m)
    node_dist = group_distances(net, t_snap, target_groups, n_groups, cutoff_m=cutoff_m)
    dist = point_distances(net, node_dist, o_snap, targets=t_snap, target_groups=target_groups)
    dist[dist > cutoff_m] = np.inf
    return dist, o_snap, t_snap


def access_points(
    points: np.ndarray, outlines: np.ndarray | None, *, spacing_m: float = 50.0
) -> tuple[np.ndarray, np.ndarray]:
    """Where each facility can be reached: its point, or points along an area's edge.

    An area (a park, a campus) is reached at points every ``spacing_m`` along its edge. Returns
    the points and, for each, the position of its facility.
    """
    n = len(points)
    if outlines is None or n == 0:
        return np.asarray(points, dtype=object), np.arange(n)
    outlines = np.asarray(outlines, dtype=object)
    has = ~shapely.is_missing(outlines)
    has[has] = ~shapely.is_empty(outlines[has])
    if not has.any():
        return np.asarray(points, dtype=object), np.arange(n)
    edges = shapely.segmentize(shapely.boundary(outlines[has]), spacing_m)
    xy, k = shapely.get_coordinates(edges, return_index=True)
    owner = np.flatnonzero(has)[k]
    plain = np.flatnonzero(~has)
    pts = np.concatenate([np.asarray(points, dtype=object)[plain], shapely.points(xy)])
    return pts, np.concatenate([plain, owner])
