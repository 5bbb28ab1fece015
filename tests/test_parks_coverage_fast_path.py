"""park_service_coverage's fast paths (issue 17), against a plain implementation.

Residential faces wholly within one park's reach are not overlaid, and the faces cut by the units
can come from the caller (one overlay for land use and parks).

The expected shares come from a separate, plain implementation: one union of every park's reach,
intersected with each unit's residential land.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from ditan.spatial.engine.geometry import union_by_group
from ditan.spatial.indicators.landuse import face_pieces, landuse_shares
from ditan.spatial.indicators.parks import park_service_coverage

GK = "EPSG:4548"


def _plain(units, faces, parks, large_m2=5000.0, large_r=500.0, small_m2=2000.0, small_r=300.0):
    area = shapely.area(parks)
    reach = shapely.union_all(
        np.concatenate(
            [
                shapely.buffer(parks[area >= large_m2], large_r),
                shapely.buffer(parks[(area >= small_m2) & (area < large_m2)], small_r),
            ]
        )
    )
    res = shapely.union_all(
        faces.geometry.to_numpy()[faces["lu_class"].isin(["residential", "community_service"])]
    )
    out = []
    for u in units.geometry:
        land = shapely.intersection(u, res)
        out.append(
            shapely.area(shapely.intersection(land, reach)) / land.area * 100
            if land.area
            else np.nan
        )
    return np.array(out)


def test_whole_and_cut_faces_as_a_plain_union():
    # a 3 km strip of 100 m residential blocks; a large park (100 x 100 m) at x 0-100 and a small one
    # (50 x 50 m) at x 2000-2050: blocks near a park are inside one park's reach (whole), the blocks at
    # 600 m and beyond 2350 m are cut by the reach's edge, the rest are out of reach
    blocks = [box(x, 0, x + 90, 90) for x in range(200, 3000, 100)]
    parks = np.array([box(0, 0, 100, 100), box(2000, 0, 2050, 50)], dtype=object)
    faces = gpd.GeoDataFrame(
        {"lu_class": ["residential"] * len(blocks) + ["park", "park"]},
        geometry=[*blocks, *parks],
        crs=GK,
    )
    units = gpd.GeoDataFrame(
        geometry=[box(150, -10, 1050, 100), box(1050, -10, 2050, 100), box(2050, -10, 3050, 100)],
        crs=GK,
    )
    got = park_service_coverage(units, faces, parks)
    want = _plain(units, faces, parks)
    np.testing.assert_allclose(got["park_service_coverage_pct"].to_numpy(), want, rtol=1e-9)
    assert 0 < want[0] < 100 and 0 < want[2] < 100  # cut faces in the first and the last unit
    assert got["park_large_count"].tolist() == [0, 0, 0]  # the large park lies outside the units
    assert got["park_small_count"].tolist() == [0, 1, 0]
    # unit 0 (x 150-1050): blocks at x 200…900 whole, the one at 1000 up to x 1050
    assert got["residential_land_m2"].iloc[0] == pytest.approx(8 * 90 * 90 + 50 * 90)


def test_no_parks_and_no_residential_land():
    faces = gpd.GeoDataFrame({"lu_class": ["residential"]}, geometry=[box(0, 0, 90, 90)], crs=GK)
    units = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100), box(200, 0, 300, 100)], crs=GK)
    got = park_service_coverage(units, faces, np.array([], dtype=object))
    assert got["park_service_coverage_pct"].iloc[0] == 0.0
    assert np.isnan(got["park_service_coverage_pct"].iloc[1])  # no residential land: not assessable


def test_the_callers_face_pieces_give_the_same_result():
    # faces of other classes before and among the residential ones, so that positions differ
    faces = gpd.GeoDataFrame(
        {"lu_class": ["park", "residential", "industrial", "residential", "park", "residential"]},
        geometry=[
            box(0, 0, 100, 100),
            box(150, 0, 240, 90),
            box(250, 0, 340, 90),
            box(350, 0, 440, 90),
            box(900, 0, 960, 60),
            box(1000, 0, 1600, 90),
        ],
        crs=GK,
    )
    units = gpd.GeoDataFrame(geometry=[box(120, -10, 500, 100), box(500, -10, 1700, 100)], crs=GK)
    parks = faces.geometry.to_numpy()[faces["lu_class"].to_numpy() == "park"]
    plain = park_service_coverage(units, faces, parks)
    given = park_service_coverage(units, faces, parks, face_pieces=face_pieces(units, faces))
    pd.testing.assert_frame_equal(given, plain, rtol=1e-12)
    np.testing.assert_allclose(
        plain["park_service_coverage_pct"].to_numpy(), _plain(units, faces, parks), rtol=1e-9
    )
    shares = landuse_shares(units, faces)
    pd.testing.assert_frame_equal(
        landuse_shares(units, faces, pieces=face_pieces(units, faces)), shares, rtol=1e-12
    )


def test_union_by_group_as_union_all_per_group():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 100, 60), rng.uniform(0, 100, 60)
    geoms = shapely.box(x, y, x + rng.uniform(5, 30, 60), y + rng.uniform(5, 30, 60))
    label = rng.integers(0, 9, 60)  # groups of 1 to ~12, in no order
    label[label == 8] = 100  # a label not in sequence
    got = union_by_group(geoms, label)
    want = [shapely.union_all(geoms[label == g]) for g in np.unique(label)]
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert shapely.area(shapely.symmetric_difference(a, b)) < 1e-9 * b.area
    lone = union_by_group(geoms[:1], np.array([3]))
    assert lone[0] is geoms[0]  # a group of one is left as it is
    assert len(union_by_group(np.array([], dtype=object), np.array([], dtype=int))) == 0
