"""The Python API: ``import ditan`` and ``ditan.indicators`` on hand-made graphs and on Beijing.

Every expectation on the hand-made fixtures is counted by hand in the comments; on the Beijing
sample the API is compared with the pipeline (``ditan.run``), a separate path through the loader and
the computation.
"""

from __future__ import annotations

import inspect
import logging
import re
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

import ditan
from ditan import indicators
from ditan.pipelines.config.params import ComputeParams
from ditan.spatial.errors import ConfigError, CRSError, LayerError
from tests.conftest import CRS, X0, Y0, at, box, gdf, point

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
OSM_XML = ROOT / "data" / "beijing_haidian_tsinghua" / "map.osm"

# A 100 m street grid: nodes at x = 0, 100, 200, 300 and y = 0, 100, 200 (4 × 3 nodes, 17 street
# segments:
# 3 rows × 3 + 4 columns × 2). Unit A is x 0..200, unit B x 200..300; the street x = 200 is their
# shared edge.
XS, YS = (0, 100, 200, 300), (0, 100, 200)


def _node(x: int, y: int) -> int:
    return 10 * XS.index(x) + YS.index(y)


def _segments() -> list[tuple[tuple[int, int], tuple[int, int]]]:
    rows = [((x, y), (x + 100, y)) for y in YS for x in XS[:-1]]
    cols = [((x, y), (x, y + 100)) for x in XS for y in YS[:-1]]
    return rows + cols


def grid_graph(
    *, listed: tuple[tuple[int, int], tuple[int, int]] | None = ((0, 0), (100, 0))
) -> nx.MultiDiGraph:
    """The grid as osmnx builds a graph: every street both ways, straight edges without geometry.

    The street ``listed`` carries the highway list ['footway', 'residential'] (two merged ways, as
    osmnx simplification leaves them): its most important class, residential, counts.
    """
    g = nx.MultiDiGraph(crs=CRS)
    for x in XS:
        for y in YS:
            g.add_node(_node(x, y), x=X0 + x, y=Y0 + y)
    for a, b in _segments():
        hw = ["footway", "residential"] if (a, b) == listed else "residential"
        for u, v in ((a, b), (b, a)):
            g.add_edge(_node(*u), _node(*v), highway=hw, oneway=False, name=None)
    return g


def grid_lines() -> gpd.GeoDataFrame:
    return gdf(
        [
            {"highway": "residential", "geometry": shapely.LineString([at(*a), at(*b)])}
            for a, b in _segments()
        ]
    )


@pytest.fixture
def units() -> gpd.GeoDataFrame:
    return gdf(
        [
            {"unit_id": "A", "geometry": box(0, 0, 200, 200)},
            {"unit_id": "B", "geometry": box(200, 0, 300, 200)},
        ]
    ).set_index("unit_id")


def homes() -> gpd.GeoDataFrame:
    """Four homes at nodes of unit A (and B), weights 1, 2, 3, 4."""
    return gdf(
        [
            {"w": 1.0, "geometry": point(0, 0)},
            {"w": 2.0, "geometry": point(100, 0)},
            {"w": 3.0, "geometry": point(200, 100)},
            {"w": 4.0, "geometry": point(300, 200)},
        ]
    )


def whole() -> gpd.GeoDataFrame:
    return gdf([{"unit_id": "all", "geometry": box(0, 0, 300, 200)}]).set_index("unit_id")


# --- roads ----------------------------------------------------------------------------------------


def test_road_density_of_the_grid_counted_by_hand(units):
    out = indicators.road_density(units, grid_graph())
    # A: columns x=0, x=100 (200 m each), half of x=200 (shared: 100 m), rows y=0,100,200 over x
    # 0..200 (3 × 200 m)
    # = 1,100 m on 0.04 km²; B: half of x=200 (100 m), x=300 (200 m), rows over x 200..300 (3 × 100
    # m) = 600 m on 0.02 km²
    assert out["road_length_km"].to_dict() == pytest.approx({"A": 1.1, "B": 0.6})
    assert out["road_density_km_per_km2"].to_dict() == pytest.approx({"A": 27.5, "B": 30.0})
    assert out["road_density_local_km_per_km2"].to_dict() == pytest.approx({"A": 27.5, "B": 30.0})
    # two-way streets: nothing paired
    assert out["road_length_naive_km"].to_dict() == pytest.approx({"A": 1.1, "B": 0.6})
    assert out.attrs["crs"] == CRS


def test_intersection_density_of_the_grid_counted_by_hand(units):
    out = indicators.intersection_density(units, grid_graph())
    # degree ≥ 3: the 6 border nodes that are not corners and the 2 inner nodes, none within 30 m of
    # another.
    # A: (100,0), (100,200), (0,100), (100,100) whole, and (200,0), (200,100), (200,200) on the
    # shared edge, half each
    # = 5.5; B: (300,100) and the three halves = 2.5
    assert out["intersection_count"].to_dict() == pytest.approx({"A": 5.5, "B": 2.5})
    assert out["intersection_density_per_km2"].to_dict() == pytest.approx(
        {"A": 5.5 / 0.04, "B": 2.5 / 0.02}
    )


def test_highway_lists_count_as_their_most_important_class():
    edges = indicators.graph_edges(grid_graph())
    assert len(edges) == 17  # the two directions of each street once
    assert set(edges["highway"]) == {
        "residential"
    }  # ['footway', 'residential'] → residential (no TypeError)
    one = nx.MultiDiGraph(crs=CRS)
    one.add_node(1, x=X0, y=Y0)
    one.add_node(2, x=X0 + 100, y=Y0)
    one.add_edge(
        1, 2, highway=["service", "primary", "residential"], name=["主路", "辅路"], oneway=True
    )
    row = indicators.graph_edges(one).iloc[0]
    assert (row["highway"], row["name"], row["oneway"]) == ("primary", "主路", "yes")


def test_a_graph_and_its_lines_give_the_same_numbers(units):
    for f in (indicators.road_density, indicators.intersection_density):
        pd.testing.assert_frame_equal(f(units, grid_graph(listed=None)), f(units, grid_lines()))
    kw = {"homes": homes(), "weight_column": "w"}
    fac = gdf([{"category": "kindergarten", "geometry": point(0, 0)}])
    pd.testing.assert_frame_equal(
        indicators.life_circle(whole(), grid_graph(), fac, **kw),
        indicators.life_circle(whole(), grid_lines(), fac, **kw),
    )


def test_road_classes_in_chinese_and_unknown_ones_noted(units):
    lines = grid_lines().assign(等级=["支路"] * 16 + ["不明"])
    out = indicators.road_density(units, lines, class_column="等级")
    # the unknown class is the last column segment, x=300 from y=100 to 200 (in B): 100 m less than
    # in the test above
    assert out["road_length_km"].to_dict() == pytest.approx({"A": 1.1, "B": 0.5})
    assert any("'不明'" in n for n in out.attrs["notes"])


# --- life circles and transit ---------------------------------------------------------------------


def test_life_circle_shares_by_hand():
    # walking distance on the grid is the Manhattan distance. A kindergarten (5min, 300 m) at (0,0):
    # homes at (0,0) 0 m, (100,0) 100 m, (200,100) 300 m, (300,200) 500 m → weights 1 + 2 + 3 of 10
    # = 60 %.
    # A small park (10min, 500 m) at (300,200): 500, 400, 200, 0 m → all within: 100 %.
    fac = gdf(
        [
            {"category": "kindergarten", "geometry": point(0, 0)},
            {"category": "小游园", "geometry": point(300, 200)},
        ]
    )
    out = indicators.life_circle(whole(), grid_graph(), fac, homes=homes(), weight_column="w")
    row = out.loc["all"]
    assert row["lc_kindergarten_pct"] == pytest.approx(60.0)
    assert row["lc_small_park_pct"] == pytest.approx(100.0)
    # the mean over the tier's categories with data
    assert row["lc_5min_score_pct"] == pytest.approx(60.0)
    assert row["lc_5min_assessed_count"] == 1 and row["lc_5min_categories_count"] == 5
    # no playground, convenience store … anywhere: data gaps, NaN and named, never 0
    assert np.isnan(row["lc_playground_pct"]) and np.isnan(row["lc_5min_all_pct"])
    assert any(g.startswith("life-circle category playground") for g in out.attrs["data_gaps"])
    assert row["lc_basis"] == "homes"


def test_life_circle_confirmed_absent_and_tiers():
    fac = gdf([{"category": "kindergarten", "geometry": point(0, 0)}])
    absent = ["convenience_store", "community_service", "elderly_daycare", "playground"]
    out = indicators.life_circle(
        whole(), grid_graph(), fac, homes=homes(), weight_column="w", confirmed_absent=absent
    )
    row = out.loc["all"]
    assert row["lc_playground_pct"] == 0.0 and row["lc_5min_all_pct"] == 0.0  # measured absent: 0
    assert row["lc_5min_score_pct"] == pytest.approx(60.0 / 5)  # (60 + 0 + 0 + 0 + 0) / 5
    # the 5-minute tier raised to 100 m: (0,0) and (100,0) only, 3 of 10
    near = indicators.life_circle(
        whole(), grid_graph(), fac, homes=homes(), weight_column="w", tiers={"5min": 100}
    )
    assert near.loc["all", "lc_kindergarten_pct"] == pytest.approx(30.0)
    with pytest.raises(ConfigError, match="15min.*not a tier|increasing"):
        indicators.life_circle(whole(), grid_graph(), fac, homes=homes(), tiers={"5min": 2000})


def test_life_circle_notes_and_refusals():
    # a second kindergarten 400 m from any street: not reached, and said so; a typo in
    # confirmed_absent is refused
    fac = gdf(
        [
            {"category": "kindergarten", "geometry": point(0, 0)},
            {"category": "幼儿园", "geometry": point(150, 600)},
            {"category": "洗衣店", "geometry": point(0, 0)},
        ]
    )
    out = indicators.life_circle(whole(), grid_graph(), fac, homes=homes(), weight_column="w")
    assert out.loc["all", "lc_kindergarten_pct"] == pytest.approx(60.0)
    assert (
        "1 of 2 facilities more than 100 m from the walk network: not reached on it"
        in out.attrs["notes"]
    )
    # no catalogue category: not used, and said so
    assert any("'洗衣店' (1)" in n for n in out.attrs["notes"])
    with pytest.raises(
        ConfigError, match="'playgrond' \\(did you mean 'playground'\\?\\) is not a category id"
    ):
        indicators.life_circle(whole(), grid_graph(), fac, confirmed_absent=["playgrond"])


def test_life_circle_without_homes_weights_the_unit_area():
    # no homes: a 25 m grid over the unit, each point standing for 625 m². The unit is x 0..300, y
    # 5..205, so the
    # points (12.5 + 25 i, 17.5 + 25 j) are never equally near a row and a column. A kindergarten at
    # (0,0), the
    # 5-minute tier at 150 m; a point snaps to the nearest street (the access leg counts). Brute
    # force in numpy:
    unit = gdf([{"unit_id": "all", "geometry": box(0, 5, 300, 205)}]).set_index("unit_id")
    fac = gdf([{"category": "kindergarten", "geometry": point(0, 0)}])
    out = indicators.life_circle(unit, grid_lines(), fac, tiers={"5min": 150})
    gx, gy = np.meshgrid(np.arange(12.5, 300, 25), np.arange(17.5, 205, 25))
    x, y = gx.ravel(), gy.ravel()
    # the nearest street is the nearest grid line
    fx, fy = (
        np.round(x / 100) * 100,
        np.round(y / 100) * 100,
    )
    along_x = np.abs(y - fy) <= np.abs(x - fx)  # nearer a row (y = const): walk along it
    access = np.where(along_x, np.abs(y - fy), np.abs(x - fx))
    # then to (0,0) along the row and down column 0, or the other way round
    walk = np.where(along_x, x + fy, y + fx)
    expected = 100.0 * np.mean(access + walk <= 150)
    assert out.loc["all", "lc_kindergarten_pct"] == pytest.approx(expected)
    assert out.loc["all", "lc_basis"] == "unit_area"


def test_transit_proximity_by_hand():
    # a bus stop listed twice, at (0,0) and (0,20): one stop, reached from both. Radius 250 m.
    # Straight from the
    # homes: 0, 100, 215.4 (to (0,20)), 349.9 m → 1 + 2 + 3 of 10 = 60 %; walking: 0, 100, 280, 480
    # m → 1 + 2 = 30 %.
    # No metro or bike station: data gaps (NaN), not 0.
    st = gdf(
        [
            {"kind": "公交站", "geometry": point(0, 0)},
            {"kind": "bus_stop", "geometry": point(0, 20)},
        ]
    )
    out = indicators.transit_proximity(
        whole(), grid_graph(), st, homes=homes(), weight_column="w", radius_m=250
    )
    row = out.loc["all"]
    assert row["bus_stop_250m_radius_pct"] == pytest.approx(60.0)
    assert row["bus_stop_250m_network_pct"] == pytest.approx(30.0)
    assert row["bus_stop_count"] == 1.0  # the two rows 20 m apart are one stop
    assert np.isnan(row["metro_250m_radius_pct"]) and np.isnan(row["metro_station_count"])
    assert {g.split(":")[0] for g in out.attrs["data_gaps"]} == {
        "station kind metro",
        "station kind bike_rental",
        "station kind ev_charging",
    }
    radius_only = indicators.transit_proximity(
        whole(),
        None,
        st,
        homes=homes(),
        weight_column="w",
        radius_m=250,
        confirmed_absent=["metro"],
    )
    assert (
        "bus_stop_250m_network_pct" not in radius_only
        and radius_only.loc["all", "metro_250m_radius_pct"] == 0.0
    )


def test_units_in_degrees_are_measured_in_metres(caplog):
    # the same grid, units, homes and kindergarten in longitude/latitude: projected back to
    # EPSG:4548 (the
    # CGCS2000 3° zone of their centre, 117°E), so the numbers are those measured in metres
    to_deg = Transformer.from_crs(CRS, 4326, always_xy=True)
    g = grid_graph()
    for _, d in g.nodes(data=True):
        d["x"], d["y"] = to_deg.transform(d["x"], d["y"])
    g.graph["crs"] = "EPSG:4326"
    # (the tier at 250 m: no home at exactly the tier distance, where a nanometre of reprojection
    # would decide)
    fac = gdf([{"category": "kindergarten", "geometry": point(0, 0)}])
    kw = {"weight_column": "w", "tiers": {"5min": 250}}
    metric = indicators.life_circle(whole(), grid_graph(), fac, homes=homes(), **kw)
    assert metric.loc["all", "lc_kindergarten_pct"] == pytest.approx(30.0)
    with caplog.at_level(logging.WARNING, logger="ditan.indicators"):
        degrees = indicators.life_circle(
            whole().to_crs(4326), g, fac.to_crs(4326), homes=homes().to_crs(4326), **kw
        )
    assert degrees.attrs["crs"] == "EPSG:4548"
    assert "measured in CGCS2000 / 3-degree Gauss-Kruger CM 117E (EPSG:4548)" in caplog.text
    pd.testing.assert_frame_equal(degrees, metric)
    dens = indicators.road_density(whole().to_crs(4326), g)
    # all 17 streets of 100 m
    assert dens.loc["all", "road_length_km"] == pytest.approx(1.7, abs=1e-6)


def test_intensity_landuse_and_green_by_hand():
    unit = gdf([{"unit_id": "u", "geometry": box(0, 0, 100, 100)}]).set_index("unit_id")
    # 200 m² × 9/3 floors
    b = gdf(
        [
            {
                "building": "residential",
                "building:levels": "3",
                "geometry": box(10, 10, 20, 20),
            },  # 100 m² × 3
            {"building": "yes", "height": "9", "geometry": box(30, 10, 50, 20)},
        ]
    )
    out = indicators.intensity(unit, b)
    assert out.loc["u", "floor_area_m2"] == pytest.approx(900.0) and out.loc[
        "u", "far_ratio"
    ] == pytest.approx(0.09)
    assert out.loc["u", "building_density_pct"] == pytest.approx(3.0)
    parcels = gdf(
        [
            {"YDDM": "R2", "geometry": box(0, 0, 50, 100)},
            {"YDDM": "G1", "geometry": box(50, 0, 75, 100)},
            {"YDDM": "ZZ9", "geometry": box(75, 0, 100, 100)},
        ]
    )
    lu = indicators.landuse_shares(unit, parcels, code_column="YDDM", code_system="gb50137")
    assert lu.loc[
        "u", ["lu_residential_pct", "green_space_ratio_pct", "lu_unknown_pct"]
    ].tolist() == pytest.approx([50, 25, 25])
    assert any("'ZZ9'" in n for n in lu.attrs["notes"])
    # union 60 × 50 = 3,000 m²
    veg = gdf([{"geometry": box(0, 0, 40, 50)}, {"geometry": box(20, 0, 60, 50)}])
    assert indicators.green_coverage(unit, veg).loc["u", "green_coverage_pct"] == pytest.approx(
        30.0
    )


def test_green_coverage_from_a_raster_by_hand(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    # 10 × 10 pixels of 10 m over the unit (0..100, 0..100): the left 3 columns trees (10), the next
    # 2 grass (30),
    # the rest built-up (50). Green: 5 of 10 columns = 50 %; permeable: all but built-up = 50 %.
    data = np.full((10, 10), 50, dtype=np.uint8)
    data[:, :3], data[:, 3:5] = 10, 30
    path = tmp_path / "cover.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="uint8",
        crs=CRS,
        transform=from_origin(X0, Y0 + 100, 10, 10),
    ) as dst:
        dst.write(data, 1)
    unit = gdf([{"unit_id": "u", "geometry": box(0, 0, 100, 100)}]).set_index("unit_id")
    out = indicators.green_coverage(unit, raster=path)
    assert out.loc["u", ["green_coverage_pct", "permeable_surface_pct"]].tolist() == pytest.approx(
        [50.0, 50.0]
    )
    assert out.loc["u", "green_coverage_source"] == "raster"


def test_bad_inputs_name_the_layer_and_the_fix(units):
    with pytest.raises(CRSError, match="layer 'units' has no coordinate system"):
        indicators.road_density(gpd.GeoDataFrame(geometry=units.geometry.to_numpy()), grid_lines())
    g = grid_graph()
    del g.graph["crs"]
    with pytest.raises(CRSError, match=r"G.graph\['crs'\]"):
        indicators.road_density(units, g)
    g = grid_graph()
    del g.nodes[_node(0, 0)]["x"]
    with pytest.raises(LayerError, match="1 node.* without x and y"):
        indicators.road_density(units, g)
    with pytest.raises(LayerError, match="no column 'class'"):
        indicators.road_density(units, grid_lines(), class_column="class")
    with pytest.raises(ConfigError, match="exactly one of vegetation"):
        indicators.green_coverage(units)
    with pytest.raises(LayerError, match="must hold lines"):
        indicators.life_circle(
            units, units, gdf([{"category": "kindergarten", "geometry": point(0, 0)}])
        )
    with pytest.raises(LayerError, match="no column 'kind'"):
        indicators.transit_proximity(units, None, gdf([{"geometry": point(0, 0)}]))


def test_keyword_defaults_are_the_config_defaults():
    p = ComputeParams()
    sig = {
        f: inspect.signature(getattr(indicators, f)).parameters
        for f in indicators.__all__
        if f[0].islower()
    }
    assert sig["road_density"]["max_gap_m"].default == p.roads.divided_max_gap_m
    assert tuple(sig["road_density"]["include"].default) == p.roads.include
    assert (
        sig["intersection_density"]["junction_tolerance_m"].default == p.roads.junction_tolerance_m
    )
    for f in ("life_circle", "transit_proximity"):
        assert sig[f]["snap_max_m"].default == p.life_circle.snap_max_m
        assert tuple(sig[f]["walk_exclude"].default) == p.life_circle.walk_exclude
    assert sig["transit_proximity"]["radius_m"].default == p.transit.radius_m


def test_public_names():
    for name in ditan.__all__:
        assert getattr(ditan, name) is not None
    for name in indicators.__all__:
        assert getattr(indicators, name) is not None
    assert callable(ditan.run) and ditan.indicators is indicators


# --- the Beijing sample: the API against the pipeline ---------------------------------------------


@pytest.fixture(scope="module")
def beijing():
    run = ditan.run(CONFIG)  # nothing written
    return run, run.study_area


@pytest.mark.parametrize("simplify", [False, True])
def test_osmnx_graph_agrees_with_the_pipeline(beijing, simplify):
    """An osmnx graph of map.osm gives the pipeline's life circles and 500 m walking shares.

    Tolerance 1e-9 percentage points: the graph holds the same street segments as the pipeline's
    walk network (OSM ways between consecutive nodes, from the same file in XML instead of PBF,
    7-decimal coordinates), so the walking distances are the same up to rounding; a segment missing
    or added would move whole buildings across a tier distance, a step of ≥ 0.01 pp on this sample,
    far above the tolerance. simplify=True merges ways into edges with lists of highway values
    (osmnx) and must give the same distances. Units the pipeline judges to have no residents (its
    assessment rule, not applied by the API) are NaN there and compared only where both are numbers.
    """
    ox = pytest.importorskip("osmnx")
    run, sa = beijing
    g = ox.graph_from_xml(OSM_XML, simplify=simplify, retain_all=True)
    lc = indicators.life_circle(sa.units, g, sa.facilities, homes=sa.buildings, landuse=sa.landuse)
    tr = indicators.transit_proximity(
        sa.units, g, sa.stations, homes=sa.buildings, landuse=sa.landuse
    )
    ours = lc.join(tr.drop(columns=[c for c in tr if c.endswith("_count")]))
    cols = [c for c in ours if c != "lc_basis"]
    pipe = run.indicators[cols]
    residents = run.indicators["has_residents"].astype(bool)
    assert residents.sum() >= 5
    pd.testing.assert_frame_equal(
        ours.loc[residents, cols].astype(float),
        pipe.loc[residents].astype(float),
        atol=1e-9,
        rtol=0,
    )
    both = ours[cols].notna() & pipe.notna()
    assert np.nanmax(np.abs((ours[cols] - pipe).where(both).to_numpy(dtype=float))) < 1e-9
    assert (lc["lc_basis"] == run.indicators["lc_basis"]).all()
    r = run.reasons
    # also community amenities (canteen_count …)
    gaps = set(r.loc[r["reason"] == "category_gap", "column"])
    assert {f"lc_{g.split()[2]}_pct" for g in lc.attrs["data_gaps"]} == {
        c for c in gaps if c.startswith("lc_")
    }


def test_osmnx_pois_and_buildings_come_close_to_the_pipeline(beijing):
    """The README's claim: from osmnx's POIs and buildings, tier scores within 0.4 pp of the run's.

    They differ because the run also counts homes on residential land and marks buildings
    residential by the land
    they stand on; the facilities are matched by the same catalogue rules.
    """
    ox = pytest.importorskip("osmnx")
    run, _ = beijing
    g = ox.graph_from_xml(OSM_XML, simplify=False, retain_all=True)
    tags = {"amenity": True, "shop": True, "leisure": True, "healthcare": True}
    pois = ox.features_from_xml(OSM_XML, tags=tags)
    homes = ox.features_from_xml(
        OSM_XML, tags={"building": ["residential", "apartments", "dormitory"]}
    )
    units = gpd.read_file(ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg").set_index(
        "unit_id"
    )
    lc = indicators.life_circle(units, g, pois, homes=homes)
    cols = [c for c in lc if c.endswith("_score_pct")]
    diff = (lc[cols] - run.indicators[cols]).abs()
    assert diff.notna().sum().sum() >= 10 and float(diff.max().max()) < 0.4


def test_road_density_from_the_osmnx_graph_agrees_with_the_pipeline(beijing):
    """The unsimplified graph's edges are the ways' segments: same lengths, pairs, junctions."""
    ox = pytest.importorskip("osmnx")
    run, sa = beijing
    g = ox.graph_from_xml(OSM_XML, simplify=False, retain_all=True)
    out = indicators.road_density(sa.units, g).join(indicators.intersection_density(sa.units, g))
    pd.testing.assert_frame_equal(
        out, run.indicators[out.columns], atol=1e-9, rtol=0, check_dtype=False
    )


def test_run_without_out_writes_nothing(beijing, tmp_path, monkeypatch):
    run, _ = beijing
    assert run.files == {} and run.out is None
    assert {"indicators", "compliance", "data_quality", "reasons"} <= set(vars(run))
    # the sample config names a profile
    assert run.compliance is not None and len(run.compliance) > 0
    assert "nothing written" in repr(run)
    monkeypatch.chdir(tmp_path)
    ditan.load_study_area(CONFIG)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_run_with_out_writes_the_cli_files(beijing, tmp_path):
    from ditan.pipelines.cli import main

    run, _ = beijing
    written = ditan.run(str(CONFIG), out=tmp_path / "api")
    assert main(["run", str(CONFIG), "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    assert set(written.files) == {p.name for p in (tmp_path / "cli").iterdir()}
    assert (tmp_path / "api" / "indicators.csv").read_bytes() == (
        tmp_path / "cli" / "indicators.csv"
    ).read_bytes()
    pd.testing.assert_frame_equal(written.indicators, run.indicators)


@pytest.mark.slow
def test_run_with_a_scenario(beijing, tmp_path):
    # a kindergarten added at a home of the unit least covered: that home is then within 300 m of
    # one, so the unit's share rises
    run, sa = beijing
    share = run.indicators["lc_kindergarten_pct"]
    unit = share[share < 100].idxmin()
    b = sa.buildings[sa.buildings["residential"].astype(bool)]
    home = (
        b[b.intersects(sa.units.geometry[unit])]
        .geometry.representative_point()
        .to_crs(4326)
        .iloc[0]
    )
    row = {
        "action": "add",
        "layer": "facility",
        "category": "kindergarten",
        "lon": home.x,
        "lat": home.y,
    }
    pd.DataFrame([row]).to_csv(tmp_path / "s.csv", index=False)
    what_if = ditan.run(CONFIG, scenario=tmp_path / "s.csv")
    assert what_if.files == {}
    got = what_if.scenario.set_index(["unit_id", "indicator"]).loc[(unit, "lc_kindergarten_pct")]
    assert got["base"] == pytest.approx(share[unit]) and got["scenario"] > share[unit]


def test_steps_and_configs_as_dicts(beijing):
    import yaml

    run, sa = beijing
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    cfg = ditan.load_config(data, base_dir=CONFIG.parent)
    assert ditan.load_config(cfg) is cfg
    res = ditan.compute(sa, cfg, extra_radii_m=(500.0,))
    pd.testing.assert_frame_equal(res.indicators, run.indicators)
    with pytest.raises(ConfigError, match="nmae"):
        ditan.load_config({**data, "nmae": "x"}, base_dir=CONFIG.parent)


@pytest.mark.slow
def test_screen_in_memory_and_written(tmp_path):
    scr = ditan.screen(CONFIG)
    assert scr.files == {} and scr.out is None
    ranked = scr.ranked
    # method rules: 100 × (2 × binding met + guiding met) ÷ (2 × binding assessable + guiding
    # assessable)
    expected = (
        100
        * (2 * ranked["binding_met"] + ranked["guiding_met"])
        / (2 * ranked["binding_assessable"] + ranked["guiding_assessable"])
    )
    assert (scr.screening.method, list(ranked["score"].round(9))) == (
        "rules",
        list(expected.round(9)),
    )
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert set(scr.table["unit_id"]) == set(
        gpd.read_file(ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg")["unit_id"]
    )
    written = ditan.screen(CONFIG, out=tmp_path / "s", top=2)
    assert (
        set(written.files)
        == {p.name for p in (tmp_path / "s").iterdir()}
        == {"screening.csv", "screening.xlsx", "screening_map.html", "compliance.csv"}
        | {"screening_chart.png", "screening_chart.svg"}
    )
    assert (written.ranked["shortlisted"] == "yes").sum() <= 2


@pytest.mark.slow
def test_check_parcels_in_memory():
    checked = ditan.check_parcels(ROOT / "pipelines" / "configs" / "beijing_land_sale.yaml")
    sale = gpd.read_file(ROOT / "data" / "beijing_haidian_tsinghua" / "parcels_for_sale.gpkg")
    assert len(checked.summary) == len(sale) == len(checked.parcels) and checked.files == {}
    assert set(checked.checks["parcel_id"]) == set(checked.summary["parcel_id"])
    with pytest.raises(ConfigError, match="no land_sale section"):
        ditan.check_parcels(CONFIG)


def test_annex_sheets_as_figures(beijing):
    from ditan.maps.fonts import FontMissingError, find_cjk_font
    from tests.conftest import require_or_skip

    try:
        find_cjk_font()
        has_font = True
    except FontMissingError:
        has_font = False
    require_or_skip(has_font, "no CJK font (apt-get install fonts-noto-cjk)")
    run, _ = beijing
    sheets = ditan.annex(CONFIG, units=["U002"], run=run)
    assert sheets.units == ["U002"] and sheets.files == {}
    # 6 + the carbon sheets (屋顶光伏潜力图, 碳排放强度图) + the 指标达标图 (the sample has a profile)
    assert len(sheets.figures["U002"]) == 9
    assert all(type(f).__name__ == "Figure" for f in sheets.figures["U002"])


# --- the README's example -------------------------------------------------------------------------


def readme_python_api() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^## Python API\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert m, "README.md has no section '## Python API'"
    return m.group(1)


def test_readme_python_api_example_is_a_doctest():
    """The section's example runs in pytest's doctest collection of README.md (--doctest-glob)."""
    section = readme_python_api()
    assert (
        section.count(">>> ") >= 5
        and "ox.graph_from_xml" in section
        and "indicators.life_circle" in section
    )
