"""The smaller input items of issue 16, point 7: null unit ids, table rows without coordinates, geometry collections.

- a units layer with NULL, empty or blank ids is refused with one error naming the features;
- CSV / Excel rows whose x or y is empty or not a number are dropped with that reason (and examples),
  not kept as points at (NaN, NaN) that are "far from every unit";
- a GeometryCollection holding parts of the layer's kind keeps those parts, counted as repaired; one
  with none is dropped with the reason.

Layers are built as in tests/test_bad_inputs.py (1 km unit 'A' at (X0, Y0) in EPSG:4548); every
expected figure is worked out from the drawn coordinates.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.params import params_from_config
from ditan.spatial.errors import LayerError
from ditan.spatial.io.validate import LINEAR, POLYGONAL, PUNTAL, Ledger, clean_geometries
from ditan.spatial.io.vector import _points, read_vector
from tests.conftest import at, box, gdf, line, point
from tests.test_bad_inputs import UNIT, config, one_unit, quality, write

# --- null unit ids ------------------------------------------------------------------------------


def test_units_without_an_id_refused_naming_them(tmp_path):
    units = [
        {"uid": uid, "nm": nm, "geometry": box(i * 100, 0, i * 100 + 100, 100)}
        for i, (uid, nm) in enumerate([("A", "甲"), (None, "乙"), ("", "丙"), ("  ", "丁")])
    ]
    one_unit(tmp_path, units=units)
    with pytest.raises(
        LayerError,
        match=r"^layer 'units' \(units\.parquet\) has units with no id in column 'uid' 单元编号为空: "
        r"feature 2 \(乙\), feature 3 \(丙\), feature 4 \(丁\) \(3 in all\); fill in 'uid' for every unit",
    ):
        load_study_area(config(tmp_path))
    # the fix the message names works
    for i, uid in ((1, "B"), (2, "C"), (3, "D")):
        units[i]["uid"] = uid
    write(tmp_path / "units.parquet", units)
    assert load_study_area(config(tmp_path)).units.index.tolist() == ["A", "B", "C", "D"]


def test_a_null_integer_id_in_a_geopackage_is_named(tmp_path):
    one_unit(tmp_path)
    frame = gdf([{"geometry": box(0, 0, 100, 100)} for _ in range(7)])
    frame.insert(0, "code", pd.array([1, 2, 3, None, 5, None, 7], dtype="Int64"))
    frame.to_file(tmp_path / "u.gpkg")
    with pytest.raises(
        LayerError, match=r"no id in column 'code' 单元编号为空: feature 4, feature 6 \(2 in all\);"
    ):
        load_study_area(config(tmp_path, units={"path": "u.gpkg", "id_column": "code"}))


# --- table rows without usable coordinates -----------------------------------------------------


def _lonlat(x: float, y: float) -> tuple[str, str]:
    """The WGS 84 longitude and latitude of study point (x, y), as a CSV would hold them (6 decimals)."""
    p = gdf([{"geometry": point(x, y)}]).to_crs(4326).geometry.iloc[0]
    return f"{p.x:.6f}", f"{p.y:.6f}"


def test_csv_rows_with_empty_or_text_coordinates_dropped_with_the_reason(tmp_path):
    one_unit(tmp_path)
    lon, lat = _lonlat(150, 510)  # 10 m from the road
    lon2, lat2 = _lonlat(700, 510)
    lines = [
        "lon,lat,cat,name",
        f"{lon},{lat},幼儿园,近",  # row 2: kept
        f",{lat},幼儿园,无经度",  # row 3: x empty
        "不详,不详,幼儿园,不详",  # row 4: text
        f'"{lon},{lat}",,幼儿园,一格',  # row 5: x and y in one cell, y empty
        f"{lon2},{lat2},幼儿园,远",  # row 6: kept
        "N/A,N/A,幼儿园,NA",  # row 7: pandas reads N/A as empty
    ]
    (tmp_path / "pois.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pois = {
        "path": "pois.csv",
        "x_column": "lon",
        "y_column": "lat",
        "crs": "EPSG:4326",
        "category_column": "cat",
        "name_column": "name",
    }
    cfg = config(tmp_path, pois=pois)
    sa = load_study_area(cfg)
    assert sa.facilities["name"].tolist() == ["近", "远"]
    q = quality(sa).loc["life-circle facilities"]
    assert (q["features_read"], q["kept"], q["dropped"]) == (6, 2, 4)
    assert q["dropped_why"] == (
        "coordinates missing or not numbers 坐标缺失或非数字 (x_column lon, y_column lat; "
        f"row 3: empty, '{lat}'; row 4: '不详', '不详'; row 5: '{lon},{lat}', empty …); "
        "x and y in one cell? split it into two columns: 4"
    )
    # none of them reaches the computation as a point "far from every unit"
    res = compute(sa, params_from_config(cfg))
    snap = quality(sa, res).loc["walk-network snapping: facilities and stations"]
    assert snap["features_read"] == 2


def test_excel_station_rows_without_coordinates_dropped(tmp_path):
    one_unit(tmp_path)
    lon, lat = _lonlat(300, 505)
    table = pd.DataFrame(
        {
            "名称": ["甲", "乙", "丙"],
            "经度": [float(lon), None, "116.3E"],
            "纬度": [float(lat), float(lat), float(lat)],
        }
    )
    table.to_excel(tmp_path / "st.xlsx", index=False)
    stations = {
        "path": "st.xlsx",
        "x_column": "经度",
        "y_column": "纬度",
        "crs": "EPSG:4326",
        "kind": "bus_stop",
        "name_column": "名称",
    }
    sa = load_study_area(config(tmp_path, stations=stations))
    assert sa.stations["name"].tolist() == ["甲"]
    q = quality(sa).loc["stations"]
    assert (q["features_read"], q["dropped"]) == (3, 2)
    assert q["dropped_why"].startswith(
        "coordinates missing or not numbers 坐标缺失或非数字 (x_column 经度, y_column 纬度; "
        f"row 3: empty, '{float(lat)}'; row 4: '116.3E', '{float(lat)}'): 2"
    )


def test_table_reader_leaves_no_nan_points():
    """Empty, infinite and NaN coordinates: no point at all (None), never POINT (NaN NaN) or (inf 1)."""
    frame = pd.DataFrame({"x": ["1", "", "inf", "2"], "y": ["1", "1", "1", "nan"]})
    got = _points(frame, Path("t.csv"), "pois", "x", "y")
    assert got.geometry.isna().tolist() == [False, True, True, True]
    assert got.attrs["coordinates_unusable"]["count"] == 3


def test_osm_tag_table_rows_without_coordinates_dropped(tmp_path):
    """A POI table with OSM tag columns (no category_column): the same drop, counted under the facilities."""
    one_unit(tmp_path)
    lon, lat = _lonlat(150, 510)
    (tmp_path / "pois.csv").write_text(
        f"lon,lat,amenity\n{lon},{lat},kindergarten\n,,kindergarten\n", encoding="utf-8"
    )
    pois = {"path": "pois.csv", "x_column": "lon", "y_column": "lat", "crs": "EPSG:4326"}
    sa = load_study_area(config(tmp_path, pois=pois))
    assert sa.facilities["category"].tolist() == ["kindergarten"]
    q = quality(sa).loc["life-circle facilities"]
    assert (q["features_read"], q["kept"], q["dropped"]) == (2, 1, 1)
    assert q["dropped_why"] == (
        "coordinates missing or not numbers 坐标缺失或非数字 (x_column lon, y_column lat; "
        "row 3: empty, empty): 1"
    )


# --- geometry collections -----------------------------------------------------------------------


def test_collections_keep_their_parts_of_the_layers_kind(tmp_path):
    units = [{"uid": "A", "nm": "甲", "geometry": shapely.GeometryCollection([UNIT, point(5, 5)])}]
    roads = [
        {"hw": "residential", "geometry": line((0, 500), (1000, 500))},
        {
            "hw": "residential",
            "geometry": shapely.GeometryCollection([line((0, 300), (1000, 300)), point(1, 1)]),
        },
    ]
    one_unit(tmp_path, roads=roads, units=units)
    overlapping = shapely.GeometryCollection([box(100, 100, 140, 150), box(120, 100, 160, 150)])
    no_polygon = shapely.GeometryCollection([line((0, 0), (10, 0)), point(3, 3)])
    write(
        tmp_path / "b.parquet",
        [
            {"use": "yes", "fl": 2.0, "h": np.nan, "geometry": g}
            for g in (box(0, 0, 10, 10), overlapping, no_polygon)
        ],
    )
    cfg = config(tmp_path)
    sa = load_study_area(cfg)
    q = quality(sa)
    assert q.loc["units", "repaired_how"] == "geometry collection: polygon parts kept: 1"
    assert q.loc["roads", "repaired_how"] == "geometry collection: line parts kept: 1"
    b = q.loc["buildings"]
    assert (b["features_read"], b["kept"], b["repaired"], b["dropped"]) == (3, 1, 1, 1)
    assert b["repaired_how"] == "geometry collection: polygon parts kept: 1"
    assert b["dropped_why"] == "geometry collection with no Polygon/MultiPolygon part: 1"
    assert sa.units.geometry.area.iloc[0] == pytest.approx(1e6)
    # the two overlapping wings merged: 60 × 50 m, not 2 × 40 × 50 counted twice
    assert sorted(sa.buildings.geometry.area) == pytest.approx([100.0, 3000.0])
    t = compute(sa, params_from_config(cfg)).indicators.loc["A"]
    assert t["road_length_km"] == pytest.approx(2.0)  # both 1 km roads across the unit
    assert t["floor_area_m2"] == pytest.approx((100 + 3000) * 2)


def test_a_geojson_geometry_collection_unit(tmp_path):
    """As GDAL reads it from a GeoJSON file (a layer of mixed type, 'Unknown' geometry)."""
    one_unit(tmp_path)
    corners = gpd.GeoSeries(
        [shapely.Point(at(x, y)) for x, y in ((0, 0), (1000, 0), (1000, 1000), (0, 1000))],
        crs="EPSG:4548",
    ).to_crs(4326)
    ring = [[p.x, p.y] for p in corners] + [[corners.iloc[0].x, corners.iloc[0].y]]
    feature = {
        "type": "Feature",
        "properties": {"uid": "A", "nm": "甲"},
        "geometry": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Point", "coordinates": ring[0]},
                {"type": "Polygon", "coordinates": [ring]},
            ],
        },
    }
    (tmp_path / "u.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8"
    )
    sa = load_study_area(
        config(tmp_path, units={"path": "u.geojson", "id_column": "uid", "name_column": "nm"})
    )
    assert sa.units.geometry.area.iloc[0] == pytest.approx(1e6, rel=1e-4)
    assert quality(sa).loc["units", "repaired"] == 1


@pytest.mark.parametrize(
    ("kinds", "geometry", "want"),
    [
        # nested: a collection inside a collection, a multi-polygon inside: every polygon found
        (
            POLYGONAL,
            shapely.GeometryCollection(
                [
                    shapely.GeometryCollection([box(0, 0, 10, 10)]),
                    shapely.MultiPolygon([box(20, 0, 30, 10), box(40, 0, 50, 10)]),
                ]
            ),
            ("MultiPolygon", 300.0),
        ),
        (PUNTAL, shapely.GeometryCollection([point(1, 1), line((0, 0), (5, 0))]), ("Point", 0.0)),
        (
            PUNTAL,
            shapely.GeometryCollection([point(1, 1), shapely.MultiPoint([point(2, 2)])]),
            ("MultiPoint", 0.0),
        ),
        (
            LINEAR,
            shapely.GeometryCollection([line((0, 0), (3, 4)), line((10, 0), (10, 5))]),
            ("MultiLineString", 10.0),  # lengths 5 + 5
        ),
    ],
)
def test_collection_parts_by_kind(kinds, geometry, want):
    ledger = Ledger()
    out = clean_geometries(gdf([{"geometry": geometry}]), layer="x", kinds=kinds, ledger=ledger)
    g = out.geometry.iloc[0]
    assert g.geom_type == want[0]
    measure = g.area if kinds == POLYGONAL else g.length
    assert measure == pytest.approx(want[1])
    rec = ledger.layer("x")
    assert (rec.read, rec.kept, rec.repaired_total, rec.dropped_total) == (1, 0, 1, 0)


def test_make_valid_still_counted_as_before():
    """An invalid bow-tie (not a collection) is still 'make_valid'; an empty collection is a null geometry."""
    bowtie = shapely.Polygon([at(0, 0), at(100, 100), at(100, 0), at(0, 100), at(0, 0)])
    ledger = Ledger()
    frame = gpd.GeoDataFrame(geometry=[bowtie, shapely.GeometryCollection()], crs="EPSG:4548")
    out = clean_geometries(frame, layer="b", kinds=POLYGONAL, ledger=ledger)
    rec = ledger.layer("b")
    assert dict(rec.repaired) == {"make_valid": 1}
    assert dict(rec.dropped) == {"null or empty geometry": 1}
    assert out.geometry.area.tolist() == pytest.approx([5000.0])


def test_reader_keeps_text_coordinate_rows_for_the_ledger(tmp_path):
    """read_vector itself: the rows are still there (with no point), so the ledger can count them."""
    (tmp_path / "t.csv").write_text("x,y\n116.3,39.9\nabc,39.9\n", encoding="utf-8")
    got = read_vector(
        tmp_path / "t.csv", layer_name="pois", x_column="x", y_column="y", crs="EPSG:4326"
    )
    assert len(got) == 2 and got.geometry.isna().tolist() == [False, True]
    assert got.attrs["coordinates_unusable"]["reason"].startswith(
        "coordinates missing or not numbers 坐标缺失或非数字 (x_column x, y_column y; row 3: 'abc', '39.9')"
    )
