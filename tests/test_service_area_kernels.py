"""Service areas as joined street lines, simplified geometry, and threads (issue 17).

Expectations: a grid worked out by hand, GEOS's own topological equality with the pieces (a separate
implementation), and the single-thread result for the threaded one.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from ditan.spatial.engine.network import build_network, group_distances, snap_points
from ditan.spatial.engine.service_areas import reachable_pieces, service_area_frame
from tests.conftest import CRS


def _grid(n: int, step: float, rng=None, jitter: float = 0.0, drop: float = 0.0):
    """Street segments of an n × n node grid (optionally jittered, some segments dropped)."""
    xy = np.stack(np.meshgrid(np.arange(n), np.arange(n)), -1).reshape(-1, 2) * step
    if rng is not None and jitter:
        xy = xy + rng.uniform(-jitter, jitter, xy.shape)
    k = np.arange(n * n).reshape(n, n)
    pairs = np.concatenate(
        [
            np.stack([k[:, :-1].ravel(), k[:, 1:].ravel()], 1),
            np.stack([k[:-1].ravel(), k[1:].ravel()], 1),
        ]
    )
    if rng is not None and drop:
        pairs = pairs[rng.random(len(pairs)) >= drop]
    return shapely.linestrings(xy[pairs])


def _setup(lines, facilities, groups, n_groups, cutoff):
    net = build_network(lines)
    snap = snap_points(net, facilities, max_distance_m=60)
    node_dist = group_distances(net, snap, groups, n_groups, cutoff_m=cutoff)
    return net, snap, node_dist


def test_fully_reached_3x3_grid_joined_by_hand():
    """3 × 3 nodes, 100 m apart, all 12 streets reached, joined as drawn by hand.

    The outer ring is one closed line of 8 streets (9 vertices: the first again at the end), the cross
    through the centre two straight lines of 2 streets (3 vertices each): at a border midpoint the two
    border streets are the straight pair, at the centre left–right and up–down.
    """
    lines = _grid(3, 100.0)
    net, snap, node_dist = _setup(lines, shapely.points([[100.0, 100.0]]), np.array([0]), 1, 1000.0)
    frame = service_area_frame(
        net, node_dist, [("k", "5min", 1000.0)], form="lines", sources=snap, source_groups=[0]
    )
    geom = frame.geometry.iloc[0]
    parts = shapely.get_parts(geom)
    assert sorted(shapely.get_num_coordinates(parts).tolist()) == [3, 3, 9]
    ring = parts[shapely.get_num_coordinates(parts) == 9][0]
    assert ring.is_closed and ring.length == pytest.approx(800.0)
    cross = parts[shapely.get_num_coordinates(parts) == 3]
    assert sorted(shapely.length(cross).tolist()) == pytest.approx([200.0, 200.0])
    # each straight: both ends on the grid's border midpoints, through the centre
    assert all(shapely.get_coordinates(c)[1].tolist() == [100.0, 100.0] for c in cross)
    assert frame.loc[0, "reachable_network_km"] == pytest.approx(1.2)
    assert shapely.equals(geom, shapely.union_all(lines))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joined_lines_are_the_pieces(seed):
    """A jittered grid with missing streets: the joined lines are topologically the pieces (GEOS equality)."""
    rng = np.random.default_rng(seed)
    lines = _grid(9, 100.0, rng, jitter=12.0, drop=0.12)
    fac = shapely.points(rng.uniform(100, 700, (6, 2)))
    groups = np.array([0, 0, 1, 1, 2, 2])
    dmax = [150.0, 300.0, 550.0]
    net, snap, node_dist = _setup(lines, fac, groups, 3, 600.0)
    kw = {"sources": snap, "source_groups": groups}
    pieces = reachable_pieces(net, node_dist, dmax, **kw)
    frame = service_area_frame(
        net, node_dist, [("a", "t", d) for d in dmax], form="lines", simplify_m=0.0, **kw
    )
    for g in range(3):
        own = pieces.geometry[(pieces.group == g) & (shapely.get_type_id(pieces.geometry) == 1)]
        joined = frame.geometry.iloc[g]
        assert shapely.equals(joined, shapely.multilinestrings(own))
        # fewer vertices than the pieces' own (a joint stored once), never more parts
        assert shapely.get_num_coordinates(joined) < shapely.get_num_coordinates(own).sum()
        assert shapely.get_num_geometries(joined) <= len(own)
        assert frame.loc[g, "reachable_network_km"] == pytest.approx(
            pieces.length_m[pieces.group == g].sum() / 1000.0, rel=1e-12
        )


@pytest.mark.parametrize("form", ["lines", "polygons"])
def test_threads_give_the_single_thread_result(form):
    rng = np.random.default_rng(5)
    lines = _grid(10, 100.0, rng, jitter=10.0, drop=0.1)
    fac = shapely.points(rng.uniform(100, 800, (12, 2)))
    groups = np.arange(12) % 4
    net, snap, node_dist = _setup(lines, fac, groups, 4, 500.0)
    spec = [("a", "t", 200.0), ("b", "t", 300.0), ("c", "t", 400.0), ("d", "t", 500.0)]
    kw = {"sources": snap, "source_groups": groups, "form": form, "crs": CRS, "simplify_m": 1.0}
    one = service_area_frame(net, node_dist, spec, workers=1, **kw)
    two = service_area_frame(net, node_dist, spec, workers=2, **kw)
    assert one.drop(columns="geometry").equals(two.drop(columns="geometry"))
    assert shapely.equals_exact(one.geometry.values, two.geometry.values, tolerance=0.0).all()


def test_simplified_geometry_within_tolerance_attributes_exact():
    """simplify_m changes the stored geometry (by at most the tolerance), never reachable_network_km or area_km2."""
    rng = np.random.default_rng(3)
    lines = _grid(8, 100.0, rng, jitter=15.0)
    # bends: every street drawn with a vertex 0.5 m off its middle, which 1 m of tolerance removes
    mid = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    c = shapely.get_coordinates(lines).reshape(-1, 2, 2)
    m = shapely.get_coordinates(mid) + [0.0, 0.5]
    lines = shapely.linestrings(np.stack([c[:, 0], m, c[:, 1]], 1))
    fac = shapely.points(rng.uniform(100, 600, (4, 2)))
    groups = np.array([0, 0, 1, 1])
    net, snap, node_dist = _setup(lines, fac, groups, 2, 400.0)
    spec = [("a", "t", 250.0), ("b", "t", 400.0)]
    kw = {"sources": snap, "source_groups": groups, "crs": CRS}
    for form in ("lines", "polygons"):
        exact = service_area_frame(net, node_dist, spec, form=form, simplify_m=0.0, **kw)
        simple = service_area_frame(net, node_dist, spec, form=form, simplify_m=1.0, **kw)
        assert exact.drop(columns="geometry").equals(simple.drop(columns="geometry"))
        for a, b in zip(exact.geometry, simple.geometry, strict=True):
            assert shapely.hausdorff_distance(a, b) <= 1.0 + 1e-9
            assert shapely.get_num_coordinates(b) < shapely.get_num_coordinates(a)
            assert b.is_valid
        if form == "polygons":  # area_km2 is the exact polygon's, not the simplified one's
            assert exact["area_km2"].tolist() == pytest.approx(
                (shapely.area(exact.geometry.values) / 1e6).tolist(), rel=1e-12
            )


# --- the config value through a whole run ---------------------------------------------------------------------


@pytest.mark.parametrize("tol", [0.0, 5.0])
def test_service_area_simplify_m_through_the_pipeline(tmp_path, tol):
    """life_circle.service_area_simplify_m at 0 and 5 m, through config, params and the written file.

    At 0 the stored areas are exact (their area is area_km2); at 5 m each moves by at most 5 m (area by at most
    perimeter × 5 m), and area_km2 / reachable_network_km stay those of the exact geometry (the run at 0).
    """
    import geopandas as gpd
    import yaml

    from ditan.pipelines.config.schema import parse_config
    from ditan.pipelines.jobs.run import run
    from tests.conftest import ROOT

    path = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.pop("compliance", None)
    out = {}
    for t in (0.0, tol):
        data.setdefault("life_circle", {})["service_area_simplify_m"] = t
        cfg = parse_config(data, base_dir=path.parent)
        assert cfg.life_circle.service_area_simplify_m == t
        done = run(cfg, tmp_path / f"t{t:g}")
        out[t] = gpd.read_file(done.out_dir / "service_areas.gpkg", layer="service_areas_15min")
    exact, stored = out[0.0], out[tol]
    for col in ("area_km2", "reachable_network_km"):
        np.testing.assert_array_equal(stored[col].to_numpy(), exact[col].to_numpy())
    area, want = stored.geometry.area.to_numpy(), stored["area_km2"].to_numpy() * 1e6
    bound = stored.geometry.length.to_numpy() * tol + 1e-6 * np.maximum(want, 1.0)
    assert (np.abs(area - want) <= bound).all()
    # every stored vertex lies within the tolerance of the exact boundary (as the README states; a ring smaller
    # than the tolerance may be dropped whole, so the reverse direction is not bounded)
    xy, row = shapely.get_coordinates(stored.geometry.to_numpy(), return_index=True)
    edge = shapely.boundary(exact.geometry.to_numpy())[row]
    assert (shapely.distance(shapely.points(xy), edge) <= tol + 1e-6).all()


def test_service_area_simplify_m_refuses_a_negative_tolerance():
    from ditan.pipelines.config.schema import parse_config
    from ditan.spatial.errors import ConfigError
    from tests.conftest import ROOT

    with pytest.raises(ConfigError, match="service_area_simplify_m"):
        parse_config(
            {
                "name": "x",
                "inputs": {"osm": {"path": "map.osm.pbf"}},
                "life_circle": {"service_area_simplify_m": -1},
            },
            base_dir=ROOT / "data" / "beijing_haidian_tsinghua",
        )
