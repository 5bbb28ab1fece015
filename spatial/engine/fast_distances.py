"""Multi-source shortest distances within a limit, in compiled code (numba): a bucket queue, tiled for the cache.

For every node, the distance from the nearest source of a group, as far as the group's limit (beyond
it: inf) — what ``scipy.sparse.csgraph.dijkstra(graph, indices=sources, min_only=True, limit=L)``
answers — for several groups at once.

**The search** (``_search``) is a bucket queue: the distances 0..L are cut into buckets of
``BUCKET_WIDTH_M``, processed in increasing order; a node whose distance improves is put in the bucket
of its new distance (its older entry is skipped when popped). Inside a bucket the order is arbitrary,
so a node reached over an edge shorter than a bucket may be improved after it was expanded: it is
then expanded again (label-correcting). When every bucket is empty, each node's distance is the
smallest over its in-edges of (neighbour's distance + edge) — the fixed point Dijkstra reaches — so
the distances are exactly scipy's: the same float64 sums along the same shortest paths, nothing
rounded to integers.

**Tiles.** A search over a whole city touches its arrays at random, and at a million nodes every
step waits for main memory (≈10× slower than on a graph that fits the cache). So when node
coordinates are given, the city is cut into square tiles; each tile is searched on its own subgraph
— the nodes within the largest limit (the halo) of the tile — and keeps the distances of its own
(core) nodes. A path no longer than the limit stays within that distance of its end when edges are
at least as long as the straight line between their nodes, as on streets, so the tile's answer is
the city's. Nothing relies on that, though: the distances are then checked on every edge between
two tiles (``d[v] <= d[u] + w`` wherever ``d[u] + w`` is within the limit: inside a tile the search
guarantees it), and any node a shorter path reaches is improved by one more search seeded with those
values. A tile's distances are lengths of real paths (never too short), and the check makes them the
fixed point (never too long), so the answer is exact for any weights and coordinates.

Tiles (and, without coordinates, groups) are independent and run on threads (the compiled loops
release the GIL), each writing only its own nodes' distances, so any number of threads gives the
same result as one. numba compiles the loops on first use and caches them beside this file
(``__pycache__``); ``ditan.spatial.engine.network`` imports this module only for large graphs.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

__all__ = ["nearest_source_distances", "warm_up"]

#: bucket width: narrower means more (mostly empty, nearly free) buckets and fewer re-expansions in one
BUCKET_WIDTH_M = 0.5
MAX_BUCKETS = 1 << 20
#: nodes in a tile with its halo: its arrays (≈ 60 bytes a node) then stay in the processor's cache
TILE_NODES = 30_000
#: a tile is at least this many times the halo wide (narrower tiles would be mostly halo)
MIN_TILE_HALOS = 2.0
_NONE = 0xFFFFFFFF  # the end of a bucket's list (low 32 bits of a queue entry's link)


@njit(nogil=True, cache=True)
def _grown(a, size):  # pragma: no cover - compiled
    b = np.empty(size, a.dtype)
    for i in range(len(a)):
        b[i] = a[i]
    return b


@njit(nogil=True, cache=True)
def _search(indptr, nbr, src_node, src_dist, limit, n_buckets, out):  # pragma: no cover - compiled
    """Bucket-queue search from ``src_node`` (at ``src_dist``) to ``limit``, lowering ``out`` in place.

    ``nbr`` holds each CSR entry as two float64: the edge's weight, then its end node's index. A queue
    entry is its distance and one int64: the node (high 32 bits) and the next entry of its bucket (low 32).
    """
    inv = (n_buckets - 1) / limit if limit > 0 else 0.0
    head = np.full(n_buckets, _NONE, np.int64)
    cap = max(1024, 2 * len(src_node) + len(out) + len(out) // 2)
    q_dist = np.empty(cap, np.float64)
    q_link = np.empty(cap, np.int64)
    top = 0
    for i in range(len(src_node)):
        v = src_node[i]
        d = src_dist[i]
        if d <= limit and d < out[v]:
            out[v] = d
            b = min(int(d * inv), n_buckets - 1)
            q_dist[top] = d
            q_link[top] = (np.int64(v) << 32) | head[b]
            head[b] = top
            top += 1
    for b in range(n_buckets):
        k = head[b]
        while k != _NONE:
            link = q_link[k]
            d = q_dist[k]
            v = link >> 32
            k = link & _NONE
            if d != out[v]:
                continue  # improved since: its newer entry is expanded instead
            for j in range(indptr[v], indptr[v + 1]):
                nd = d + nbr[2 * j]
                u = int(nbr[2 * j + 1])
                if nd <= limit and nd < out[u]:
                    out[u] = nd
                    if top == cap:  # grow the entry pool
                        cap *= 2
                        q_dist = _grown(q_dist, cap)
                        q_link = _grown(q_link, cap)
                    nb = min(int(nd * inv), n_buckets - 1)
                    q_dist[top] = nd
                    if nb == b:  # this bucket: next on the list being walked
                        q_link[top] = (np.int64(u) << 32) | k
                        k = top
                    else:
                        q_link[top] = (np.int64(u) << 32) | head[nb]
                        head[nb] = top
                    top += 1


@njit(nogil=True, cache=True)
def _pack(indptr, indices, weights):  # pragma: no cover - compiled
    """The CSR entries as (weight, end node) float64 pairs, the form ``_search`` reads."""
    nbr = np.empty(2 * len(indices), np.float64)
    for j in range(len(indices)):
        nbr[2 * j] = weights[j]
        nbr[2 * j + 1] = indices[j]
    return nbr


@njit(nogil=True, cache=True)
def _tile(
    indptr,
    indices,
    weights,
    halo,
    core,
    tile_src,
    src_node,
    src_dist,
    group_end,
    limits,
    n_buckets,
    loc,
    out,
):  # pragma: no cover - compiled
    """Search every group on the subgraph of ``halo`` (global ids, ascending); write the ``core`` nodes' columns of ``out``.

    ``tile_src``: the tile's sources (ascending positions in ``src_node``/``src_dist``, which are sorted by group;
    group g's are below ``group_end[g]``). ``loc`` is a scratch array of -1 per node, left as found.
    """
    m = len(halo)
    for i in range(m):
        loc[halo[i]] = i
    total = 0
    for i in range(m):
        total += indptr[halo[i] + 1] - indptr[halo[i]]
    lptr = np.empty(m + 1, np.int64)
    nbr = np.empty(2 * total, np.float64)
    k = 0
    lptr[0] = 0
    for i in range(m):
        v = halo[i]
        for j in range(indptr[v], indptr[v + 1]):
            t = loc[indices[j]]
            if t >= 0:
                nbr[2 * k] = weights[j]
                nbr[2 * k + 1] = t
                k += 1
        lptr[i + 1] = k
    ns = len(tile_src)
    lsn = np.empty(ns, np.int32)
    lsd = np.empty(ns, np.float64)
    for a in range(ns):
        lsn[a] = loc[src_node[tile_src[a]]]
        lsd[a] = src_dist[tile_src[a]]
    dist = np.empty(m, np.float64)
    a = 0
    for g in range(len(limits)):
        b = a
        while b < ns and tile_src[b] < group_end[g]:
            b += 1
        for i in range(m):
            dist[i] = np.inf
        if b > a:
            _search(lptr, nbr, lsn[a:b], lsd[a:b], limits[g], n_buckets[g], dist)
        for i in range(m):
            if core[i]:
                out[g, halo[i]] = dist[i]
        a = b
    for i in range(m):
        loc[halo[i]] = -1


@njit(nogil=True, cache=True)
def _fill(first, last, ny, n_tiles):  # pragma: no cover - compiled
    """Item i in every tile (tx, ty) with ``first[i] <= (tx, ty) <= last[i]``: (bounds, items), tile by tile, ascending."""
    count = np.zeros(n_tiles + 1, np.int64)
    for i in range(len(first)):
        for tx in range(first[i, 0], last[i, 0] + 1):
            for ty in range(first[i, 1], last[i, 1] + 1):
                count[tx * ny + ty + 1] += 1
    bounds = np.empty(n_tiles + 1, np.int64)
    fill = np.empty(n_tiles + 1, np.int64)
    total = 0
    for t in range(n_tiles + 1):
        total += count[t]
        bounds[t] = total
        fill[t] = total
    items = np.empty(total, np.int32)
    for i in range(len(first)):
        for tx in range(first[i, 0], last[i, 0] + 1):
            for ty in range(first[i, 1], last[i, 1] + 1):
                t = tx * ny + ty
                items[fill[t]] = i
                fill[t] += 1
    return bounds, items


def _assign(
    xy: np.ndarray, lo: np.ndarray, size: float, shape: tuple[int, int], reach: float
) -> tuple:
    """Each row of ``xy`` with every tile whose square, grown by ``reach``, holds it: (bounds, items, home).

    Items are listed tile by tile (``items[bounds[t]:bounds[t + 1]]``), ascending within a tile; ``home[i]``
    is the tile whose square holds row i (the last tile of a row or column also holds what lies beyond it).
    """
    top = np.array(shape) - 1

    def tile(z: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((z - lo) / size), 0, top).astype(np.int64)

    home = tile(xy)
    bounds, items = _fill(tile(xy - reach), tile(xy + reach), shape[1], shape[0] * shape[1])
    return bounds, items, home[:, 0] * shape[1] + home[:, 1]


@njit(nogil=True, cache=True)
def _cross(indptr, indices, weights, home):  # pragma: no cover - compiled
    """The CSR entries whose two ends lie in different tiles: (from, to, weight)."""
    k = 0
    for v in range(len(indptr) - 1):
        for j in range(indptr[v], indptr[v + 1]):
            if home[v] != home[indices[j]]:
                k += 1
    cu = np.empty(k, np.int32)
    cv = np.empty(k, np.int32)
    cw = np.empty(k, np.float64)
    k = 0
    for v in range(len(indptr) - 1):
        for j in range(indptr[v], indptr[v + 1]):
            if home[v] != home[indices[j]]:
                cu[k] = v
                cv[k] = indices[j]
                cw[k] = weights[j]
                k += 1
    return cu, cv, cw


@njit(nogil=True, cache=True)
def _violations(cu, cv, cw, limit, out):  # pragma: no cover - compiled
    """Where ``out[v] > out[u] + w`` on an edge (cu, cv, cw) within ``limit``: the nodes and their shorter distances."""
    node = np.empty(len(cu), np.int32)
    dist = np.empty(len(cu), np.float64)
    k = 0
    for e in range(len(cu)):
        nd = out[cu[e]] + cw[e]
        if nd <= limit and nd < out[cv[e]]:
            node[k] = cv[e]
            dist[k] = nd
            k += 1
    return node[:k], dist[:k]


def _n_buckets(limit: float) -> int:
    return int(min(MAX_BUCKETS, math.ceil(limit / BUCKET_WIDTH_M) + 1))


def _layout(node_xy: np.ndarray, halo_m: float) -> tuple[float, tuple[int, int], np.ndarray] | None:
    """Tile size, grid shape and origin for ``node_xy``, or None when one tile would hold the city."""
    n = len(node_xy)
    if not np.isfinite(node_xy).all():
        return None
    lo, hi = node_xy.min(axis=0), node_xy.max(axis=0)
    extent = np.maximum(hi - lo, 1e-9)
    density = n / float(extent[0] * extent[1])
    size = max(math.sqrt(TILE_NODES / density) - 2 * halo_m, MIN_TILE_HALOS * halo_m, 1e-9)
    nx, ny = max(1, math.ceil(extent[0] / size)), max(1, math.ceil(extent[1] / size))
    if nx * ny < 2 or n < 2 * TILE_NODES:
        return None
    size = float(max(extent[0] / nx, extent[1] / ny))
    return size, (nx, ny), lo


def nearest_source_distances(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    src_group: np.ndarray,
    src_node: np.ndarray,
    src_dist: np.ndarray,
    limits: np.ndarray,
    *,
    node_xy: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Distance from the nearest source of each group to every node, inf beyond the group's limit: (groups, nodes).

    The graph is a CSR adjacency (``indptr``, ``indices``, ``weights`` ≥ 0; directed as stored). Source
    ``i`` belongs to group ``src_group[i]``, sits on node ``src_node[i]`` and starts at ``src_dist[i]``
    ≥ 0 (e.g. the walk from a point to that node). ``limits``: one finite limit per group; a distance
    equal to it is kept (as scipy's ``limit``). ``node_xy`` (nodes' metric coordinates) lets a large
    graph be searched tile by tile (faster; the same distances). ``threads``: default the cores.
    """
    n = len(indptr) - 1
    limits = np.ascontiguousarray(limits, dtype=np.float64)
    if not np.isfinite(limits).all() or (limits < 0).any():
        raise ValueError("every group needs a finite limit >= 0")
    src_dist = np.asarray(src_dist, dtype=np.float64)
    if (src_dist < 0).any() or (np.asarray(weights) < 0).any():
        raise ValueError("distances from sources and edge weights must be >= 0")
    if n >= 1 << 31 or len(src_dist) >= 1 << 31 or len(indices) >= 1 << 30:
        raise ValueError("graphs of 2^31 nodes or more are not supported")
    g_count = len(limits)
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int32)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    src_group = np.asarray(src_group, dtype=np.int64)
    order = np.argsort(src_group, kind="stable")
    nodes = np.ascontiguousarray(np.asarray(src_node, dtype=np.int32)[order])
    dists = np.ascontiguousarray(src_dist[order])
    group_end = np.searchsorted(src_group[order], np.arange(1, g_count + 1)).astype(np.int64)
    group_start = np.concatenate([[0], group_end[:-1]]).astype(np.int64)
    buckets = np.array([_n_buckets(float(c)) for c in limits], dtype=np.int64)
    threads = max(1, threads or os.cpu_count() or 1)
    halo_m = float(limits.max(initial=0.0)) * (1 + 1e-9) + 1.0
    layout = None if node_xy is None or not len(nodes) else _layout(node_xy, halo_m)
    if layout is None:  # the whole graph at once, one group per thread
        out = np.full((g_count, n), np.inf)
        nbr = _pack(indptr, indices, weights)

        def run(g: int) -> None:
            lo, hi = group_start[g], group_end[g]
            if hi > lo:
                _search(indptr, nbr, nodes[lo:hi], dists[lo:hi], limits[g], buckets[g], out[g])

        _map(run, sorted(range(g_count), key=lambda g: -limits[g]), threads)
        return out
    size, shape, lo = layout
    nx, ny = shape
    xy = np.asarray(node_xy, dtype=np.float64)
    n_bounds, n_items, home = _assign(xy, lo, size, shape, halo_m)
    s_bounds, s_items, _ = _assign(xy[nodes], lo, size, shape, halo_m)
    core = home[n_items] == np.repeat(np.arange(nx * ny), np.diff(n_bounds))
    out = np.empty((g_count, n))  # every node is the core of one tile, which writes its column
    tiles = [t for t in range(nx * ny) if n_bounds[t + 1] > n_bounds[t]]
    # one list of tiles per thread, each about as many halo nodes (largest first), each with its own scratch
    shares: list[list[int]] = [[] for _ in range(min(threads, len(tiles)))]
    load = [0] * len(shares)
    for t in sorted(tiles, key=lambda t: n_bounds[t] - n_bounds[t + 1]):
        i = load.index(min(load))
        shares[i].append(t)
        load[i] += int(n_bounds[t + 1] - n_bounds[t])

    def work(share: list[int]) -> None:
        loc = np.full(n, -1, np.int32)
        for t in share:
            a, b = n_bounds[t], n_bounds[t + 1]
            c, d = s_bounds[t], s_bounds[t + 1]
            _tile(
                indptr,
                indices,
                weights,
                n_items[a:b],
                core[a:b],
                s_items[c:d],
                nodes,
                dists,
                group_end,
                limits,
                buckets,
                loc,
                out,
            )

    _map(work, shares, threads)
    # check the edges between tiles, and search on from wherever a neighbouring tile offers a shorter path
    cu, cv, cw = _cross(indptr, indices, weights, home)
    fixes = [_violations(cu, cv, cw, limits[g], out[g]) for g in range(g_count)]
    if any(len(f[0]) for f in fixes):
        nbr = _pack(indptr, indices, weights)
        for g, (node, dist) in enumerate(fixes):
            if len(node):
                _search(indptr, nbr, node, dist, limits[g], buckets[g], out[g])
    return out


def warm_up() -> None:
    """Load the compiled loops (compiling them, the first time on a machine) with the types a search uses.

    A search loads them anyway; a benchmark calls this first to time the loading apart from the search.
    """
    indptr, indices, weights = np.array([0, 1, 2]), np.array([1, 0], np.int32), np.ones(2)
    xy = np.array([[0.0, 0.0], [1.0, 0.0]])
    nodes, dists, limits = np.zeros(1, np.int32), np.zeros(1), np.ones(1)
    nearest_source_distances(indptr, indices, weights, nodes, nodes, dists, limits)
    bounds, items, home = _assign(xy, xy[0], 1.0, (2, 1), 0.0)
    out = np.empty((1, 2))
    _tile(
        indptr,
        indices,
        weights,
        items,
        np.ones(2, bool),
        items[:1],
        nodes,
        dists,
        np.ones(1, np.int64),
        limits,
        np.full(1, 2, np.int64),
        np.full(2, -1, np.int32),
        out,
    )
    cu, cv, cw = _cross(indptr, indices, weights, home)
    _violations(cu, cv, cw, limits[0], out[0])


def _map(fn, items, threads: int) -> None:
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        for it in items:
            fn(it)
        return
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        list(pool.map(fn, items))
