"""Tests of ditan.spatial.io.validate: geometry repair with a balanced data-quality ledger, and id checks."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from ditan.spatial.errors import DitanError, LayerError
from ditan.spatial.io.validate import (
    LINEAR,
    POLYGONAL,
    Ledger,
    clean_geometries,
    require_columns,
    require_unique_ids,
)

CRS = "EPSG:4548"
X0, Y0 = 440000.0, 4428000.0

VALID = box(X0, Y0, X0 + 100, Y0 + 100)
# a bow-tie: the ring crosses itself at (X0+50, Y0+50); make_valid gives two triangles
BOWTIE = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100), (X0, Y0)])
POINT = Point(X0 + 10, Y0 + 10)


@pytest.fixture()
def mixed() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"fid": ["valid", "bowtie", "null", "empty", "point"]},
        geometry=[VALID, BOWTIE, None, Polygon(), POINT],
        crs=CRS,
    )


def test_clean_geometries_counts_by_hand(mixed):
    assert not BOWTIE.is_valid
    ledger = Ledger()
    out = clean_geometries(mixed, layer="units", kinds=POLYGONAL, ledger=ledger)

    # kept: valid; repaired: bowtie; dropped: null + empty (null or empty) and point (wrong type)
    assert out["fid"].tolist() == ["valid", "bowtie"]
    rec = ledger.records["units"]
    assert rec.read == 5
    assert rec.kept == 1
    assert rec.repaired_total == 1
    assert rec.dropped_total == 3
    assert rec.read == rec.kept + rec.repaired_total + rec.dropped_total
    assert rec.balanced()
    assert dict(rec.repaired) == {"make_valid": 1}
    assert dict(rec.dropped) == {
        "null or empty geometry": 2,
        "wrong geometry type: Point (expected Polygon/MultiPolygon)": 1,
    }

    # the repaired bow-tie is the two triangles, 2 × (100 × 50 / 2) = 5 000 m², valid and polygonal
    fixed = out.geometry.iloc[1]
    assert fixed.is_valid
    assert fixed.geom_type == "MultiPolygon"
    assert len(fixed.geoms) == 2
    assert fixed.area == pytest.approx(5_000.0)
    assert out.geometry.iloc[0].equals(VALID)
    assert out.crs == CRS
    assert out.geometry.is_valid.all()
    # the input is not modified
    assert not mixed.geometry.iloc[1].is_valid
    assert len(mixed) == 5


def test_ledger_frame_shows_reasons(mixed):
    ledger = Ledger()
    clean_geometries(mixed, layer="units", kinds=POLYGONAL, ledger=ledger)
    frame = ledger.to_frame()
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["layer"] == "units"
    assert (row["features_read"], row["kept"], row["repaired"], row["dropped"]) == (5, 1, 1, 3)
    assert row["features_read"] == row["kept"] + row["repaired"] + row["dropped"]
    assert row["repaired_how"] == "make_valid: 1"
    assert (
        row["dropped_why"]
        == "null or empty geometry: 2; wrong geometry type: Point (expected Polygon/MultiPolygon): 1"
    )
    assert bool(row["balanced"]) is True
    assert row["outside_study_area"] == 0
    assert {
        "layer",
        "features_read",
        "kept",
        "repaired",
        "repaired_how",
        "dropped",
        "dropped_why",
        "outside_study_area",
        "balanced",
        "note",
    } <= set(frame.columns)


def test_collapsed_polygon_dropped_not_repaired():
    # a zero-area ring (all points on one line) is invalid; make_valid leaves no polygonal part
    flat = Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 20, Y0 + 20), (X0, Y0)])
    assert not flat.is_valid
    gdf = gpd.GeoDataFrame({"fid": [1, 2]}, geometry=[VALID, flat], crs=CRS)
    ledger = Ledger()
    out = clean_geometries(gdf, layer="land use", kinds=POLYGONAL, ledger=ledger)
    assert out["fid"].tolist() == [1]
    rec = ledger.records["land use"]
    assert (rec.read, rec.kept, rec.repaired_total, rec.dropped_total) == (2, 1, 0, 1)
    assert dict(rec.dropped) == {"invalid polygon with no area after make_valid": 1}
    assert rec.balanced()


def test_linear_layer_drops_polygons_and_keeps_lines():
    line = LineString([(X0, Y0), (X0 + 100, Y0)])
    gdf = gpd.GeoDataFrame(
        {"highway": ["primary", "service", "x"]}, geometry=[line, VALID, None], crs=CRS
    )
    ledger = Ledger()
    out = clean_geometries(gdf, layer="roads", kinds=LINEAR, ledger=ledger)
    assert out["highway"].tolist() == ["primary"]
    rec = ledger.records["roads"]
    assert (rec.read, rec.kept, rec.repaired_total, rec.dropped_total) == (3, 1, 0, 2)
    assert dict(rec.dropped) == {
        "null or empty geometry": 1,
        "wrong geometry type: Polygon (expected LineString/MultiLineString)": 1,
    }


def test_ledger_accumulates_over_calls_and_layers(mixed):
    ledger = Ledger()
    clean_geometries(mixed, layer="units", kinds=POLYGONAL, ledger=ledger)
    clean_geometries(mixed, layer="units", kinds=POLYGONAL, ledger=ledger)
    clean_geometries(mixed.iloc[:1], layer="buildings", kinds=POLYGONAL, ledger=ledger)
    frame = ledger.to_frame().set_index("layer")
    assert frame.loc["units", ["features_read", "kept", "repaired", "dropped"]].tolist() == [
        10,
        2,
        2,
        6,
    ]
    assert frame.loc["buildings", ["features_read", "kept", "repaired", "dropped"]].tolist() == [
        1,
        1,
        0,
        0,
    ]
    assert frame["balanced"].all()
    assert ledger.layer("units") is ledger.records["units"]


def test_clean_geometries_with_unusual_index(mixed):
    gdf = mixed.set_index(pd.Index([10, 10, 7, 3, 3]))  # duplicate labels
    ledger = Ledger()
    out = clean_geometries(gdf, layer="units", kinds=POLYGONAL, ledger=ledger)
    assert out["fid"].tolist() == ["valid", "bowtie"]
    assert shapely.is_valid(out.geometry.to_numpy()).all()
    assert ledger.records["units"].balanced()


def test_require_unique_ids_lists_duplicates():
    ids = pd.Series(["U001", "U002", "U001", "U003", "U003", "U003"])
    with pytest.raises(LayerError) as exc:
        require_unique_ids(ids, layer="units")
    msg = str(exc.value)
    assert "units" in msg
    assert "U001, U003" in msg
    assert "U002" not in msg
    assert "(2 in all)" in msg
    assert isinstance(exc.value, DitanError)


def test_require_unique_ids_passes_unique():
    require_unique_ids(pd.Series(["a", "b", "c"]), layer="units")


def test_require_columns_names_every_missing_column():
    df = pd.DataFrame({"a": [1], "b": [2]})
    with pytest.raises(LayerError, match=r"layer 'pois' lacks column\(s\) x, y; it has a, b"):
        require_columns(df, ["a", "x", "y"], layer="pois")
    require_columns(df, ["a", "b"], layer="pois")
