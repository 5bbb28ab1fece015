"""The roads stage's fast paths (issue 17) against plain computations written out here.

- carriageway pairing found segment by segment: every piece pair a brute-force check of the pairing rule accepts;
- line_pieces comparing two units' pieces of a line inside a small window: the overlay on the whole pieces;
- element-wise shapely work on both cores: equal to one core;
- node degrees without the network's edge index: build_network's;
- junctions of one node reusing that node's allocation: point_units on the junction centres.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from ditan.spatial.engine import allocate
from ditan.spatial.engine.allocate import OVERLAP_TOL_M, line_pieces, point_units
from ditan.spatial.engine.carriageway_search import _segment_candidates, _segments
from ditan.spatial.engine.carriageways import (
    oneway_state,
    pair_carriageways,
    paired_runs,
    road_pieces,
)
from ditan.spatial.engine.network import build_network
from ditan.spatial.indicators.roads import classify_roads, intersection_density, node_degree
from tests.conftest import CRS, X0, Y0

GAP, ANGLE = 40.0, 20.0


def _random_roads(seed: int, n: int = 40, *, oneway: bool = True) -> gpd.GeoDataFrame:
    """Wiggly roads, each with a carriageway drawn back beside it 5–45 m away (some with a repeated vertex)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        start = rng.uniform(0, 1500, 2) + (X0, Y0)
        ang = rng.uniform(0, np.pi)
        k = int(rng.integers(2, 6))
        turn = ang + rng.normal(0, 0.2, k)
        steps = rng.uniform(3, 120, k)[:, None] * np.column_stack([np.cos(turn), np.sin(turn)])
        pts = np.vstack([start, start + np.cumsum(steps, axis=0)])
        off = rng.uniform(5, 45) * np.array([-np.sin(ang), np.cos(ang)])
        back = pts[::-1] + off + rng.normal(0, 1, pts.shape)
        if rng.random() < 0.3:
            back = np.vstack([back[:1], back])
        hw = str(rng.choice(["primary", "secondary", "residential"]))
        name = rng.choice(["甲路", "乙路", None])
        rows.append(
            {
                "highway": hw,
                "name": name,
                "oneway": rng.choice(["yes", "-1", "no", None]),
                "geometry": shapely.LineString(pts),
            }
        )
        rows.append(
            {
                "highway": hw,
                "name": name if rng.random() < 0.8 else "丙路",
                "oneway": rng.choice(["yes", "-1"]),
                "geometry": shapely.LineString(back),
            }
        )
    roads = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
    return roads if oneway else roads.drop(columns=["oneway"])


def _brute_force_paired(roads: gpd.GeoDataFrame, cls: np.ndarray) -> np.ndarray:
    """The pairing rule (carriageways' docstring) checked on every ordered pair of 20 m pieces."""
    road, a, b = road_pieces(roads.geometry.to_numpy())
    state = oneway_state(roads)[road]
    piece_cls = cls[road]
    names = [None if pd.isna(n) else n for n in roads["name"].to_numpy(dtype=object)[road]]
    d = b - a
    length = np.hypot(*d.T)
    limit = np.cos(np.radians(ANGLE))
    paired = np.zeros(len(road), dtype=bool)
    for p in range(len(road)):
        if piece_cls[p] is None or state[p] in (0, 3):
            continue
        for q in range(len(road)):
            if road[q] == road[p] or piece_cls[q] != piece_cls[p] or state[q] in (0, 3):
                continue
            if names[p] is not None and names[q] is not None and names[p] != names[q]:
                continue
            both_oneway = abs(state[p]) == 1 and abs(state[q]) == 1
            if not both_oneway and not (state[p] == 2 and state[q] == 2):
                continue
            cos = d[p] @ d[q] / (length[p] * length[q])
            if both_oneway and cos * state[p] * state[q] > -limit:
                continue
            if not both_oneway and abs(cos) < limit:
                continue
            rel = (a[p] + b[p]) / 2 - a[q]
            along = rel @ d[q] / length[q]
            perp = abs(d[q][0] * rel[1] - d[q][1] * rel[0]) / length[q]
            if 0 <= along <= length[q] and perp <= GAP:
                paired[p] = True
                break
    return paired


@pytest.mark.parametrize(("seed", "oneway"), [(1, True), (2, True), (3, False)])
def test_pairing_equals_brute_force(seed, oneway):
    roads = _random_roads(seed, n=12, oneway=oneway)
    cls = classify_roads(roads).to_numpy()
    expected = _brute_force_paired(roads, cls)
    assert expected.any() and not expected.all()
    pieces = pair_carriageways(roads, cls)
    assert (pieces["weight"].to_numpy() == np.where(expected, 0.5, 1.0)).all()
    # the runs of paired pieces: the paired length of each road, in as many lines as stretches
    runs = paired_runs(roads, cls)
    assert (runs["weight"] == 0.5).all()
    road, a, b = road_pieces(roads.geometry.to_numpy())
    want = np.bincount(road[expected], weights=np.hypot(*(b - a).T)[expected], minlength=len(roads))
    got = np.bincount(runs["road"], weights=runs.geometry.length, minlength=len(roads))
    assert got == pytest.approx(want, abs=1e-9)


def test_segment_candidates_contain_every_accepted_pair():
    """Every piece pair the rule accepts lies on a candidate segment pair (the search is a superset)."""
    roads = _random_roads(4, n=25, oneway=False)
    cls = classify_roads(roads).to_numpy()
    cls_code = pd.factorize(pd.Series(cls, dtype=object), use_na_sentinel=True)[0]
    name_code = pd.factorize(roads["name"], use_na_sentinel=True)[0]
    state = oneway_state(roads)
    seg_road, sa, sb = _segments(roads.geometry.to_numpy())
    s, t = _segment_candidates(
        roads.geometry.to_numpy(), seg_road, sa, sb, cls_code, name_code, state, GAP, ANGLE, 20.0
    )
    got = set(zip(s.tolist(), t.tolist(), strict=True))
    # brute force on segments cut into pieces of 20 m by hand (each segment into ceil(len / 20) equal parts)
    limit = np.cos(np.radians(ANGLE))
    pieces = []
    for k in range(len(seg_road)):
        n = max(int(np.ceil(np.hypot(*(sb[k] - sa[k])) / 20.0)), 1)
        for i in range(n):
            pieces.append(
                (k, sa[k] + (sb[k] - sa[k]) * i / n, sa[k] + (sb[k] - sa[k]) * (i + 1) / n)
            )
    accepted = 0
    for sp, ap, bp in pieces:
        for sq, aq, bq in pieces:
            rp, rq = seg_road[sp], seg_road[sq]
            if rp == rq or cls_code[rp] != cls_code[rq]:
                continue
            if name_code[rp] >= 0 and name_code[rq] >= 0 and name_code[rp] != name_code[rq]:
                continue
            dp, dq = bp - ap, bq - aq
            cos = dp @ dq / (np.linalg.norm(dp) * np.linalg.norm(dq))
            rel = (ap + bp) / 2 - aq
            along = rel @ dq / np.linalg.norm(dq)
            perp = abs(dq[0] * rel[1] - dq[1] * rel[0]) / np.linalg.norm(dq)
            if abs(cos) >= limit and 0 <= along <= np.linalg.norm(dq) and perp <= GAP:
                accepted += 1
                assert (sp, sq) in got
    assert accepted > 100


def _line_pieces_whole(unit_geoms: np.ndarray, lines: np.ndarray) -> pd.DataFrame:
    """line_pieces' rule with the overlay of every pair on the whole pieces (no window)."""
    grown = shapely.buffer(unit_geoms, OVERLAP_TOL_M, join_style="mitre")
    li, ui = shapely.STRtree(grown).query(lines, predicate="intersects")
    length = shapely.length(shapely.intersection(lines[li], grown[ui]))
    df = pd.DataFrame({"unit": ui, "line": li, "length_m": length})
    df = df[df["length_m"] > 0].reset_index(drop=True)
    edge = shapely.buffer(shapely.boundary(unit_geoms), 2 * OVERLAP_TOL_M, cap_style="flat")
    out = df["length_m"].to_numpy().copy()
    idx = df.index.to_numpy()
    for i in range(len(df)):
        for j in range(len(df)):
            if i == j or df["line"][i] != df["line"][j] or df["unit"][i] == df["unit"][j]:
                continue
            a = shapely.intersection(lines[df["line"][i]], grown[df["unit"][i]])
            b = shapely.intersection(lines[df["line"][j]], grown[df["unit"][j]])
            common = shapely.intersection(
                shapely.intersection(a, shapely.buffer(b, 2 * OVERLAP_TOL_M, cap_style="flat")),
                edge[df["unit"][i]],
            )
            out[idx[i]] -= shapely.length(shapely.intersection(common, edge[df["unit"][j]])) / 2
    return df.assign(length_m=out)


def _grid_units(nx: int, ny: int, size: float) -> np.ndarray:
    return np.array(
        [
            shapely.box(X0 + i * size, Y0 + j * size, X0 + (i + 1) * size, Y0 + (j + 1) * size)
            for i in range(nx)
            for j in range(ny)
        ],
        dtype=object,
    )


def _test_lines(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lines = [
        # along a shared edge, through a corner of four units, and a self-crossing zigzag on an edge
        shapely.LineString([(X0 + 100, Y0 + 10), (X0 + 100, Y0 + 290)]),
        shapely.LineString([(X0 + 20, Y0 + 20), (X0 + 280, Y0 + 280)]),
        shapely.LineString(
            [(X0 + 5, Y0 + 99.5), (X0 + 290, Y0 + 100), (X0 + 5, Y0 + 100), (X0 + 290, Y0 + 99.5)]
        ),
        shapely.LineString([(X0 + 30, Y0 + 200), (X0 + 100, Y0 + 200), (X0 + 100, Y0 + 250)]),
    ]
    for _ in range(25):
        k = int(rng.integers(2, 6))
        lines.append(shapely.LineString(rng.uniform(0, 300, (k, 2)) + (X0, Y0)))
    return np.array(lines, dtype=object)


@pytest.mark.parametrize("seed", [5, 6])
def test_line_pieces_window_equals_whole_pieces(seed):
    units, lines = _grid_units(3, 3, 100.0), _test_lines(seed)
    got = line_pieces(units, lines)
    want = _line_pieces_whole(units, lines)
    assert got[["unit", "line"]].to_numpy().tolist() == want[["unit", "line"]].to_numpy().tolist()
    assert got["length_m"].to_numpy() == pytest.approx(want["length_m"].to_numpy(), abs=1e-9)


def test_line_pieces_on_both_cores_equal_one(monkeypatch):
    units, lines = _grid_units(4, 4, 75.0), _test_lines(7)
    monkeypatch.setattr(allocate, "_MIN_PER_CORE", 10**9)
    one = line_pieces(units, lines)
    monkeypatch.setattr(allocate, "_MIN_PER_CORE", 1)
    monkeypatch.setattr(allocate.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    two = line_pieces(units, lines)
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_node_degree_equals_build_network():
    rng = np.random.default_rng(8)
    xy = np.round(rng.uniform(0, 500, (60, 2)) / 50) * 50 + (
        X0,
        Y0,
    )  # on a 50 m lattice: shared nodes
    lines = [
        shapely.LineString(xy[rng.choice(60, int(rng.integers(2, 5)), replace=False)])
        for _ in range(80)
    ]
    lines.append(shapely.MultiLineString([[xy[0], xy[1]], [xy[2], xy[3]]]))
    lines.append(shapely.LineString([xy[4], xy[5], xy[4]]))  # drawn back over itself
    net = build_network(np.array(lines, dtype=object))
    node_xy, degree = node_degree(np.array(lines, dtype=object))
    assert np.array_equal(node_xy, net.node_xy)
    assert np.array_equal(degree, net.degree())
    empty_xy, empty_deg = node_degree(np.array([], dtype=object))
    assert empty_xy.shape == (0, 2) and len(empty_deg) == 0


def test_junction_counts_equal_point_units_on_centres():
    """Junctions of one node reuse the node's allocation: the same counts as allocating every centre anew."""
    from ditan.spatial.engine.carriageways import consolidate_junctions

    units = gpd.GeoDataFrame(
        {"unit_id": list("ABCD")}, geometry=list(_grid_units(2, 2, 100.0)), crs=CRS
    ).set_index("unit_id")
    rng = np.random.default_rng(9)
    # a 50 m street grid (junctions on the unit edges and the corner where four units meet) and a few
    # close pairs of junctions (consolidated) on and off the edges
    ticks = np.arange(0, 201, 50.0)
    rows = [shapely.LineString([(X0 + t, Y0), (X0 + t, Y0 + 200)]) for t in ticks]
    rows += [shapely.LineString([(X0, Y0 + t), (X0 + 200, Y0 + t)]) for t in ticks]
    for x, y in rng.uniform(10, 190, (6, 2)):
        rows += [
            shapely.LineString([(X0 + x - 30, Y0 + y), (X0 + x + 30, Y0 + y)]),
            shapely.LineString([(X0 + x - 5, Y0 + y - 20), (X0 + x - 5, Y0 + y + 20)]),
            shapely.LineString([(X0 + x + 5, Y0 + y - 20), (X0 + x + 5, Y0 + y + 20)]),
        ]
    noded = shapely.node(shapely.MultiLineString(rows))  # nodes where the streets cross
    roads = gpd.GeoDataFrame({"highway": ["residential"]}, geometry=[noded], crs=CRS)
    got = intersection_density(units, roads)
    net = build_network(roads.geometry.to_numpy())
    nodes = net.node_xy[net.degree() >= 3]
    labels, centres = consolidate_junctions(nodes, tolerance_m=15.0)
    assert (np.bincount(labels) > 1).any() and (np.bincount(labels) == 1).any()
    unit_geoms = units.geometry.to_numpy()
    for col, xy in (("intersection_count", centres), ("intersection_count_raw", nodes)):
        alloc = point_units(unit_geoms, shapely.points(xy))
        want = np.bincount(alloc["unit"], weights=alloc["weight"], minlength=4)
        assert np.array_equal(got[col].to_numpy(), want), col
    assert got["intersection_count_raw"].sum() == pytest.approx(len(nodes))


def test_self_crossing_roads_on_a_shared_edge_add_up():
    """Zigzags whose middle runs along the edge two units share, at city coordinates: the pieces sum to the line.

    The whole line's length (shapely) is the expected total; the base overlay lost the shared stretch in a few
    of these (tests/test_properties.py keeps the case hypothesis found).
    """
    rng = np.random.default_rng(10)
    for _ in range(60):
        x0, y0 = rng.uniform(3e5, 6e5), rng.uniform(3e6, 5e6)
        # legs steeper than 1:20, so the stretch of a leg within the 2 µm tolerance of the edge stays below 40 µm
        h = rng.uniform(5, 50)
        w = rng.uniform(50, 10 * h)
        units = np.array(
            [shapely.box(x0, y0, x0 + w, y0 + h), shapely.box(x0, y0 + h, x0 + w, y0 + 2 * h)],
            dtype=object,
        )
        (y1, y2), (xa, xb) = (
            rng.uniform(0.1, h / 2, 2),
            (rng.uniform(0, w / 4), rng.uniform(3 * w / 4, w)),
        )
        zigzag = shapely.LineString(np.array([(xa, y1), (xb, h), (xa, h), (xb, y2)]) + (x0, y0))
        got = line_pieces(units, np.array([zigzag], dtype=object))["length_m"].sum()
        assert got == pytest.approx(zigzag.length, abs=1e-4)
