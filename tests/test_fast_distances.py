"""The compiled multi-source search (ditan.spatial.engine.fast_distances) against scipy's Dijkstra.

The reference is ``scipy.sparse.csgraph.dijkstra`` run separately for each group from a virtual
node joined to the group's sources by edges of their start distances (explicit zeros are edges for
scipy), cut at the group's limit. Graphs are small and random, with what breaks searches: ties
(integer weights), zero-length edges, unconnected parts, several sources on one node, a group with
no source, limits exactly at a path's length. The tiled search (forced on small graphs by a small
``TILE_NODES``) must give the same distances as the whole-graph one, with any coordinates: tiles
are a speed-up only, checked and repaired on the edges between them.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.sparse import csgraph

from ditan.spatial.engine import fast_distances as fd
from ditan.spatial.engine import network
from ditan.spatial.engine.network import build_network, group_distances, snap_points

X0, Y0 = 500_000.0, 4_400_000.0


def _graph(rng, n, m, *, integer=False, zeros=0.0):
    """A random undirected graph as a symmetric CSR (one weight per node pair, the smallest)."""
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = u != v
    u, v = u[keep], v[keep]
    w = rng.integers(1, 6, len(u)).astype(float) if integer else rng.uniform(0.5, 50.0, len(u))
    w[rng.random(len(u)) < zeros] = 0.0
    rows, cols, ww = np.r_[u, v], np.r_[v, u], np.r_[w, w]
    csr = network._min_csr(rows, cols, ww, n, n)
    return csr.indptr, csr.indices, csr.data


def _reference(indptr, indices, weights, groups, nodes, dists, limits):
    """The reference: scipy's Dijkstra per group from a virtual node n joined to the group's sources."""
    n = len(indptr) - 1
    out = np.full((len(limits), n), np.inf)
    for g, limit in enumerate(limits):
        mine = groups == g
        if not mine.any():
            continue
        rows = np.r_[np.repeat(np.arange(n), np.diff(indptr)), np.full(mine.sum(), n)]
        cols = np.r_[indices, nodes[mine]]
        w = np.r_[weights, dists[mine]]
        # (explicit zeros are kept: edges for scipy)
        graph = network._min_csr(rows, cols, w, n + 1, n + 1)
        out[g] = csgraph.dijkstra(graph, directed=True, indices=n, limit=limit)[:n]
    return out


def _sources(rng, n, k, n_groups, *, integer=False):
    groups = rng.integers(0, n_groups - 1, k)  # the last group has no source
    nodes = rng.integers(0, n, k)
    nodes[: k // 4] = nodes[0]  # several sources on one node, of several groups and start distances
    dists = rng.integers(0, 3, k).astype(float) if integer else rng.uniform(0, 20, k)
    dists[rng.random(k) < 0.3] = 0.0
    return groups, nodes, dists


@pytest.mark.parametrize("seed", range(6))
def test_equal_to_scipy_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    integer = seed % 2 == 0  # ties everywhere
    n = int(rng.integers(30, 300))
    indptr, indices, weights = _graph(rng, n, int(n * 1.5), integer=integer, zeros=0.1)
    groups, nodes, dists = _sources(rng, n, 12, 4, integer=integer)
    # limits exactly at a reached distance (kept, as scipy keeps it), between two, and zero
    full = _reference(indptr, indices, weights, groups, nodes, dists, [1e9] * 4)
    reached = np.unique(full[0][np.isfinite(full[0])])
    limits = np.array([reached[len(reached) // 2], 7.25 if not integer else 4.0, 0.0, 30.0])
    want = _reference(indptr, indices, weights, groups, nodes, dists, limits)
    got = fd.nearest_source_distances(indptr, indices, weights, groups, nodes, dists, limits)
    fin = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), fin)
    assert np.abs(got[fin] - want[fin]).max(initial=0.0) <= 1e-3  # 1 mm
    assert (got[0] == limits[0]).any()  # a node exactly at the limit is kept
    assert np.isinf(got[3]).all()  # a group with no source reaches nothing


def test_equal_to_scipy_exactly_on_a_street_grid():
    """Float distances on a jittered grid: the same sums along the same paths, bit for bit."""
    rng = np.random.default_rng(3)
    net = _grid(rng, 25)
    csr = net.csr()
    groups, nodes, dists = _sources(rng, net.n_nodes, 40, 5)
    limits = np.array([300.0, 500.0, 1000.0, 150.0, 700.0])
    want = _reference(csr.indptr, csr.indices, csr.data, groups, nodes, dists, limits)
    got = fd.nearest_source_distances(
        csr.indptr, csr.indices, csr.data, groups, nodes, dists, limits
    )
    assert np.array_equal(got, want) and np.isfinite(got).any() and np.isinf(got).any()


def _grid(rng, k, spacing=100.0):
    xs, ys = np.meshgrid(np.arange(k) * spacing, np.arange(k) * spacing)
    xy = np.column_stack([xs.ravel(), ys.ravel()]) + rng.uniform(-15, 15, (k * k, 2)) + [X0, Y0]
    idx = np.arange(k * k).reshape(k, k)
    pairs = [(idx[i, j], idx[i, j + 1]) for i in range(k) for j in range(k - 1)]
    pairs += [(idx[i, j], idx[i + 1, j]) for i in range(k - 1) for j in range(k)]
    pairs += [
        (idx[i, j], idx[i + 1, j + 1]) for i in range(0, k - 1, 3) for j in range(0, k - 1, 2)
    ]
    return build_network(np.array([shapely.LineString([xy[a], xy[b]]) for a, b in pairs]))


@pytest.mark.parametrize("scramble", [False, True])
def test_tiles_give_the_whole_graphs_distances(monkeypatch, scramble):
    """Tiled (small tiles forced) == whole graph == scipy; with scrambled coordinates the check between tiles repairs it."""
    rng = np.random.default_rng(5)
    net = _grid(rng, 30)
    csr = net.csr()
    groups, nodes, dists = _sources(rng, net.n_nodes, 60, 4)
    limits = np.array([900.0, 400.0, 1000.0, 250.0])
    xy = net.node_xy[rng.permutation(net.n_nodes)] if scramble else net.node_xy
    want = _reference(csr.indptr, csr.indices, csr.data, groups, nodes, dists, limits)
    monkeypatch.setattr(fd, "TILE_NODES", 50)
    # tiles narrower than the limit: many paths cross tiles
    monkeypatch.setattr(fd, "MIN_TILE_HALOS", 0.3)
    assert fd._layout(xy, 1001.0) is not None
    calls = []
    monkeypatch.setattr(fd, "_violations", _spy(fd._violations, calls))
    got = fd.nearest_source_distances(
        csr.indptr, csr.indices, csr.data, groups, nodes, dists, limits, node_xy=xy
    )
    assert np.array_equal(got, want)
    assert calls and (sum(calls) > 0) == scramble  # street coordinates: nothing to repair


def _spy(fn, calls):
    def spy(*args):
        node, dist = fn(*args)
        calls.append(len(node))
        return node, dist

    return spy


@pytest.mark.parametrize("tiled", [False, True])
def test_threads_give_the_same_result_as_one(monkeypatch, tiled):
    rng = np.random.default_rng(8)
    net = _grid(rng, 20)
    csr = net.csr()
    groups, nodes, dists = _sources(rng, net.n_nodes, 30, 6)
    limits = np.array([500.0, 1000.0, 300.0, 800.0, 1000.0, 200.0])
    monkeypatch.setattr(fd, "TILE_NODES", 40 if tiled else 10**9)
    args = (csr.indptr, csr.indices, csr.data, groups, nodes, dists, limits)
    one = fd.nearest_source_distances(*args, node_xy=net.node_xy, threads=1)
    two = fd.nearest_source_distances(*args, node_xy=net.node_xy, threads=2)
    assert np.array_equal(one, two) and np.isfinite(one).any()


def test_group_distances_compiled_equals_scipy(monkeypatch):
    """group_distances from points on edges: the compiled path (tiled) gives scipy's virtual-node answer."""
    rng = np.random.default_rng(11)
    net = _grid(rng, 22)
    pts = shapely.points(rng.uniform([X0, Y0], [X0 + 2100, Y0 + 2100], (80, 2)))
    snap = snap_points(net, pts, max_distance_m=25.0)
    assert (~snap.ok).any() and snap.ok.any()  # some points too far: not sources
    groups, cut = np.arange(80) % 5, np.array([300.0, 500.0, 1000.0, 1000.0, 500.0])
    monkeypatch.setattr(network, "FAST_MIN_NODES", 10**9)
    with_scipy = group_distances(net, snap, groups, 5, cutoff_m=cut)
    monkeypatch.setattr(network, "FAST_MIN_NODES", 0)
    monkeypatch.setattr(fd, "TILE_NODES", 60)
    compiled = group_distances(net, snap, groups, 5, cutoff_m=cut)
    assert np.array_equal(compiled, with_scipy) and np.isinf(compiled).any()


def test_bad_limits_and_weights_are_refused():
    indptr, indices = np.array([0, 1, 2]), np.array([1, 0])
    one = (np.array([0]), np.array([0]), np.array([0.0]))
    with pytest.raises(ValueError, match="finite limit"):
        fd.nearest_source_distances(indptr, indices, np.ones(2), *one, np.array([np.inf]))
    with pytest.raises(ValueError, match="must be >= 0"):
        fd.nearest_source_distances(indptr, indices, np.array([-1.0, 1.0]), *one, np.array([5.0]))
    assert fd._layout(np.full((10**6, 2), np.nan), 100.0) is None  # no coordinates: no tiles


# --- snapping: the grid search chooses the edge GEOS's nearest-neighbour query chooses ----------------------------


def _snaps(monkeypatch, net, pts, max_d):
    monkeypatch.setattr(network, "FAST_SNAP_MIN_POINTS", 10**12)
    geos = snap_points(net, pts, max_distance_m=max_d)
    monkeypatch.setattr(network, "FAST_SNAP_MIN_POINTS", 0)
    net._grid = None
    fast = snap_points(net, pts, max_distance_m=max_d)
    return geos, fast


def test_snapping_with_the_grid_equals_geos(monkeypatch):
    """Random points, points on street corners (equally near several edges), on edges, beyond reach, missing."""
    rng = np.random.default_rng(4)
    net = _grid(rng, 15)
    inner = rng.uniform([X0 - 300, Y0 - 300], [X0 + 1700, Y0 + 1700], (400, 2))
    corners = net.node_xy[rng.choice(net.n_nodes, 40)] + rng.choice([0.0, 3.0], (40, 1))
    ends = shapely.get_coordinates(net.edge_line).reshape(-1, 2, 2)
    on_edges = ends[:50, 0] + rng.uniform(0, 1, (50, 1)) * (ends[:50, 1] - ends[:50, 0])
    pts = list(shapely.points(np.vstack([inner, corners, on_edges])))
    # missing, empty, far outside the grid
    pts += [None, shapely.Point(), shapely.Point(X0 + 9e5, Y0)]
    geos, fast = _snaps(monkeypatch, net, np.array(pts, dtype=object), 40.0)
    for f in ("edge", "t", "access_m", "ok"):
        assert np.array_equal(getattr(geos, f), getattr(fast, f)), f
    assert geos.ok.any() and (~geos.ok).any()


def test_snapping_at_exactly_the_snapping_distance(monkeypatch):
    """A point exactly max_distance from the only edge: GEOS decides (kept, as query_nearest keeps it)."""
    net = build_network(np.array([shapely.LineString([(X0, Y0), (X0 + 200, Y0)])]))
    pts = shapely.points(
        [[X0 + 50, Y0 + 25.0], [X0 + 50, Y0 + 25.5], [X0 - 25.0, Y0], [X0 + 100, Y0]]
    )
    geos, fast = _snaps(monkeypatch, net, pts, 25.0)
    assert geos.ok.tolist() == [True, False, True, True]
    for f in ("edge", "t", "access_m", "ok"):
        assert np.array_equal(getattr(geos, f), getattr(fast, f)), f


def test_grid_nearest_segments_against_brute_force():
    """Nearest and next-nearest distances of the grid search equal a brute-force scan of every segment."""
    from ditan.spatial.engine.fast_snap import SegmentGrid, nearest_segments

    rng = np.random.default_rng(6)
    a = rng.uniform(0, 1000, (120, 2))
    b = a + rng.normal(0, 60, (120, 2))
    b[:5] = a[:5] + [700.0, 0.0]  # long segments spanning many cells
    xy = rng.uniform(-100, 1100, (300, 2))
    best, near, next_near = nearest_segments(SegmentGrid(np.hstack([a, b])), xy, 80.0, threads=2)
    ab = b - a
    q = xy[:, None, :] - a[None]
    t = np.clip((q * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    d = np.hypot(*(q - t[..., None] * ab).transpose(2, 0, 1))
    order = np.sort(d, axis=1)
    within = order[:, 0] <= 80.0
    assert np.array_equal(best >= 0, within)
    assert np.allclose(near[within], order[within, 0], rtol=0, atol=1e-9)
    assert np.array_equal(best[within], d[within].argmin(axis=1))
    close = order[:, 1] <= order[:, 0] + 1e-3  # the next nearest is exact where it could be a tie
    assert np.allclose(next_near[within & close], order[within & close, 1], atol=1e-9)
