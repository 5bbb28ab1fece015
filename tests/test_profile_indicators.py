"""Indicators the programme profiles need: amenities present, greenways, building heights, per-person figures.

Every expected number is worked out by hand from the fixture in the comments.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ditan.spatial.indicators.amenities import amenity_counts
from ditan.spatial.indicators.greenway import greenways
from ditan.spatial.indicators.intensity import building_pieces, housing_heights
from ditan.spatial.standards.catalogue import load_catalogue, match
from tests.conftest import box, gdf, line, point


def test_amenity_counts_share_boundary_points(two_units):
    am = gdf(
        [
            {"kind": "canteen", "geometry": point(100, 100)},
            {"kind": "canteen", "geometry": point(1000, 500)},  # on the A|B edge: ½ each
            {"kind": "recycling", "geometry": point(1500, 500)},
        ]
    )
    out = amenity_counts(two_units, am, ["canteen", "recycling"])
    assert out["canteen_count"].tolist() == [1.5, 0.5]
    assert out["recycling_count"].tolist() == [0.0, 1.0]


def test_catalogue_amenity_rules_match_osm_tags_and_names():
    cat = load_catalogue()
    tags = pd.DataFrame(
        {
            "amenity": ["canteen", None, "recycling", "recycling", None],
            "recycling_type": [None, None, "centre", "container", None],
            "shop": [None, None, None, None, "second_hand"],
            "name": ["职工食堂", "幸福社区助餐点", "", "", "爱心二手屋"],
        }
    )
    hits = match(tags, cat.amenities).sort_values(["row", "category"])
    # a recycling container is not an exchange point; the rest match
    assert list(zip(hits["row"], hits["category"], strict=True)) == [
        (0, "canteen"),
        (1, "canteen"),
        (2, "recycling"),
        (4, "recycling"),
    ]


def test_greenways_through_green_land_and_their_links(two_units):
    roads = gdf(
        [
            {
                "highway": "footway",
                "geometry": line((100, 200), (500, 200)),
            },  # 400 m, 200 m of it in the park
            {
                "highway": "cycleway",
                "geometry": line((1200, 100), (1200, 400)),
            },  # in B's green strip: 300 m
            {
                "highway": "residential",
                "geometry": line((100, 250), (500, 250)),
            },  # a street: never a greenway
            {"highway": "footway", "geometry": line((100, 800), (500, 800))},
        ]
    )  # no green land: not a greenway
    faces = gdf(
        [
            {"lu_class": "park", "geometry": box(300, 150, 700, 300)},
            {"lu_class": "green", "geometry": box(1150, 0, 1250, 500)},
            {"lu_class": "residential", "geometry": box(0, 700, 1000, 900)},
        ]
    )
    stations = gdf(
        [
            {"kind": "bus_stop", "geometry": point(450, 290)},  # 90 m from the A greenway: linked
            {
                "kind": "metro",
                "geometry": point(1400, 250),
            },  # 200 m from the B greenway: not linked
            {"kind": "bike_rental", "geometry": point(400, 200)},
        ]
    )  # not a transit stop
    out = greenways(two_units, roads, faces, stations)
    assert out["greenway_km"].tolist() == pytest.approx([0.2, 0.3])
    assert out["greenway_station_links"].tolist() == [1.0, 0.0]


def test_housing_heights(two_units):
    b = gdf(
        [
            {
                "floors": 6.0,
                "residential": True,
                "geometry": box(0, 0, 10, 10),
            },  # 600 m² low-rise housing
            {
                "floors": 18.0,
                "residential": True,
                "geometry": box(100, 0, 110, 10),
            },  # 1,800 m² high-rise housing
            {
                "floors": 30.0,
                "residential": False,
                "geometry": box(200, 0, 210, 10),
            },  # an office tower
            {"floors": 3.0, "residential": False, "geometry": box(1100, 0, 1110, 10)},
        ]
    )
    out = housing_heights(two_units, b, building_pieces(two_units, b))
    assert out["max_floors"].tolist() == [30.0, 3.0]
    assert out.loc["A", "housing_low_rise_pct"] == pytest.approx(600 / 2400 * 100)
    assert math.isnan(out.loc["B", "housing_low_rise_pct"])  # no housing: not assessable
