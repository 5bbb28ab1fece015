"""Divided roads counted once and junctions of divided roads consolidated (answers worked out below)."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from ditan.spatial.engine.carriageways import consolidate_junctions, merge_runs, pair_carriageways
from ditan.spatial.indicators.roads import classify_roads, intersection_density, road_density
from tests.conftest import CRS, ROOT, X0, Y0, box, gdf, line, require_or_skip

BEIJING = ROOT / "data" / "beijing_haidian_tsinghua" / "map.osm.pbf"
BEIJING_BOUNDS = (116.3084, 39.9905, 116.3320, 40.0123)


@pytest.fixture
def divided() -> gpd.GeoDataFrame:
    # rows 0, 1: a divided primary road, two oneway carriageways 20 m apart, 1000 m each, opposite directions,
    #            same name -> counts 1000 m. Both have a node at x=500 where the street of row 2 crosses them.
    # row 2: a two-way residential street crossing both, x=500, y=-200..220 (420 m, weight 1).
    # rows 3, 4 (a): parallel antiparallel oneway secondaries 20 m apart with different names -> not paired.
    # rows 5, 6 (b): a oneway tertiary 20 m from a tertiary tagged oneway=no -> not paired.
    # rows 7, 8 (c): antiparallel oneway secondaries with the same name 60 m apart -> not paired.
    # rows 9, 10 (d): oneway secondaries drawn in the same direction 20 m apart -> not paired.
    # rows 11, 12: oneway=-1 makes a carriageway drawn eastwards run westwards -> paired (500 m + 500 m -> 500 m).
    # rows 13, 14: one carriageway unnamed -> names compatible, paired (300 m + 300 m -> 300 m).
    # rows 15, 16: a oneway primary beside a oneway secondary -> different classes, not paired.
    return gdf(
        [
            {
                "highway": "primary",
                "name": "成府路",
                "oneway": "yes",
                "geometry": line((0, 0), (500, 0), (1000, 0)),
            },
            {
                "highway": "primary",
                "name": "成府路",
                "oneway": "yes",
                "geometry": line((1000, 20), (500, 20), (0, 20)),
            },
            {
                "highway": "residential",
                "name": "小街",
                "oneway": None,
                "geometry": line((500, -200), (500, 0), (500, 20), (500, 220)),
            },
            {
                "highway": "secondary",
                "name": "甲路",
                "oneway": "yes",
                "geometry": line((0, 1000), (500, 1000)),
            },
            {
                "highway": "secondary",
                "name": "乙路",
                "oneway": "yes",
                "geometry": line((500, 1020), (0, 1020)),
            },
            {
                "highway": "tertiary",
                "name": "丙路",
                "oneway": "yes",
                "geometry": line((0, 2000), (500, 2000)),
            },
            {
                "highway": "tertiary",
                "name": "丙路",
                "oneway": "no",
                "geometry": line((500, 2020), (0, 2020)),
            },
            {
                "highway": "secondary",
                "name": "丁路",
                "oneway": "yes",
                "geometry": line((0, 3000), (500, 3000)),
            },
            {
                "highway": "secondary",
                "name": "丁路",
                "oneway": "yes",
                "geometry": line((500, 3060), (0, 3060)),
            },
            {
                "highway": "secondary",
                "name": "戊路",
                "oneway": "yes",
                "geometry": line((0, 4000), (500, 4000)),
            },
            {
                "highway": "secondary",
                "name": "戊路",
                "oneway": "yes",
                "geometry": line((0, 4020), (500, 4020)),
            },
            {
                "highway": "secondary",
                "name": "己路",
                "oneway": "yes",
                "geometry": line((0, 5000), (500, 5000)),
            },
            {
                "highway": "secondary",
                "name": "己路",
                "oneway": "-1",
                "geometry": line((0, 5020), (500, 5020)),
            },
            {
                "highway": "tertiary",
                "name": "庚路",
                "oneway": "yes",
                "geometry": line((0, 6000), (300, 6000)),
            },
            {
                "highway": "tertiary",
                "name": None,
                "oneway": "yes",
                "geometry": line((300, 6020), (0, 6020)),
            },
            {
                "highway": "primary",
                "name": "辛路",
                "oneway": "yes",
                "geometry": line((0, 7000), (500, 7000)),
            },
            {
                "highway": "secondary",
                "name": "辛路",
                "oneway": "yes",
                "geometry": line((500, 7020), (0, 7020)),
            },
        ]
    )


def _weighted_m(pieces: gpd.GeoDataFrame) -> pd.Series:
    """Weighted length (m) per road row."""
    return (pieces.geometry.length * pieces["weight"]).groupby(pieces["road"]).sum()


def _pieces(roads: gpd.GeoDataFrame, **kw) -> gpd.GeoDataFrame:
    return pair_carriageways(roads, classify_roads(roads).to_numpy(), **kw)


def test_divided_road_counts_one_centre_line(divided):
    p = _pieces(divided)
    assert (p.geometry.length <= 20.0 + 1e-9).all()
    assert shapely.get_num_coordinates(p.geometry.to_numpy()).max() == 2
    w = _weighted_m(p)
    # every piece of each carriageway is paired: 500 m + 500 m = the 1000 m centre line
    assert p.loc[p["road"].isin([0, 1]), "weight"].eq(0.5).all()
    assert w[0] + w[1] == pytest.approx(1000.0)
    # the crossing street and the near misses (a)-(d) and the class mismatch count in full
    for road, full_m in {
        2: 420.0,
        3: 500.0,
        4: 500.0,
        5: 500.0,
        6: 500.0,
        7: 500.0,
        8: 500.0,
        9: 500.0,
        10: 500.0,
        15: 500.0,
        16: 500.0,
    }.items():
        assert w[road] == pytest.approx(full_m), road
        assert p.loc[p["road"] == road, "weight"].eq(1.0).all(), road
    # oneway=-1 reverses the drawing direction; an unnamed carriageway pairs with a named one
    assert w[11] + w[12] == pytest.approx(500.0)
    assert w[13] + w[14] == pytest.approx(300.0)


def test_gap_and_angle_limits(divided):
    # at a 10 m limit the 20 m gap is too wide; at 70 m the 60 m pair (c) joins
    assert _pieces(divided, max_gap_m=10.0)["weight"].eq(1.0).all()
    w = _weighted_m(_pieces(divided, max_gap_m=70.0))
    assert w[7] + w[8] == pytest.approx(500.0)
    # a carriageway turned 30° away is not paired at 20°, is at 40°
    skew = gdf(
        [
            {
                "highway": "primary",
                "name": None,
                "oneway": "yes",
                "geometry": line((0, 0), (200, 0)),
            },
            {
                "highway": "primary",
                "name": None,
                "oneway": "yes",
                "geometry": line(
                    (100 * np.cos(np.radians(30)), 10 + 100 * np.sin(np.radians(30))), (0, 10)
                ),
            },
        ]
    )
    assert (_pieces(skew)["weight"] == 0.5).sum() == 0
    assert (_pieces(skew, max_angle_deg=40.0)["weight"] == 0.5).sum() > 0


def test_no_oneway_data_pairs_parallel_lines():
    # Overture-like: no oneway column; same-class lines 15 m apart pair whichever way they are drawn
    roads = gdf(
        [
            {"highway": "secondary", "geometry": line((0, 0), (400, 0))},
            {"highway": "secondary", "geometry": line((0, 15), (400, 15))},
            {"highway": "secondary", "geometry": line((400, 1000), (0, 1000))},
            {"highway": "secondary", "geometry": line((0, 1015), (400, 1015))},
            {"highway": "secondary", "geometry": line((0, 2000), (400, 2000))},
            {"highway": "secondary", "geometry": line((0, 2060), (400, 2060))},
        ]
    )
    w = _weighted_m(_pieces(roads))
    assert w[0] + w[1] == pytest.approx(400.0)
    assert w[2] + w[3] == pytest.approx(400.0)
    assert w[4] + w[5] == pytest.approx(800.0)  # 60 m apart: two roads


def test_merge_runs_keeps_length(divided):
    p = _pieces(divided)
    runs = merge_runs(p)
    assert len(runs) < len(p)
    got = (runs.geometry.length * runs["weight"]).groupby(runs["road"]).sum()
    pd.testing.assert_series_equal(got, _weighted_m(p), check_names=False)
    assert runs.geometry.length.sum() == pytest.approx(divided.geometry.length.sum())


def test_road_density_deduplicates(divided):
    units = gdf([{"unit_id": "U", "geometry": box(-100, -300, 1100, 7100)}]).set_index("unit_id")
    d = road_density(units, divided)
    total = divided.geometry.length.sum() / 1000.0  # every line is inside U
    saved = (1000.0 + 500.0 + 300.0) / 1000.0  # half of each paired pair's naive length
    assert d.loc["U", "road_length_naive_km"] == pytest.approx(total)
    assert d.loc["U", "road_length_km"] == pytest.approx(total - saved)
    area = 1.2 * 7.4
    assert d.loc["U", "road_density_arterial_km_per_km2"] == pytest.approx((1.0 + 0.5) / area)
    assert d.loc["U", "road_density_km_per_km2"] == pytest.approx((total - saved) / area)
    assert road_density(units, divided, divided=False).loc["U", "road_length_km"] == pytest.approx(
        total
    )


def test_divided_road_on_a_unit_boundary_is_split():
    # carriageways at y=-10 and y=+10 either side of the A|B edge y=0, plus a piece of both on the edge itself
    units = gdf(
        [
            {"unit_id": "A", "geometry": box(0, -500, 1000, 0)},
            {"unit_id": "B", "geometry": box(0, 0, 1000, 500)},
        ]
    ).set_index("unit_id")
    roads = gdf(
        [
            {
                "highway": "primary",
                "name": "学院路",
                "oneway": "yes",
                "geometry": line((0, -10), (1000, -10)),
            },
            {
                "highway": "primary",
                "name": "学院路",
                "oneway": "yes",
                "geometry": line((1000, 10), (0, 10)),
            },
            {
                "highway": "residential",
                "name": None,
                "oneway": None,
                "geometry": line((100, 0), (300, 0)),
            },
        ]
    )
    d = road_density(units, roads)
    # each carriageway 1000 m × 0.5 in its own unit; the 200 m street on the edge split 100 / 100
    assert d.loc["A", "road_length_km"] == pytest.approx(0.6)
    assert d.loc["B", "road_length_km"] == pytest.approx(0.6)
    assert d.loc["A", "road_length_naive_km"] == pytest.approx(1.1)


# --- junctions ---------------------------------------------------------------------------------


def test_consolidate_junctions_rule():
    square = np.array([[0, 0], [20, 0], [0, 20], [20, 20]], dtype=float)
    labels, centres = consolidate_junctions(square)
    assert len(centres) == 1 and (labels == 0).all()
    assert centres[0].tolist() == pytest.approx([10.0, 10.0])
    two = np.vstack([square, square + [100.0, 0.0]])
    labels, centres = consolidate_junctions(two)
    assert len(centres) == 2 and len(set(labels[:4])) == 1 and labels[0] != labels[4]
    # chained: 0-25-50 is one junction though the ends are 50 m apart; 0 tolerance disables
    chain = np.array([[0, 0], [25, 0], [50, 0]], dtype=float)
    assert len(consolidate_junctions(chain)[1]) == 1
    assert len(consolidate_junctions(chain, tolerance_m=0)[1]) == 3
    assert consolidate_junctions(np.empty((0, 2)))[0].shape == (0,)


def _osmnx_count(xy: np.ndarray, tolerance: float) -> int:
    import osmnx as ox

    g = nx.MultiDiGraph(crs=CRS)
    for i, (x, y) in enumerate(xy.tolist()):
        g.add_node(i, x=x, y=y)
    return len(
        ox.simplification.consolidate_intersections(
            g, tolerance=tolerance, rebuild_graph=False, dead_ends=True
        )
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_count_matches_osmnx(seed):
    from scipy.spatial.distance import pdist, squareform

    rng = np.random.default_rng(seed)
    xy = np.array([X0, Y0]) + rng.uniform(0, 600, size=(120, 2))
    tols = (5.0, 15.0, 25.0)
    # osmnx buffers with 64-gons, which fall short of a true circle by up to 0.03 m: drop one node of
    # every pair within 0.2 m of the 2 × tolerance threshold, where the two rules may legitimately differ
    d = squareform(pdist(xy))
    near = np.zeros_like(d, dtype=bool)
    for tol in tols:
        near |= np.abs(d - 2 * tol) < 0.2
    xy = xy[~np.triu(near).any(axis=0)]
    assert len(xy) > 100
    for tol in tols:
        assert len(consolidate_junctions(xy, tolerance_m=tol)[1]) == _osmnx_count(xy, tol), tol


def test_crossing_of_two_divided_roads_is_one_junction():
    # an E-W divided primary (y=0, y=20) crossing a N-S divided secondary (x=500, x=520): 4 degree-4 nodes
    # on the corners of a 20 × 20 m square; a residential T-junction 300 m away stays separate
    units = gdf([{"unit_id": "U", "geometry": box(0, -500, 1000, 500)}]).set_index("unit_id")
    roads = gdf(
        [
            {
                "highway": "primary",
                "oneway": "yes",
                "geometry": line((0, 0), (500, 0), (520, 0), (800, 0), (1000, 0)),
            },
            {
                "highway": "primary",
                "oneway": "yes",
                "geometry": line((1000, 20), (520, 20), (500, 20), (0, 20)),
            },
            {
                "highway": "secondary",
                "oneway": "yes",
                "geometry": line((500, -500), (500, 0), (500, 20), (500, 500)),
            },
            {
                "highway": "secondary",
                "oneway": "yes",
                "geometry": line((520, 500), (520, 20), (520, 0), (520, -500)),
            },
            {"highway": "residential", "oneway": None, "geometry": line((800, 0), (800, -300))},
        ]
    )
    d = intersection_density(units, roads)
    assert d.loc["U", "intersection_count_raw"] == pytest.approx(5.0)
    assert d.loc["U", "intersection_count"] == pytest.approx(2.0)
    assert d.loc["U", "intersection_density_per_km2"] == pytest.approx(2.0)
    assert intersection_density(units, roads, junction_tolerance_m=0).loc[
        "U", "intersection_count"
    ] == pytest.approx(5.0)


# --- the real Beijing sample ---------------------------------------------------------------------


@pytest.mark.slow
def test_beijing_divided_roads_and_junctions():
    require_or_skip(BEIJING.is_file(), f"{BEIJING} missing")
    import osmnx as ox

    from ditan.spatial.engine.network import build_network
    from ditan.spatial.io.osm import read_osm
    from ditan.spatial.io.validate import Ledger
    from ditan.spatial.study_area.osm_layers import roads_from_osm

    roads = roads_from_osm(read_osm(BEIJING), CRS, Ledger())
    unit = gpd.GeoDataFrame(
        {"unit_id": ["sample"]}, geometry=[shapely.box(*BEIJING_BOUNDS)], crs=4326
    )
    unit = unit.to_crs(CRS).set_index("unit_id")
    cls = classify_roads(roads)
    city = roads[cls.notna().to_numpy()].reset_index(drop=True)
    city_cls = cls[cls.notna()].to_numpy()
    p = pair_carriageways(city, city_cls)
    paired = p["weight"].to_numpy() == 0.5
    assert p.geometry.length[paired].sum() > 0

    # brute force: every paired piece is within 40 m of a piece of another road of the same class
    geoms, road = p.geometry.to_numpy(), p["road"].to_numpy()
    piece_cls = city_cls[road]
    for i in np.flatnonzero(paired):
        other = (road != road[i]) & (piece_cls == piece_cls[i])
        assert shapely.distance(geoms[i], geoms[other]).min() <= 40.0 + 1e-9, i

    d = road_density(unit, roads).loc["sample"]
    naive, dedup = d["road_length_naive_km"], d["road_length_km"]
    assert dedup < naive

    j = intersection_density(unit, roads).loc["sample"]
    assert j["intersection_count"] < j["intersection_count_raw"]

    # osmnx on the same city-road graph: simplified, dead ends dropped, consolidated at 15 m
    net = build_network(city.geometry.to_numpy())
    g = nx.MultiDiGraph(crs=CRS)
    for i, (x, y) in enumerate(net.node_xy.tolist()):
        g.add_node(i, x=x, y=y)
    for u, v in zip(net.u.tolist(), net.v.tolist(), strict=True):
        g.add_edge(u, v)
        g.add_edge(v, u)
    nx.set_node_attributes(g, ox.stats.count_streets_per_node(g), "street_count")
    osmnx_pts = ox.simplification.consolidate_intersections(
        ox.simplify_graph(g), tolerance=15, rebuild_graph=False
    )
    osmnx_n = len(osmnx_pts)
    osmnx_in = int(shapely.contains(unit.geometry.iloc[0], osmnx_pts.to_numpy()).sum())
    ours_n = len(consolidate_junctions(net.node_xy[net.degree() >= 3])[1])
    assert ours_n == osmnx_n
    print(
        f"\nBeijing sample (OSM bounds): city roads naive {naive:.3f} km, divided roads once {dedup:.3f} km, "
        f"overstatement {100 * (naive / dedup - 1):.1f}%; junctions raw {j['intersection_count_raw']:g}, "
        f"consolidated {j['intersection_count']:g}, osmnx {osmnx_in}; whole city-road graph: ours {ours_n}, osmnx {osmnx_n}"
    )
