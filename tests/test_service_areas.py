"""Service areas against hand-computed answers and brute force (networkx on 1 m points along every edge)."""

from __future__ import annotations

import time

import networkx as nx
import numpy as np
import pytest
import shapely

from ditan.spatial.engine.network import Network, build_network, group_distances, snap_points
from ditan.spatial.engine.service_areas import (
    QUAD_SEGS,
    reachable_pieces,
    service_area_frame,
    service_areas,
)
from tests.conftest import CRS, X0, Y0, at, line, point

BUF = 25.0


def _polygon_cap_area(r: float) -> float:
    """Area of the polygon GEOS uses for a full circle of radius r (4·QUAD_SEGS sides)."""
    n = 4 * QUAD_SEGS
    return n / 2 * r * r * np.sin(2 * np.pi / n)


# ---------------------------------------------------------------- hand fixtures


@pytest.mark.parametrize(("access", "half"), [(0.0, 300.0), (20.0, 280.0)])
def test_straight_street_facility_in_the_middle(access, half):
    """1 km street, facility at its middle (``access`` m off it): D = 300 m reaches 2 × (300 − access) m of street."""
    net = build_network(np.array([line((0, 0), (1000, 0))]))
    snap = snap_points(net, np.array([point(500, access)]), max_distance_m=50)
    node_dist = group_distances(net, snap, np.array([0]), 1, cutoff_m=2000)
    assert node_dist[0] == pytest.approx(
        [500 + access] * 2
    )  # both ends out of reach: only the direct walk counts
    kw = {"sources": snap, "source_groups": np.array([0])}
    pieces = reachable_pieces(net, node_dist, [300.0], **kw)
    assert len(pieces.geometry) == 1
    piece = pieces.geometry[0]
    assert shapely.length(piece) == pytest.approx(2 * half)
    assert shapely.equals_exact(
        piece, shapely.LineString([at(500 - half, 0), at(500 + half, 0)]), tolerance=1e-6
    ) or shapely.equals_exact(
        piece, shapely.LineString([at(500 + half, 0), at(500 - half, 0)]), tolerance=1e-6
    )
    area = service_areas(net, node_dist, [300.0], buffer_m=BUF, crs=CRS, **kw)
    assert area.crs == CRS
    exact_round = 2 * half * 2 * BUF + np.pi * BUF**2
    # round caps drawn with QUAD_SEGS segments per quarter: exactly the polygonal cap area ...
    assert area.area[0] == pytest.approx(2 * half * 2 * BUF + _polygon_cap_area(BUF), rel=1e-9)
    # ... which is within the polygon-approximation error (< 0.2 % here) of the round-capped formula
    assert area.area[0] == pytest.approx(exact_round, rel=2e-3)
    frame = service_area_frame(
        net, node_dist, [("kindergarten", "5min", 300.0)], buffer_m=BUF, crs=CRS, **kw
    )
    assert list(frame.columns) == [
        "category",
        "tier",
        "distance_m",
        "reachable_network_km",
        "area_km2",
        "form",
        "geometry",
    ]
    assert frame.loc[0, "reachable_network_km"] == pytest.approx(2 * half / 1000)
    assert frame.loc[0, "area_km2"] == pytest.approx(area.area[0] / 1e6)
    assert frame.loc[0, "form"] == "polygon"
    # as streets (a city's dissolve would take minutes): the same reachable street, no area
    lines = service_area_frame(
        net, node_dist, [("kindergarten", "5min", 300.0)], buffer_m=BUF, crs=CRS, form="lines", **kw
    )
    assert lines.loc[0, "form"] == "streets" and np.isnan(lines.loc[0, "area_km2"])
    assert shapely.length(lines.geometry[0]) == pytest.approx(2 * half)
    assert lines.loc[0, "reachable_network_km"] == frame.loc[0, "reachable_network_km"]
    # auto: polygons up to max_pieces reachable pieces, else streets
    assert (
        service_area_frame(
            net, node_dist, [("k", "5min", 300.0)], crs=CRS, form="auto", max_pieces=1, **kw
        ).loc[0, "form"]
        == "polygon"
    )
    assert (
        service_area_frame(
            net, node_dist, [("k", "5min", 300.0)], crs=CRS, form="auto", max_pieces=0, **kw
        ).loc[0, "form"]
        == "streets"
    )


def test_partial_edge_cut_on_a_bent_line_drawn_from_v():
    """A hand-made edge u=(0,0) → v=(300,400) whose line is drawn v → bend (300,0) → u, 700 m long."""
    xy = np.array([at(0, 0), at(300, 400)])
    edge_line = np.array([line((300, 400), (300, 0), (0, 0))])
    net = Network(
        node_xy=xy,
        u=np.array([0]),
        v=np.array([1]),
        length_m=np.array([700.0]),
        edge_line=edge_line,
        tree=shapely.STRtree(edge_line),
    )
    # from u only: 450 m reaches the bend (300 m) and 150 m up the second segment
    p = reachable_pieces(net, np.array([[0.0, np.inf]]), [450.0])
    assert shapely.equals_exact(p.geometry[0], line((0, 0), (300, 0), (300, 150)), tolerance=1e-6)
    assert p.length_m.sum() == pytest.approx(450.0)
    # from both ends: d_u = 100 → [0, 100]; d_v = 50 → [700 − 150, 700] = the last 150 m before v
    p = reachable_pieces(net, np.array([[100.0, 50.0]]), [200.0])
    got = sorted(p.geometry, key=lambda g: shapely.get_coordinates(g)[0, 1])
    assert shapely.equals_exact(got[0], line((0, 0), (100, 0)), tolerance=1e-6)
    assert shapely.equals_exact(
        got[1], line((300, 250), (300, 400)), tolerance=1e-6
    ) or shapely.equals_exact(got[1], line((300, 400), (300, 250)), tolerance=1e-6)
    # overlapping intervals merge into the whole edge, counted once
    p = reachable_pieces(net, np.array([[100.0, 50.0]]), [500.0])
    assert p.length_m.sum() == pytest.approx(700.0) and len(p.geometry) == 1
    assert shapely.length(p.geometry[0]) == pytest.approx(700.0)


def test_groups_without_facilities_are_empty():
    net = build_network(np.array([line((0, 0), (1000, 0)), line((1000, 0), (1000, 500))]))
    # group 0: one facility; group 1: none; group 2: a facility too far from the network to snap
    pts = np.array([point(100, 5), point(500, 900)])
    snap = snap_points(net, pts, max_distance_m=50)
    groups = np.array([0, 2])
    node_dist = group_distances(net, snap, groups, 3, cutoff_m=1000)
    kw = {"sources": snap, "source_groups": groups}
    frame = service_area_frame(
        net,
        node_dist,
        [("a", "5min", 300.0), ("b", "5min", 300.0), ("c", "5min", 300.0)],
        buffer_m=BUF,
        crs=CRS,
        **kw,
    )
    assert not frame.geometry[0].is_empty and frame.loc[0, "reachable_network_km"] == pytest.approx(
        (100 + 295) / 1000
    )
    for g in (1, 2):
        assert frame.geometry[g].is_empty and frame.geometry[g].geom_type == "Polygon"
        assert frame.loc[g, "reachable_network_km"] == 0.0 and frame.loc[g, "area_km2"] == 0.0
    # nothing reachable at all (no groups with facilities, or no distance)
    assert service_areas(net, np.full((1, net.n_nodes), np.inf), [300.0]).iloc[0].is_empty
    assert service_areas(net, node_dist[:1], [np.nan]).iloc[0].is_empty


# ---------------------------------------------------------------- brute force with networkx


def _grid_lines(
    n: int, spacing: float, rng=None, jitter: float = 0.0, drop: float = 0.0
) -> list[shapely.LineString]:
    xy = np.stack(np.meshgrid(np.arange(n), np.arange(n)), -1).reshape(-1, 2) * spacing + np.array(
        [X0, Y0]
    )
    if rng is not None:
        xy = xy + rng.normal(0, jitter, xy.shape)
    out = []
    for i in range(n):
        for j in range(n):
            k = i * n + j
            for nb, ok in ((k + 1, j + 1 < n), (k + n, i + 1 < n)):
                if ok and (rng is None or rng.random() >= drop):
                    out.append(shapely.LineString([xy[k], xy[nb]]))
    return out


class _Brute:
    """Distances by networkx on the street lines themselves, with the facility as a node splitting its street."""

    def __init__(self, lines: list[shapely.LineString], facility: shapely.Point):
        self.lines = lines
        g = nx.Graph()
        for i, ln in enumerate(lines):
            a, b = (tuple(np.round(c, 6)) for c in shapely.get_coordinates(ln)[[0, -1]])
            g.add_edge(a, b, weight=ln.length, key=i)
        dist = shapely.distance(np.array(lines), facility)
        self.f_line = int(np.argmin(dist))
        self.f_acc = float(dist[self.f_line])
        self.f_pos = float(shapely.line_locate_point(lines[self.f_line], facility))
        fl = lines[self.f_line]
        a, b = (tuple(np.round(c, 6)) for c in shapely.get_coordinates(fl)[[0, -1]])
        g.add_edge("F", a, weight=self.f_acc + self.f_pos)
        g.add_edge("F", b, weight=self.f_acc + fl.length - self.f_pos)
        self.d = nx.single_source_dijkstra_path_length(g, "F", weight="weight")

    def at(self, i: int, s: np.ndarray) -> np.ndarray:
        """Network distance from the facility to positions s along line i."""
        ln = self.lines[i]
        a, b = (tuple(np.round(c, 6)) for c in shapely.get_coordinates(ln)[[0, -1]])
        d = np.minimum(self.d.get(a, np.inf) + s, self.d.get(b, np.inf) + ln.length - s)
        if i == self.f_line:
            d = np.minimum(d, self.f_acc + np.abs(s - self.f_pos))
        return d

    def reachable_length(self, dmax: float, step: float = 1.0) -> float:
        """Length of street within dmax: the midpoints of ``step``-m pieces of every line, counted."""
        total = 0.0
        for i, ln in enumerate(self.lines):
            k = max(int(np.ceil(ln.length / step)), 1)
            mids = (np.arange(k) + 0.5) * ln.length / k
            total += np.count_nonzero(self.at(i, mids) <= dmax) * ln.length / k
        return total


def _setup(lines, facility, dmax):
    net = build_network(np.array(lines, dtype=object))
    snap = snap_points(net, np.array([facility]), max_distance_m=60)
    node_dist = group_distances(net, snap, np.array([0]), 1, cutoff_m=dmax + 1)
    pieces = reachable_pieces(net, node_dist, [dmax], sources=snap, source_groups=np.array([0]))
    frame = service_area_frame(
        net,
        node_dist,
        [("c", "t", dmax)],
        buffer_m=BUF,
        crs=CRS,
        sources=snap,
        source_groups=np.array([0]),
    )
    return pieces, frame


@pytest.mark.parametrize("dmax", [150.0, 250.0, 370.0, 540.0])
@pytest.mark.parametrize("facility", [(100, 200), (130, 210)], ids=["at-node", "mid-edge-10m-off"])
def test_grid_reachable_length_matches_brute_force(dmax, facility):
    lines = _grid_lines(5, 100.0)
    fac = point(*facility)
    pieces, frame = _setup(lines, fac, dmax)
    brute = _Brute(lines, fac).reachable_length(dmax)
    assert frame.loc[0, "reachable_network_km"] * 1000 == pytest.approx(brute, abs=2.0)
    assert shapely.length(pieces.geometry).sum() == pytest.approx(
        frame.loc[0, "reachable_network_km"] * 1000
    )
    # the area holds every reachable piece and the buffer around it
    assert shapely.covers(
        shapely.buffer(frame.geometry[0], 1e-6),
        shapely.buffer(shapely.union_all(pieces.geometry), BUF - 0.5),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_points_on_and_off_pieces_against_networkx(seed):
    """Random points on reachable pieces are within D; 1 m points off the pieces are beyond D (jittered grid)."""
    rng = np.random.default_rng(seed)
    lines = _grid_lines(8, 100.0, rng, jitter=15.0, drop=0.15)
    fac = point(*rng.uniform(150, 550, 2))
    dmax = float(rng.uniform(200, 600))
    pieces, _ = _setup(lines, fac, dmax)
    brute = _Brute(lines, fac)
    larr = np.array(lines, dtype=object)
    tree = shapely.STRtree(larr)

    def dist_of(pts):
        li, pi = tree.query(pts, predicate="dwithin", distance=1e-6)[::-1]
        s = shapely.line_locate_point(larr[li], pts[pi])
        d = np.full(len(pts), np.inf)
        for i in np.unique(li):
            m = li == i
            np.minimum.at(d, pi[m], brute.at(int(i), s[m]))
        return d

    # on: 50 random positions on each piece (its ends included)
    geoms = pieces.geometry
    frac = np.concatenate(
        [np.zeros((len(geoms), 1)), np.ones((len(geoms), 1)), rng.random((len(geoms), 50))], axis=1
    )
    on = shapely.line_interpolate_point(
        np.repeat(geoms, frac.shape[1]), frac.ravel(), normalized=True
    )
    d_on = dist_of(on)
    assert np.isfinite(d_on).all() and (d_on <= dmax + 1e-6).all()
    # off: 1 m points of every street not on any piece
    pts = np.concatenate(
        [shapely.line_interpolate_point(ln, np.arange(0.0, ln.length, 1.0)) for ln in lines]
    )
    reach = shapely.union_all(geoms)
    off = pts[shapely.distance(pts, reach) > 1e-6]
    assert len(off) > 0
    assert (dist_of(off) > dmax).all()


def test_performance_city_sized_grid():
    """200 × 200 nodes (40 000 nodes, 79 600 edges), 3 groups of 30 facilities at 300 / 500 / 1000 m."""
    rng = np.random.default_rng(0)
    n = 200
    xy = np.stack(np.meshgrid(np.arange(n), np.arange(n)), -1).reshape(-1, 2) * 100.0
    k = np.arange(n * n).reshape(n, n)
    pairs = np.concatenate(
        [
            np.stack([k[:, :-1].ravel(), k[:, 1:].ravel()], 1),
            np.stack([k[:-1].ravel(), k[1:].ravel()], 1),
        ]
    )
    net = build_network(shapely.linestrings(xy[pairs]))
    assert net.n_nodes == 40_000
    fac = shapely.points(rng.uniform(0, 19_900, (90, 2)))
    groups = np.repeat(np.arange(3), 30)
    snap = snap_points(net, fac, max_distance_m=60)
    node_dist = group_distances(net, snap, groups, 3, cutoff_m=1000)
    t0 = time.perf_counter()
    frame = service_area_frame(
        net,
        node_dist,
        [("a", "5min", 300.0), ("b", "10min", 500.0), ("c", "15min", 1000.0)],
        buffer_m=BUF,
        sources=snap,
        source_groups=groups,
    )
    elapsed = time.perf_counter() - t0
    print(
        f"service_area_frame on a 40k-node grid, 3 groups: {elapsed:.2f} s; reachable km {frame['reachable_network_km'].round(1).tolist()}"
    )
    assert elapsed < 20.0
    assert (frame["reachable_network_km"].diff().dropna() > 0).all()
    assert frame.geometry.is_valid.all()


def test_position_reached_with_nothing_to_spare_is_a_point():
    """A facility 300 m off the bent edge of the hand-made network, D = 300 m: only its foot (300, 150) is reached."""
    from ditan.spatial.engine.network import Snap

    xy = np.array([at(0, 0), at(300, 400)])
    edge_line = np.array([line((300, 400), (300, 0), (0, 0))])
    net = Network(
        node_xy=xy,
        u=np.array([0]),
        v=np.array([1]),
        length_m=np.array([700.0]),
        edge_line=edge_line,
        tree=shapely.STRtree(edge_line),
    )
    snap = Snap(
        edge=np.array([0]), t=np.array([450 / 700]), access_m=np.array([300.0]), ok=np.array([True])
    )
    kw = {"sources": snap, "source_groups": np.array([0])}
    p = reachable_pieces(net, np.array([[np.inf, np.inf]]), [300.0], **kw)
    assert p.geometry[0].equals(point(300, 150)) and p.length_m.sum() == 0.0
    area = service_areas(net, np.array([[np.inf, np.inf]]), [300.0], buffer_m=BUF, **kw).iloc[0]
    assert area.area == pytest.approx(_polygon_cap_area(BUF))
