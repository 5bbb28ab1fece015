"""Road density and intersection density on a hand-computable grid (answers worked out below)."""

from __future__ import annotations

import geopandas as gpd
import pytest

from ditan.spatial.errors import CRSError
from ditan.spatial.indicators.roads import classify_roads, intersection_density, road_density
from tests.conftest import gdf, line


@pytest.fixture
def grid_roads() -> gpd.GeoDataFrame:
    # Verticals x=250 (primary), 500 (secondary), 750 (residential) run y=-100..1100: 1000 m inside A each.
    # Horizontal y=500 (tertiary) runs x=-100..1000: 1000 m inside A; it ends on the A|B boundary.
    # A trunk runs along the shared boundary x=1000, y=0..1000: 1000 m shared -> 500 m to A, 500 m to B.
    # A residential road y=500, x=1000..2000: 1000 m inside B.
    # A footway and a service road are not city roads.
    return gdf(
        [
            {"highway": "primary", "geometry": line((250, -100), (250, 500), (250, 1100))},
            {"highway": "secondary", "geometry": line((500, -100), (500, 500), (500, 1100))},
            {"highway": "residential", "geometry": line((750, -100), (750, 500), (750, 1100))},
            {
                "highway": "tertiary",
                "geometry": line((-100, 500), (250, 500), (500, 500), (750, 500), (1000, 500)),
            },
            {"highway": "trunk", "geometry": line((1000, 0), (1000, 500), (1000, 1000))},
            {"highway": "residential", "geometry": line((1000, 500), (2000, 500))},
            {"highway": "footway", "geometry": line((100, 200), (400, 200))},
            {"highway": "service", "geometry": line((1200, 100), (1800, 100))},
        ]
    )


def test_density_by_class_and_boundary_split(two_units, grid_roads):
    d = road_density(two_units, grid_roads)
    # A (1 km²): arterial 1.0, collector 1.0, local 1.0 + 1.0, expressway 0.5 (half the boundary trunk)
    assert d.loc["A", "road_density_arterial_km_per_km2"] == pytest.approx(1.0)
    assert d.loc["A", "road_density_collector_km_per_km2"] == pytest.approx(1.0)
    assert d.loc["A", "road_density_local_km_per_km2"] == pytest.approx(2.0)
    assert d.loc["A", "road_density_expressway_km_per_km2"] == pytest.approx(0.5)
    assert d.loc["A", "road_density_km_per_km2"] == pytest.approx(4.5)
    # B: local 1.0 + expressway 0.5; the service road is excluded
    assert d.loc["B", "road_length_km"] == pytest.approx(1.5)
    assert d.loc["B", "road_density_km_per_km2"] == pytest.approx(1.5)
    # no divided roads here (parallel roads are 250 m apart): the naive length is the same
    assert d["road_length_naive_km"].tolist() == pytest.approx([4.5, 1.5])
    assert d["road_length_km"].tolist() == pytest.approx([4.5, 1.5])
    assert road_density(two_units, grid_roads, divided=False)[
        "road_length_km"
    ].tolist() == pytest.approx([4.5, 1.5])


def test_included_classes_are_configurable(two_units, grid_roads):
    d = road_density(two_units, grid_roads, include=("service", "footway"))
    # only the 300 m footway (A) and the 600 m service road (B) count, as local roads
    assert d.loc["A", "road_length_km"] == pytest.approx(0.3)
    assert d.loc["B", "road_density_local_km_per_km2"] == pytest.approx(0.6)
    assert classify_roads(grid_roads).tolist()[:5] == [
        "arterial",
        "collector",
        "local",
        "local",
        "expressway",
    ]


def test_intersections(two_units, grid_roads):
    d = intersection_density(two_units, grid_roads)
    # degree-4 nodes at (250,500), (500,500), (750,500) inside A; (1000,500) on the A|B boundary counts 1/2 each
    assert d.loc["A", "intersection_count"] == pytest.approx(3.5)
    assert d.loc["B", "intersection_count"] == pytest.approx(0.5)
    assert d.loc["A", "intersection_density_per_km2"] == pytest.approx(3.5)
    # junctions are 250 m apart: consolidation changes nothing
    assert d["intersection_count_raw"].tolist() == pytest.approx([3.5, 0.5])
    # at a 130 m tolerance (nodes < 260 m apart merge) the four nodes chain into one junction at (625, 500), inside A
    wide = intersection_density(two_units, grid_roads, junction_tolerance_m=130.0)
    assert wide["intersection_count"].tolist() == pytest.approx([1.0, 0.0])
    assert wide["intersection_count_raw"].tolist() == pytest.approx([3.5, 0.5])


def test_geographic_crs_rejected(two_units, grid_roads):
    with pytest.raises(CRSError, match="geographic CRS.*to_metric"):
        road_density(two_units.to_crs(4326), grid_roads)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (99.7, [80.0, 0.0]),
        (99.999, [80.0, 0.0]),
        (99.9999999, [40.0, 40.0]),
        (100.0, [40.0, 40.0]),
        (100.0000001, [40.0, 40.0]),
        (100.001, [0.0, 80.0]),
    ],
)
def test_boundary_rule_never_loses_length(x, expected):
    # an 80 m line off, on, or within 1 µm (floating-point noise: on) the shared edge x=100 of two 100 m squares: 80 m in all
    import numpy as np
    import shapely

    from ditan.spatial.engine.allocate import line_pieces

    units = np.array([shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], dtype=object)
    p = line_pieces(units, np.array([shapely.LineString([(x, 10), (x, 90)])], dtype=object))
    got = np.bincount(p["unit"], weights=p["length_m"], minlength=2)
    assert got.tolist() == pytest.approx(expected)
