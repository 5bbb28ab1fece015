"""Park service-radius coverage, FAR from parcels, attached green, population weights, permeable share.

Every expected number is worked out by hand from the fixture geometry in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from ditan.spatial.engine.origins import building_population_origins, raster_population_origins
from ditan.spatial.indicators.green import green_coverage_from_raster
from ditan.spatial.indicators.intensity import building_pieces
from ditan.spatial.indicators.parcels import (
    far_with_parcels,
    parcel_attributes,
    parcel_floor_area_m2,
)
from ditan.spatial.indicators.parks import merged_parks, park_service_coverage
from tests.conftest import CRS, X0, Y0, box, gdf


def _faces():
    return gdf(
        [
            {"lu_class": "residential", "geometry": box(0, 0, 1000, 200)},  # A: 200,000 m²
            {"lu_class": "residential", "geometry": box(1000, 900, 2000, 1000)},
        ]
    )  # B: 100,000 m²


def _landuse_parks():
    return gdf(
        [
            {"lu_class": "park", "geometry": box(0, 300, 800, 312.5)},  # 10,000 m²: 500 m radius
            {"lu_class": "park", "geometry": box(1000, 640, 1500, 643)},  # 1,500 m² …
            {
                "lu_class": "park",
                "geometry": box(1500, 640, 2000, 643),
            },  # … + 1,500 m² touching: one 3,000 m² park, 300 m
            {
                "lu_class": "park",
                "geometry": box(900, 950, 930, 1000),
            },  # 1,500 m²: too small to count
            {"lu_class": "residential", "geometry": box(0, 0, 10, 10)},  # not a park
        ]
    )


def test_merged_parks_joins_touching_pieces():
    parks = merged_parks(_landuse_parks())
    assert sorted(np.round(parks_area := [p.area for p in parks])) == [1500, 3000, 10000]
    assert len(parks_area) == 3


def test_park_service_coverage_by_hand(two_units):
    out = park_service_coverage(two_units, _faces(), merged_parks(_landuse_parks()))
    # A: all its residential land lies within 300 m (x ≤ 800) or √(200² + 300²) = 361 m (x > 800) of the large park
    assert out.loc["A", "park_service_coverage_pct"] == pytest.approx(100.0)
    # B: the 3,000 m² park (y 640–643) serves 300 m up to y = 943 → 43 of the 100 m of residential depth;
    # the 1,500 m² park 70 m away is below 2,000 m² and serves nothing; the large park is ≥ 587.5 m away
    assert out.loc["B", "park_service_coverage_pct"] == pytest.approx(43.0, abs=1e-6)
    assert out["residential_land_m2"].tolist() == pytest.approx([200_000, 100_000])
    assert out["park_large_count"].tolist() == [1, 0]
    assert out["park_small_count"].tolist() == [0, 1]


def test_park_service_coverage_nan_without_residential_land(two_units):
    faces = gdf([{"lu_class": "commercial", "geometry": box(0, 0, 100, 100)}])
    out = park_service_coverage(two_units, faces, merged_parks(_landuse_parks()))
    assert out["park_service_coverage_pct"].isna().all()


def _parcels():
    return gdf(
        [
            {
                "lu_class": "residential",
                "far": 2.0,
                "floor_area_m2": np.nan,
                "green_ratio_pct": 30.0,
                "height_limit_m": 80.0,
                "geometry": box(0, 0, 500, 1000),
            },  # 500,000 m² × FAR 2 = 1,000,000 m²
            {
                "lu_class": "commercial",
                "far": np.nan,
                "floor_area_m2": 80_000.0,
                "green_ratio_pct": 10.0,
                "height_limit_m": 24.0,
                "geometry": box(800, 500, 1200, 600),
            },  # 40,000 m² across the A/B boundary: half of each figure to each
            {
                "lu_class": "residential",
                "far": np.nan,
                "floor_area_m2": 300_000.0,
                "green_ratio_pct": np.nan,
                "height_limit_m": 100.0,
                "geometry": box(1200, 0, 2000, 1000),
            },  # 800,000 m²
            {
                "lu_class": "park",
                "far": np.nan,
                "floor_area_m2": np.nan,
                "green_ratio_pct": 100.0,
                "height_limit_m": np.nan,
                "geometry": box(600, 800, 700, 900),
            },  # a park parcel: green land already, not attached green; no floor area
        ]
    )


def _buildings():
    return gdf(
        [
            {
                "floors": 10.0,
                "floors_source": "levels",
                "geometry": box(100, 100, 200, 200),
            },  # inside parcel 1: ignored
            {
                "floors": 5.0,
                "floors_source": "levels",
                "geometry": box(600, 0, 700, 100),
            },  # 10,000 m² × 5 outside parcels
        ]
    )


def test_parcel_floor_area():
    fa = parcel_floor_area_m2(_parcels())
    assert fa[:3].tolist() == pytest.approx([1_000_000, 80_000, 300_000])
    assert math.isnan(fa[3])


def test_far_from_parcels_then_buildings(two_units):
    out = far_with_parcels(two_units, _parcels(), _buildings())
    # A: 1,000,000 (parcel 1) + 40,000 (half of parcel 2) + 50,000 (the building outside parcels)
    assert out.loc["A", "floor_area_m2"] == pytest.approx(1_090_000)
    assert out.loc["A", "far_ratio"] == pytest.approx(1.09)
    assert out.loc["A", "far_parcel_area_pct"] == pytest.approx(
        52.0
    )  # 500,000 + 20,000 of 1,000,000 m²
    assert out.loc["A", "far_source"] == "parcels+buildings"
    # B: 300,000 + 40,000; covered 800,000 + 20,000
    assert out.loc["B", "far_ratio"] == pytest.approx(0.34)
    assert out.loc["B", "far_parcel_area_pct"] == pytest.approx(82.0)


def test_far_source_parcels_and_buildings_only(two_units):
    full = gdf([{"far": 1.5, "geometry": box(0, 0, 1000, 1000)}])
    out = far_with_parcels(two_units, full, _buildings())
    assert out["far_source"].tolist() == ["parcels", "buildings"]
    assert out.loc["A", "far_ratio"] == pytest.approx(
        1.5
    )  # the buildings under the parcel are not added
    assert out.loc["B", "far_ratio"] == pytest.approx(0.0)


def test_parcel_attributes(two_units):
    out = parcel_attributes(two_units, _parcels())
    # A: 30 % of 500,000 + 10 % of 20,000; the park parcel is green land, not attached green
    assert out.loc["A", "attached_green_m2"] == pytest.approx(152_000)
    assert out.loc["B", "attached_green_m2"] == pytest.approx(2_000)
    assert out["parcel_height_limit_max_m"].tolist() == [80.0, 100.0]


def test_building_population_origins(two_units):
    b = gdf(
        [
            {
                "population": 100,
                "floors": 1.0,
                "floors_source": "levels",
                "geometry": box(0, 0, 100, 100),
            },
            {
                "population": 50,
                "floors": 1.0,
                "floors_source": "levels",
                "geometry": box(950, 0, 1050, 100),
            },  # half each
            {
                "population": None,
                "floors": 1.0,
                "floors_source": "levels",
                "geometry": box(1500, 0, 1600, 100),
            },
        ]
    )
    o = building_population_origins(two_units, b, building_pieces(two_units, b))
    per_unit = o.weights.groupby("unit")["weight"].sum()
    assert per_unit.tolist() == pytest.approx([125.0, 25.0])
    assert o.basis.tolist() == ["population", "population"]


@pytest.mark.parametrize("crs", ["EPSG:4548", "EPSG:32650"])
def test_raster_population_origins(tmp_path, two_units, crs):
    # 100 m pixels, 20 × 10 over both units; pixel (row r, col c) holds c + 1 residents, one nodata pixel
    data = np.tile(np.arange(1, 21, dtype="float32"), (10, 1))
    data[0, 0] = -1
    path = tmp_path / "pop.tif"
    transform = from_origin(X0, Y0 + 1000, 100, 100)
    if (
        crs != CRS
    ):  # the same grid, described in UTM 50N: pixel centres move with the transform only
        from pyproj import Transformer

        x, y = Transformer.from_crs(CRS, crs, always_xy=True).transform(X0, Y0 + 1000)
        transform = from_origin(x, y, 100, 100)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=10,
        width=20,
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=-1,
    ) as dst:
        dst.write(data, 1)
    o = raster_population_origins(two_units, str(path))
    total = o.weights["weight"].sum()
    assert total == pytest.approx(data[data > 0].sum())
    if crs == CRS:
        per_unit = o.weights.groupby("unit")["weight"].sum()
        # A: columns 1–10 on 10 rows minus the nodata pixel (1); B: columns 11–20
        assert per_unit.tolist() == pytest.approx([55 * 10 - 1, 155 * 10])


def test_permeable_share_from_raster(tmp_path, two_units):
    # unit A: 100 m pixels, columns 0–4 trees (10), 5–6 water (80), 7–9 built-up (50) → permeable 70 %, green 50 %
    data = np.full((10, 10), 50, dtype="uint8")
    data[:, :5] = 10
    data[:, 5:7] = 80
    path = tmp_path / "lc.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=10,
        width=10,
        count=1,
        dtype="uint8",
        crs=CRS,
        transform=from_origin(X0, Y0 + 1000, 100, 100),
        nodata=0,
    ) as dst:
        dst.write(data, 1)
    out = green_coverage_from_raster(two_units, str(path))
    assert out.loc["A", "green_coverage_pct"] == pytest.approx(50.0)
    assert out.loc["A", "permeable_surface_pct"] == pytest.approx(70.0)
    # B is outside the raster: not assessable, not 0
    assert pd.isna(out.loc["B", "permeable_surface_pct"]) and pd.isna(
        out.loc["B", "green_coverage_pct"]
    )
    ndvi = green_coverage_from_raster(two_units, str(path), ndvi_threshold=20)
    assert ndvi["permeable_surface_pct"].isna().all()
