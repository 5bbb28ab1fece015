"""Life circles and 500 m proximity on a hand-computed network; distances against networkx.

The L-shaped network's answers are worked out by hand; random grids are checked against networkx.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import parse_config
from ditan.spatial.engine.network import build_network, nearest_by_group, snap_points
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards.catalogue import load_catalogue
from ditan.spatial.study_area.model import StudyArea
from tests.conftest import CRS, box, gdf, line, point

CATALOGUE = """
tiers:
  5min: {distance_m: 300, zh: 5分钟生活圈, en: 5-minute}
  15min: {distance_m: 1000, zh: 15分钟生活圈, en: 15-minute}
categories:
  - {id: kindergarten, tier: 5min, zh: 幼儿园, en: Kindergarten, match: [{amenity: kindergarten}]}
  - {id: hospital, tier: 15min, zh: 医院, en: Hospital, match: [{amenity: hospital}]}
"""


@pytest.fixture
def l_shaped(tmp_path):
    """Walk network: P (0,0)→(600,0) and Q (600,0)→(600,800), each a single edge.

    b1 (3 floors of 2 × 2 m = 12 m²) stands at (100, −10): 10 m from P, 100 m along it.
    b2 (1 floor, 4 m²) stands at (590, 700): 10 m from Q, 700 m along the L from (0, 0).
    """
    roads = gdf(
        [
            {"highway": "residential", "name": "P", "geometry": line((0, 0), (600, 0))},
            {"highway": "residential", "name": "Q", "geometry": line((600, 0), (600, 800))},
        ]
    )
    roads_file = tmp_path / "roads.geojson"
    roads.to_file(roads_file)
    (tmp_path / "cat.yaml").write_text(CATALOGUE, encoding="utf-8")
    cfg = parse_config(
        {
            "name": "l",
            "inputs": {"roads": {"path": "roads.geojson", "class_column": "highway"}},
            "life_circle": {"catalogue": "cat.yaml"},
        },
        base_dir=tmp_path,
    )
    units = gdf([{"unit_id": "L", "name": "L", "geometry": box(-100, -100, 700, 900)}]).set_index(
        "unit_id"
    )
    buildings = gdf(
        [
            {
                "building": "residential",
                "floors": 3.0,
                "floors_source": "levels",
                "residential": True,
                "geometry": box(99, -11, 101, -9),
            },
            {
                "building": "residential",
                "floors": 1.0,
                "floors_source": "levels",
                "residential": True,
                "geometry": box(589, 699, 591, 701),
            },
        ]
    )
    facilities = gdf(
        [
            {
                "category": "kindergarten",
                "name": "k",
                "geometry": point(300, 5),
            },  # on P, 5 m off, 200 m from b1 along P
            {"category": "hospital", "name": "h", "geometry": point(610, 250)},  # on Q, 10 m off
        ]
    )
    stations = gdf(
        [
            {
                "kind": "bus_stop",
                "name": "bus",
                "geometry": point(100, 400),
            },  # 400 m from P, 500 m from Q: never snapped
            {"kind": "metro", "name": "metro", "geometry": point(600, 300)},  # on Q
            {"kind": "bike_rental", "name": "bike", "geometry": point(450, 20)},  # 20 m off P
            {"kind": "ev_charging", "name": "ev", "geometry": point(650, 850)},  # inside the unit
        ]
    )
    empty = gpd.GeoDataFrame({"lu_class": [], "tag": [], "name": []}, geometry=[], crs=CRS)
    sa = StudyArea(
        crs=units.crs,
        bounds=box(-100, -100, 700, 900),
        units=units,
        roads=roads,
        buildings=buildings,
        landuse=empty,
        vegetation=gpd.GeoDataFrame({"tag": []}, geometry=[], crs=CRS),
        facilities=facilities,
        stations=stations,
        catalogue=load_catalogue(tmp_path / "cat.yaml"),
        ledger=Ledger(),
    )
    return sa, cfg


def test_life_circle_distances_by_hand(l_shaped):
    sa, cfg = l_shaped
    res = compute(sa, params_from_config(cfg))
    d = res.origin_distances
    # b1 -> kindergarten: same edge P, direct: 10 + |300 − 100| + 5 = 215 m (via the ends would be 415 m)
    assert d.loc[0, "kindergarten"] == pytest.approx(215, abs=1.0)
    # b1 -> hospital: 10 + 500 (to the corner) + 250 (up Q) + 10 = 770 m
    assert d.loc[0, "hospital"] == pytest.approx(770, abs=1.0)
    # b2 -> hospital: same edge Q: 10 + |700 − 250| + 10 = 470 m; b2 -> kindergarten: 10 + 700 + 300 + 5 = 1015 m > 1000: inf
    assert d.loc[1, "hospital"] == pytest.approx(470, abs=1.0)
    assert np.isinf(d.loc[1, "kindergarten"])
    t = res.indicators.loc["L"]
    # weights: b1 12 m² of floor area, b2 4 m²; kindergarten within 300 m only for b1 -> 12/16
    assert t["lc_kindergarten_pct"] == pytest.approx(75.0)
    assert t["lc_hospital_pct"] == pytest.approx(100.0)
    assert t["lc_5min_all_pct"] == pytest.approx(75.0)
    assert t["lc_15min_all_pct"] == pytest.approx(100.0)
    assert t["residential_floor_area_m2"] == pytest.approx(16.0)
    assert t["lc_basis"] == "floor_area"


def test_radius_and_network_methods_differ(l_shaped):
    sa, cfg = l_shaped
    res = compute(sa, params_from_config(cfg))
    t = res.indicators.loc["L"]
    # bus stop: b1 is 410 m away in a straight line (covered by radius); it is not on the network at all
    assert t["bus_stop_500m_radius_pct"] == pytest.approx(75.0)
    assert t["bus_stop_500m_network_pct"] == pytest.approx(0.0)
    # metro: b2 is 400.1 m straight and 10 + 400 = 410 m walking; b1 is 588 m straight, 810 m walking
    assert t["metro_500m_radius_pct"] == pytest.approx(25.0)
    assert t["metro_500m_network_pct"] == pytest.approx(25.0)
    # bike: b1 is 351 m straight and 10 + 350 + 20 = 380 m walking; b2 is 694 m / 880 m
    assert t["bike_rental_500m_radius_pct"] == pytest.approx(75.0)
    assert t["bike_rental_500m_network_pct"] == pytest.approx(75.0)
    assert t[
        ["bus_stop_count", "metro_station_count", "bike_rental_count", "ev_charging_count"]
    ].tolist() == [1, 1, 1, 1]
    rec = res.ledger.records["walk-network snapping: facilities and stations"]
    assert rec.dropped_total == 1 and rec.balanced()  # the bus stop, 400 m from the network


def _random_grid(rng, n=12, spacing=100.0):
    """A jittered street grid with some streets missing: lines between neighbouring jittered nodes."""
    xy = np.stack(np.meshgrid(np.arange(n), np.arange(n)), -1).reshape(
        -1, 2
    ) * spacing + rng.normal(0, 15, (n * n, 2))
    lines = []
    for i in range(n):
        for j in range(n):
            k = i * n + j
            if j + 1 < n and rng.random() > 0.15:
                lines.append(shapely.LineString([xy[k], xy[k + 1]]))
            if i + 1 < n and rng.random() > 0.15:
                lines.append(shapely.LineString([xy[k], xy[k + n]]))
    return np.array(lines, dtype=object)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_network_distances_match_networkx(seed):
    rng = np.random.default_rng(seed)
    lines = _random_grid(rng)
    net = build_network(lines)
    origins = shapely.points(rng.uniform(0, 1100, (60, 2)))
    targets = shapely.points(rng.uniform(0, 1100, (25, 2)))
    groups = rng.integers(0, 3, 25)
    dist, o_snap, t_snap = nearest_by_group(
        net, origins, targets, groups, 3, cutoff_m=5000, snap_max_m=80
    )

    # independent: networkx over the same edges, every origin and target inserted as a node on its edge
    g = nx.Graph()
    for a, b, w in zip(net.u, net.v, net.length_m, strict=True):
        g.add_edge(int(a), int(b), weight=float(w))
    tsnap = snap_points(net, targets, max_distance_m=80)
    osnap = snap_points(net, origins, max_distance_m=80)

    def attach(name, snap, i):
        e = snap.edge[i]
        L = net.length_m[e]
        g.add_edge(name, int(net.u[e]), weight=snap.access_m[i] + snap.t[i] * L)
        g.add_edge(name, int(net.v[e]), weight=snap.access_m[i] + (1 - snap.t[i]) * L)

    for i in np.flatnonzero(tsnap.ok):
        attach(("t", i), tsnap, i)
    for i in np.flatnonzero(osnap.ok):
        attach(("o", i), osnap, i)
        for j in np.flatnonzero(tsnap.ok):  # same edge: the direct walk along it
            if tsnap.edge[j] == osnap.edge[i]:
                L = net.length_m[osnap.edge[i]]
                g.add_edge(
                    ("o", i),
                    ("t", j),
                    weight=osnap.access_m[i] + tsnap.access_m[j] + abs(osnap.t[i] - tsnap.t[j]) * L,
                )
    checked = 0
    for grp in range(3):
        srcs = [("t", j) for j in np.flatnonzero(tsnap.ok & (groups == grp))]
        lengths = nx.multi_source_dijkstra_path_length(g, srcs, weight="weight")
        for i in np.flatnonzero(osnap.ok):
            expected = lengths.get(("o", i), np.inf)
            # a path through another origin's attachment is not a real street: networkx may only be longer there
            got = dist[i, grp]
            if np.isinf(expected):
                assert np.isinf(got)
            else:
                assert got == pytest.approx(expected, abs=1e-6)
                checked += 1
    assert checked > 50


def test_area_facilities_are_reached_at_their_edge():
    # a 400 m × 400 m park whose centre is 200 m from its edge; an area is reached at its edge,
    # so a home 10 m from a road running 20 m beside the park's west edge walks ≈ 10 + 20, not 230 m
    from ditan.spatial.engine.network import access_points

    park = shapely.box(0, 0, 400, 400)
    pts, owner = access_points(
        np.array([shapely.Point(200, 200), shapely.Point(-500, 0)], dtype=object),
        np.array([park, None], dtype=object),
        spacing_m=50,
    )
    assert (
        owner == 0
    ).sum() == 32 + 1  # 1600 m of edge at 50 m spacing (closed ring repeats its first point)
    assert (owner == 1).sum() == 1  # a plain point stays itself
    on_edge = shapely.distance(pts[owner == 0], park.boundary)
    assert np.allclose(on_edge, 0)
    net = build_network(np.array([shapely.LineString([(-20, -100), (-20, 500)])], dtype=object))
    d, _, _ = nearest_by_group(
        net,
        np.array([shapely.Point(-30, 200)]),
        pts,
        np.zeros(len(pts), dtype=np.int64),
        1,
        cutoff_m=1000,
        snap_max_m=100,
    )
    assert d[0, 0] == pytest.approx(10 + 20)
