"""FAR, building density, land-use shares, green-space ratio and green coverage on hand-computed fixtures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ditan.spatial.indicators.green import green_coverage_from_polygons
from ditan.spatial.indicators.intensity import estimate_floors, intensity
from ditan.spatial.indicators.landuse import landuse_faces, landuse_shares
from tests.conftest import box, gdf


@pytest.fixture
def buildings():
    b = gdf(
        [
            # 20 × 50 = 1000 m², 6 floors from building:levels -> 6000 m²
            {
                "building": "residential",
                "levels_raw": "6",
                "height_raw": None,
                "geometry": box(100, 100, 120, 150),
            },
            # 40 × 25 = 1000 m², height 30 m ÷ 3 m = 10 floors -> 10000 m²
            {
                "building": "apartments",
                "levels_raw": None,
                "height_raw": "30 m",
                "geometry": box(300, 300, 340, 325),
            },
            # 10 × 10 = 100 m², a house with nothing known: default 2 floors -> 200 m²
            {
                "building": "house",
                "levels_raw": None,
                "height_raw": None,
                "geometry": box(600, 600, 610, 610),
            },
            # 20 × 10 straddling the A|B boundary: 100 m² on each side, 4 floors -> 400 m² each
            {
                "building": "commercial",
                "levels_raw": "4",
                "height_raw": None,
                "geometry": box(990, 100, 1010, 110),
            },
        ]
    )
    fl = estimate_floors(b)
    return b.assign(floors=fl["floors"].to_numpy(), floors_source=fl["floors_source"].to_numpy())


def test_floors_sources(buildings):
    assert buildings["floors"].tolist() == [6, 10, 2, 4]
    assert buildings["floors_source"].tolist() == ["levels", "height", "default", "levels"]


@pytest.mark.parametrize(
    ("levels", "height", "expected"),
    [("3;5", None, 3), ("0", "9", 3), ("500", None, 3), ("abc", "7.4", 2), (None, "-5", 3)],
)
def test_floors_parsing_and_implausible_values(levels, height, expected):
    # "3;5" -> first number 3; "0" and "500" floors are implausible -> height 9 m / 3 m = 3, or the default 3
    # ("yes" buildings default to 3); 7.4 m / 3 m rounds to 2; a negative height is ignored.
    df = pd.DataFrame({"building": ["yes"], "levels_raw": [levels], "height_raw": [height]})
    assert estimate_floors(df)["floors"].iloc[0] == expected


def test_far_and_building_density(two_units, buildings):
    out = intensity(two_units, buildings)
    # A: footprint 1000 + 1000 + 100 + 100 = 2200 m²; floor area 6000 + 10000 + 200 + 400 = 16600 m²; land 1e6 m²
    assert out.loc["A", "footprint_area_m2"] == pytest.approx(2200)
    assert out.loc["A", "floor_area_m2"] == pytest.approx(16600)
    assert out.loc["A", "far_ratio"] == pytest.approx(0.0166)
    assert out.loc["A", "building_density_pct"] == pytest.approx(0.22)
    # not from building:levels: 10000 (height) + 200 (default) of 16600; from the default: 200 of 16600
    assert out.loc["A", "floor_area_estimated_pct"] == pytest.approx(10200 / 16600 * 100)
    assert out.loc["A", "floor_area_default_floors_pct"] == pytest.approx(200 / 16600 * 100)
    # B: the other half of the straddling building only
    assert out.loc["B", "floor_area_m2"] == pytest.approx(400)
    assert out.loc["B", "far_ratio"] == pytest.approx(0.0004)
    assert out.loc["B", "floor_area_estimated_pct"] == pytest.approx(0.0)
    # additivity: the two units hold all floor area exactly once
    total = (buildings.geometry.area * buildings["floors"]).sum()
    assert out["floor_area_m2"].sum() == pytest.approx(total)


@pytest.fixture
def landuse():
    return gdf(
        [
            {"lu_class": "residential", "geometry": box(0, 0, 500, 500)},  # 250 000 m²
            {"lu_class": "park", "geometry": box(100, 100, 200, 200)},  # park inside it: 10 000 m²
            {"lu_class": "public_service", "geometry": box(600, 600, 800, 700)},  # school 20 000 m²
            {"lu_class": "green", "geometry": box(600, 100, 700, 200)},  # grass 10 000 m²
            {"lu_class": "industrial", "geometry": box(800, 800, 900, 900)},  # 10 000 m²
            {"lu_class": "commercial", "geometry": box(1500, 500, 1600, 600)},  # in B: 10 000 m²
        ]
    )


def test_landuse_shares_smallest_polygon_wins(two_units, landuse):
    out = landuse_shares(two_units, landuse_faces(landuse))
    a = out.loc["A"]
    # residential 250 000 − 10 000 (park on top) = 240 000 m² = 24 % of 1 km²
    assert a["lu_residential_pct"] == pytest.approx(24.0)
    assert a["lu_park_pct"] == pytest.approx(1.0)
    assert a["lu_green_pct"] == pytest.approx(1.0)  # grass
    assert a["lu_public_service_pct"] == pytest.approx(2.0)
    assert a["lu_industrial_pct"] == pytest.approx(1.0)
    # land no polygon covers is lu_no_data_pct; lu_unknown_pct is land of a code with no class, none here (issue 15)
    assert a["lu_no_data_pct"] == pytest.approx(100 - 24 - 2 - 2 - 1)
    assert a["lu_unknown_pct"] == pytest.approx(0.0)
    assert a["industrial_residential_ratio"] == pytest.approx(1 / 24)
    assert a["green_space_ratio_pct"] == pytest.approx(2.0)  # park 1 % + grass 1 %
    b = out.loc["B"]
    assert b["lu_commercial_pct"] == pytest.approx(1.0)
    assert np.isnan(b["industrial_residential_ratio"])  # no residential land: not a ratio
    shares = [c for c in out.columns if c.startswith("lu_") and c.endswith("_pct")]
    assert out[shares].sum(axis=1).tolist() == pytest.approx([100.0, 100.0])


def test_green_coverage_counts_overlaps_once(two_units):
    veg = gdf(
        [
            {"tag": "landuse=grass", "geometry": box(600, 100, 700, 200)},  # 10 000 m²
            {
                "tag": "natural=wood",
                "geometry": box(650, 150, 750, 250),
            },  # 10 000 m², 2 500 m² over the grass
            {
                "tag": "natural=wood",
                "geometry": box(1950, 950, 2050, 1050),
            },  # 50 × 50 = 2 500 m² inside B
        ]
    )
    out = green_coverage_from_polygons(two_units, veg)
    assert out.loc["A", "green_coverage_pct"] == pytest.approx(
        (10_000 + 10_000 - 2_500) / 1e6 * 100
    )
    assert out.loc["B", "green_coverage_pct"] == pytest.approx(2_500 / 1e6 * 100)
    assert (out["green_coverage_source"] == "vegetation polygons").all()
