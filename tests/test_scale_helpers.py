"""The city-scale fast paths against the plain computations they replace (brute force, union_all, networkx)."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from conftest import CRS, X0, Y0, line

from ditan.pipelines.jobs.run import map_detail_layers
from ditan.spatial.engine.geometry import merge_touching, overlap_groups, tiled_union
from ditan.spatial.engine.network import build_network, group_distances, snap_points
from ditan.spatial.indicators.landuse import landuse_faces
from ditan.spatial.study_area.model import reach_zone, within_zone


def _random_boxes(
    rng: np.random.Generator, n: int, span: float = 2000.0, size: tuple[float, float] = (20, 300)
) -> np.ndarray:
    x, y = rng.uniform(0, span, n) + X0, rng.uniform(0, span, n) + Y0
    w, h = rng.uniform(*size, n), rng.uniform(*size, n)
    return shapely.box(x, y, x + w, y + h)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_overlap_groups_match_pairwise_overlap_areas(seed):
    rng = np.random.default_rng(seed)
    boxes = _random_boxes(rng, 120)
    # two boxes sharing only an edge do not overlap
    boxes = np.concatenate([boxes, [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)]])
    label = overlap_groups(boxes)
    g = nx.Graph()
    g.add_nodes_from(range(len(boxes)))
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if shapely.area(shapely.intersection(boxes[i], boxes[j])) > 0:
                g.add_edge(i, j)
    for comp in nx.connected_components(g):
        assert len({label[i] for i in comp}) == 1
    assert len(np.unique(label)) == nx.number_connected_components(g)
    assert label[-1] != label[-2]


@pytest.mark.parametrize("seed", [4, 5])
def test_merge_touching_equals_union_all_parts(seed):
    rng = np.random.default_rng(seed)
    polys = np.concatenate(
        [
            _random_boxes(rng, 150),
            [shapely.MultiPolygon([shapely.box(0, 0, 5, 5), shapely.box(20, 0, 25, 5)])],
        ]
    )
    mine, ref = merge_touching(polys), shapely.get_parts(shapely.union_all(polys))
    assert len(mine) == len(ref)
    assert sorted(np.round(shapely.area(mine), 6)) == sorted(np.round(shapely.area(ref), 6))


@pytest.mark.parametrize("tile_m", [150.0, 700.0, 5000.0])
def test_tiled_union_covers_the_union_without_overlap(tile_m):
    rng = np.random.default_rng(6)
    polys = shapely.buffer(
        shapely.points(rng.uniform(0, 1500, 80) + X0, rng.uniform(0, 1500, 80) + Y0), 120.0
    )
    tiles = tiled_union(polys, tile_m)
    whole = shapely.union_all(polys)
    assert shapely.area(tiles).sum() == pytest.approx(whole.area, rel=1e-9)
    assert shapely.area(shapely.union_all(tiles)) == pytest.approx(
        whole.area, rel=1e-9
    )  # pieces do not overlap
    assert shapely.area(shapely.symmetric_difference(shapely.union_all(tiles), whole)) < 1e-3


def test_landuse_faces_equal_the_full_planar_partition():
    """Only overlapping polygons are partitioned; areas by class equal partitioning everything (smallest wins)."""
    rng = np.random.default_rng(7)
    geoms = _random_boxes(rng, 100)
    cls = rng.choice(["residential", "park", "industrial"], len(geoms))
    lu = gpd.GeoDataFrame({"lu_class": cls}, geometry=geoms, crs=CRS)
    faces = landuse_faces(lu)
    # reference: polygonize every ring, give each face the smallest polygon containing it
    parts = shapely.get_parts(
        shapely.polygonize(shapely.get_parts(shapely.union_all(shapely.boundary(geoms))))
    )
    parts = parts[shapely.area(parts) > 0]
    probe = shapely.point_on_surface(parts)
    ref = {}
    for f, p in zip(parts, probe, strict=True):
        inside = [i for i in range(len(geoms)) if shapely.within(p, geoms[i])]
        if not inside:  # a gap enclosed by polygons: no land use
            continue
        best = min(inside, key=lambda i: (shapely.area(geoms[i]), i))
        ref[cls[best]] = ref.get(cls[best], 0.0) + shapely.area(f)
    got = faces.assign(a=faces.area).groupby("lu_class")["a"].sum().to_dict()
    assert got.keys() == ref.keys()
    for k in ref:
        assert got[k] == pytest.approx(ref[k], rel=1e-9)
    assert shapely.area(shapely.union_all(faces.geometry.to_numpy())) == pytest.approx(
        faces.area.sum(), rel=1e-9
    )  # no overlaps


def test_group_distances_with_a_cutoff_per_group_match_networkx():
    """Each group searched to its own cutoff: equal to networkx multi-source Dijkstra, inf beyond the cutoff."""
    rng = np.random.default_rng(9)
    k = 15
    xs, ys = np.meshgrid(np.arange(k) * 100.0, np.arange(k) * 100.0)
    xy = np.column_stack([xs.ravel(), ys.ravel()]) + rng.uniform(-10, 10, (k * k, 2)) + [X0, Y0]
    idx = np.arange(k * k).reshape(k, k)
    pairs = [(idx[i, j], idx[i, j + 1]) for i in range(k) for j in range(k - 1)] + [
        (idx[i, j], idx[i + 1, j]) for i in range(k - 1) for j in range(k)
    ]
    net = build_network(np.array([shapely.LineString([xy[u], xy[v]]) for u, v in pairs]))
    sources = rng.choice(net.n_nodes, 12, replace=False)
    groups = np.arange(12) % 3
    snap = snap_points(net, shapely.points(net.node_xy[sources]), max_distance_m=1.0)
    cut = np.array([300.0, 500.0, 1000.0])
    got = group_distances(net, snap, groups, 3, cutoff_m=cut)
    g = nx.Graph()
    for u, v, w in zip(net.u, net.v, net.length_m, strict=True):
        g.add_edge(int(u), int(v), length=float(w))
    node_of = {tuple(np.round(c, 6)): i for i, c in enumerate(net.node_xy)}
    for grp in range(3):
        src = {node_of[tuple(np.round(net.node_xy[s], 6))] for s in sources[groups == grp]}
        ref = nx.multi_source_dijkstra_path_length(g, src, cutoff=cut[grp], weight="length")
        want = np.full(net.n_nodes, np.inf)
        want[list(ref)] = list(ref.values())
        fin = np.isfinite(want)
        assert np.array_equal(np.isfinite(got[grp]), fin)
        assert np.abs(got[grp][fin] - want[fin]).max() < 1e-6


def test_reach_zone_keeps_what_touches_it_whole():
    units = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + 100, Y0 + 100)], crs=CRS)
    zone = reach_zone(units, 500.0)
    near = line((-450, 50), (-2000, 50))  # starts 450 m west of the unit: kept whole
    far = line((-700, 50), (-2000, 50))
    assert within_zone(zone, np.array([near, far])).tolist() == [True, False]


def test_map_detail_layers_leave_out_what_a_browser_cannot_draw():
    small = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)] * 3, crs=CRS)  # 15 vertices
    stations = gpd.GeoDataFrame(
        {"kind": ["bus_stop"]}, geometry=[shapely.Point(0, 0)], crs=CRS
    )  # 1 + 65 circle vertices
    keep, note = map_detail_layers(
        {"buildings": small, "stations": stations, "roads": None}, max_vertices=20
    )
    assert set(keep) == {"buildings", "roads"} and "站点 stations (1 features, 66 vertices)" in note
    keep, note = map_detail_layers({"buildings": small, "stations": stations}, max_vertices=100)
    assert set(keep) == {"buildings", "stations"} and note == ""


def test_group_distances_on_two_processes_equal_one(monkeypatch):
    """A large graph is searched on forked processes: the same distances as in this process."""
    import ditan.spatial.engine.network as network

    rng = np.random.default_rng(10)
    k = 12
    pts = [
        shapely.LineString(
            [
                (X0 + i * 100.0, Y0 + j * 100.0),
                (X0 + (i + 1) * 100.0, Y0 + j * 100.0 + rng.uniform(-5, 5)),
            ]
        )
        for i in range(k)
        for j in range(k)
    ]
    pts += [
        shapely.LineString(
            [(X0 + i * 100.0, Y0 + j * 100.0), (X0 + i * 100.0, Y0 + (j + 1) * 100.0)]
        )
        for i in range(k)
        for j in range(k)
    ]
    net = build_network(np.array(pts, dtype=object))
    snap = snap_points(
        net,
        shapely.points(rng.uniform(X0, X0 + 1200, (30, 2)) * [1, 0] + [0, Y0 + 300]),
        max_distance_m=200,
    )
    groups, cut = np.arange(30) % 5, np.array([300.0, 500.0, 1000.0, 1000.0, 500.0])
    serial = group_distances(net, snap, groups, 5, cutoff_m=cut)
    monkeypatch.setattr(network, "PARALLEL_MIN_NODES", 0)
    if network._search_processes(net.n_nodes, 5) < 2:
        pytest.skip("one core, or no fork here: the search runs in this process")
    parallel = group_distances(net, snap, groups, 5, cutoff_m=cut)
    assert np.array_equal(serial, parallel) and np.isfinite(serial).any() and np.isinf(serial).any()
