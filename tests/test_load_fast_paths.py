"""The loading stage's fast paths (issue 17), each against a plain implementation of what it replaced.

- floors and heights of a numeric column are read as numbers, not through their text;
- station names are normalised once per distinct name;
- a caller's validity mask spares clean_geometries a second ``is_valid`` over a city's polygons;
- features outside every unit are counted with the units as the queries for lines and polygons.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from ditan.pipelines.assemble.load import _count_outside
from ditan.spatial.indicators.intensity import _first_number
from ditan.spatial.io.validate import POLYGONAL, Ledger, clean_geometries
from ditan.spatial.study_area.stations import _WHAT_BRACKET, _WHAT_SUFFIX, station_name_key

GK = "EPSG:4548"


def _first_number_of_text(raw: pd.Series) -> np.ndarray:
    """The plain reading: the first decimal in each value's text."""
    text = raw.astype("string").str.extract(r"(-?\d+(?:\.\d+)?)", expand=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


@pytest.mark.parametrize(
    "raw",
    [
        pd.Series([12.0, 3.5, np.nan, -2.0, 0.30000000000000004, 123456789.123]),
        # written in scientific notation as text: the text's first number (1 of '1e+16') is kept
        pd.Series([1e16, 2.5e17, 1e-5, -3e-7, 1e-4, 9.99e15, np.inf, -np.inf, 0.0]),
        pd.Series([3, 18, 10**17], dtype="int64"),
        pd.Series([3, None, 7], dtype="Int64"),
        pd.Series([2.1, 7.7], dtype="float32"),  # read as text: '2.1', not 2.0999999
        pd.Series([True, False]),
        pd.Series(["12层", "3.5m", None, "高"]),
    ],
)
def test_first_number_as_its_text_says(raw):
    np.testing.assert_array_equal(_first_number(raw).to_numpy(), _first_number_of_text(raw))


def test_first_number_by_hand():
    got = _first_number(pd.Series([12.0, 1e16, np.inf, 7], dtype=object)).tolist()
    assert got[0] == 12.0 and got[1] == 1.0 and np.isnan(got[2]) and got[3] == 7.0


def _name_key_plain(names) -> list:
    s = pd.Series(np.asarray(names, dtype=object)).astype("string").fillna("")
    s = s.str.normalize("NFKC").str.replace(r"\s+", "", regex=True).str.lower()
    for _ in range(3):
        s = s.str.replace(_WHAT_BRACKET, "", regex=True)
    return s.str.replace(_WHAT_SUFFIX, "", regex=True).fillna("").tolist()


@pytest.mark.parametrize(
    "names",
    [
        ["西直门站", "西直门 (地铁4号线)", None, "西直门(地铁站)", "西直门站", "Ｌｉｎｅ ４", ""],
        [None, None, np.nan],
        ["a", 5, 5.0, None],  # numbers: 5 and 5.0 are two names ('5', '5.0')
        [],
    ],
)
def test_station_name_key_once_per_distinct_name(names):
    assert list(station_name_key(names)) == _name_key_plain(names)


def test_clean_geometries_with_the_callers_validity():
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # invalid: make_valid repairs it
    parts = shapely.GeometryCollection([box(20, 0, 30, 10), LineString([(0, 0), (1, 1)])])
    gdf = gpd.GeoDataFrame(
        {"id": range(5)}, geometry=[box(0, 0, 5, 5), bowtie, None, parts, box(40, 0, 45, 5)], crs=GK
    )
    a, b = Ledger(), Ledger()
    plain = clean_geometries(gdf, layer="x", kinds=POLYGONAL, ledger=a)
    given = clean_geometries(
        gdf, layer="x", kinds=POLYGONAL, ledger=b, valid=shapely.is_valid(gdf.geometry.values)
    )
    assert given["id"].tolist() == plain["id"].tolist() == [0, 1, 3, 4]
    assert shapely.equals_exact(given.geometry.values, plain.geometry.values, 0).all()
    assert a.to_frame().equals(b.to_frame())
    assert a.layer("x").repaired["make_valid"] == 1


def test_count_outside_as_plain_intersects():
    units = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100), box(200, 0, 300, 100)], crs=GK)
    roads = gpd.GeoDataFrame(
        geometry=[
            LineString([(-50, 50), (50, 50)]),  # crosses into unit 0
            LineString([(120, 0), (180, 100)]),  # between the units
            LineString([(100, 0), (100, 100)]),  # on unit 0's edge: touches, counts as in
            LineString([(150, -50), (150, 150), (250, 150)]),  # around, never in
        ],
        crs=GK,
    )
    parcels = gpd.GeoDataFrame(
        geometry=[box(10, 10, 20, 20), box(110, 10, 190, 90), box(290, 90, 310, 110)], crs=GK
    )
    stations = gpd.GeoDataFrame(
        geometry=[Point(50, 50), Point(50, 50), Point(150, 50), Point(300, 100)], crs=GK
    )
    ledger = Ledger()
    for name in ("roads", "parcels", "stations"):
        ledger.layer(name)
    _count_outside(ledger, units, {"roads": roads, "parcels": parcels, "stations": stations})
    u = shapely.union_all(units.geometry.values)
    for name, gdf in (("roads", roads), ("parcels", parcels)):
        want = int((~shapely.intersects(gdf.geometry.values, u)).sum())
        assert ledger.layer(name).outside_study_area == want
    assert ledger.layer("roads").outside_study_area == 2
    assert ledger.layer("parcels").outside_study_area == 1
    assert ledger.layer("stations").outside_study_area == 1  # the repeated point counts once
