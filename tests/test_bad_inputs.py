"""The bad-input matrix: every kind of broken input ends in a clear error or a counted repair.

An error names the layer, the features (first few and the count) and the fix. A repair shows in
the data-quality ledger, where features read = kept + repaired + dropped for every layer. Each
case builds tiny layers in ``tmp_path`` (coordinates relative to (X0, Y0) in EPSG:4548, see
conftest) and goes through parse_config → load_study_area → compute where that makes sense.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import parse_config
from ditan.spatial.errors import ConfigError, CRSError, LayerError
from ditan.spatial.indicators.roads import road_density
from tests.conftest import ROOT, X0, Y0, at, box, gdf, line, point

UNIT = box(0, 0, 1000, 1000)  # 1 km²
XSS = "<img src=x onerror=alert(1)>"


def write(path, rows, crs="EPSG:4548"):
    """Write rows (dicts with a geometry) to a .parquet or .gpkg file in ``crs``; return the file name."""
    frame = gdf(rows)
    frame = frame if crs == "EPSG:4548" else frame.to_crs(crs)
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_file(path)
    return path.name


def config(d, extra: dict | None = None, **inputs):
    """A config of the layers in ``d``: units.parquet (id uid, name nm), roads.parquet (class hw), b.parquet unless given."""
    inputs = {
        "units": {"path": "units.parquet", "id_column": "uid", "name_column": "nm"},
        "roads": {"path": "roads.parquet", "class_column": "hw"},
        "buildings": buildings_src(),
    } | inputs
    return parse_config(
        {"name": "bad", "inputs": {k: v for k, v in inputs.items() if v}, **(extra or {})},
        base_dir=d,
    )


def one_unit(d, roads=None, units=None):
    """One 1 km unit 'A', unless given one residential road across it at y = 500, and no buildings."""
    write(d / "units.parquet", units or [{"uid": "A", "nm": "甲", "geometry": UNIT}])
    write(
        d / "roads.parquet",
        roads or [{"hw": "residential", "geometry": line((0, 500), (1000, 500))}],
    )
    gpd.GeoDataFrame(
        {
            "use": pd.Series([], dtype=str),
            "fl": pd.Series([], dtype=float),
            "h": pd.Series([], dtype=float),
        },
        geometry=[],
        crs="EPSG:4548",
    ).to_parquet(d / "b.parquet")


def buildings_src(**kw):
    return {
        "path": "b.parquet",
        "type_column": "use",
        "floors_column": "fl",
        "height_column": "h",
    } | kw


def quality(sa, res=None) -> pd.DataFrame:
    """data_quality.csv of the study area (with ``res``, a computation's rows merged in, as a run writes it)."""
    q = (sa.ledger if res is None else sa.ledger.merged(res.ledger)).to_frame().set_index("layer")
    assert (q["features_read"] == q["kept"] + q["repaired"] + q["dropped"]).all(), q
    assert q["balanced"].all()
    return q


# 1 ───────────────────────────────────────────────────────────────────────────────── missing CRS
def test_missing_crs_names_layer_and_fix(tmp_path):
    one_unit(tmp_path)
    gpd.GeoDataFrame(
        {"use": ["yes"], "fl": [3.0], "h": [np.nan]}, geometry=[box(0, 0, 10, 10)]
    ).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(
        CRSError,
        match=r"layer 'buildings' \(b\.parquet\) has no coordinate system; declare it in the config: crs: EPSG",
    ):
        load_study_area(config(tmp_path, buildings=buildings_src()))
    # the fix the message names works
    sa = load_study_area(config(tmp_path, buildings=buildings_src(crs="EPSG:4548")))
    assert len(sa.buildings) == 1
    # a shapefile without its .prj
    write(tmp_path / "r.shp", [{"hw": "residential", "geometry": line((0, 500), (1000, 500))}])
    (tmp_path / "r.prj").unlink()
    with pytest.raises(
        CRSError,
        match=r"layer 'roads' \(r\.shp\) has no coordinate system; declare it in the config: crs:",
    ):
        load_study_area(config(tmp_path, roads={"path": "r.shp", "class_column": "hw"}))
    # a GeoDataFrame without a CRS handed to a metric function
    units = gpd.GeoDataFrame(
        {"name": ["A"]}, geometry=[UNIT], index=pd.Index(["A"], name="unit_id")
    )
    with pytest.raises(
        CRSError,
        match=r"layer 'units' has no coordinate system; declare it in the config \(e\.g\. crs: EPSG:4326\)",
    ):
        road_density(units, gdf([{"highway": "primary", "geometry": line((0, 1), (5, 1))}]))


# 2 ───────────────────────────────────────────────────────────────────── geographic CRS to metric
def test_geographic_crs_in_a_metric_function(two_units):
    roads = gdf([{"highway": "primary", "geometry": line((0, 500), (2000, 500))}])
    with pytest.raises(
        CRSError,
        match=r"layer 'units' is in a geographic CRS \(WGS 84, degrees\); reproject it with ditan\.spatial\.crs\.metric\.to_metric\(\)",
    ):
        road_density(two_units.to_crs(4326), roads)
    with pytest.raises(CRSError, match=r"layer 'roads' is in a geographic CRS .*to_metric"):
        road_density(two_units, roads.to_crs(4326))


# 3 ──────────────────────────────────────────────────────────────────────── layers in three CRSs
def test_layers_in_different_crs_are_reprojected_and_noted(tmp_path):
    write(tmp_path / "units.parquet", [{"uid": "A", "nm": "甲", "geometry": UNIT}], crs="EPSG:4326")
    write(
        tmp_path / "roads.parquet",
        [
            {"hw": "residential", "geometry": line((0, 500), (1000, 500))},
            {"hw": "primary", "geometry": line((500, -100), (500, 1100))},
        ],
    )
    write(
        tmp_path / "b.parquet",
        [{"use": "apartments", "fl": 5.0, "h": np.nan, "geometry": box(100, 100, 140, 150)}],
        crs="EPSG:32650",
    )
    cfg = config(tmp_path)
    sa = load_study_area(cfg)
    assert sa.crs.to_epsg() == 4548
    q = quality(sa)
    assert q.loc["units", "note"] == "reprojected from EPSG:4326 to EPSG:4548"
    assert q.loc["buildings", "note"] == "reprojected from EPSG:32650 to EPSG:4548"
    assert q.loc["roads", "note"] == ""  # already in the study CRS
    t = compute(sa, params_from_config(cfg)).indicators.loc["A"]
    assert t["road_length_km"] == pytest.approx(
        2.0, rel=1e-6
    )  # 1000 m of each road inside the unit
    assert t["road_density_arterial_km_per_km2"] == pytest.approx(1.0, rel=1e-6)
    assert t["footprint_area_m2"] == pytest.approx(
        2000.0, rel=1e-6
    )  # 40 × 50 m, through UTM 50N and back
    assert t["floor_area_m2"] == pytest.approx(10_000.0, rel=1e-6)  # × 5 floors
    assert t["far_ratio"] == pytest.approx(0.01, rel=1e-6)


# 4 ──────────────────────────────────────────────────────────────────────────── invalid polygons
BOWTIE = shapely.Polygon(
    [at(0, 0), at(100, 100), at(100, 0), at(0, 100), at(0, 0)]
)  # two triangles, 5 000 m²
SELF_TOUCH = shapely.Polygon(
    [at(200, 0), at(300, 0), at(250, 50), at(300, 100), at(200, 100), at(250, 50), at(200, 0)]
)  # 5 000 m²
DUPLICATE_POINTS = shapely.Polygon(
    [at(400, 0), at(500, 0), at(500, 0), at(500, 100), at(400, 100), at(400, 100), at(400, 0)]
)


def test_invalid_polygons_repaired_and_counted(tmp_path):
    assert (
        not BOWTIE.is_valid and not SELF_TOUCH.is_valid and DUPLICATE_POINTS.is_valid
    )  # repeated vertices are valid
    one_unit(tmp_path)
    write(
        tmp_path / "b.parquet",
        [
            {"use": "yes", "fl": 2.0, "h": np.nan, "geometry": g}
            for g in (BOWTIE, SELF_TOUCH, DUPLICATE_POINTS)
        ],
    )
    cfg = config(tmp_path)
    sa = load_study_area(cfg)
    q = quality(sa).loc["buildings"]
    assert (q["features_read"], q["kept"], q["repaired"], q["dropped"]) == (3, 1, 2, 0)
    assert q["repaired_how"] == "make_valid: 2"
    assert sa.buildings.geometry.is_valid.all()
    assert sa.buildings.geometry.area.tolist() == pytest.approx([5000.0, 5000.0, 10_000.0])
    t = compute(sa, params_from_config(cfg)).indicators.loc["A"]
    assert t["floor_area_m2"] == pytest.approx((5000 + 5000 + 10_000) * 2)


def _unclosed_ring_geojson(d):
    corners = gpd.GeoSeries(
        [shapely.Point(at(x, y)) for x, y in ((100, 100), (150, 100), (150, 140), (100, 140))],
        crs="EPSG:4548",
    ).to_crs(4326)
    ring = [[p.x, p.y] for p in corners]  # four corners, the first not repeated at the end
    feature = {
        "type": "Feature",
        "properties": {"use": "yes", "fl": 2},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    (d / "b.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))


@pytest.mark.filterwarnings("ignore:Non closed ring detected:RuntimeWarning")
def test_unclosed_ring_closed_and_counted(tmp_path):
    one_unit(tmp_path)
    _unclosed_ring_geojson(tmp_path)
    sa = load_study_area(
        config(
            tmp_path, buildings={"path": "b.geojson", "type_column": "use", "floors_column": "fl"}
        )
    )
    q = quality(sa).loc["buildings"]
    assert (q["features_read"], q["kept"], q["repaired"]) == (1, 0, 1)
    assert q["repaired_how"] == "unclosed ring closed: 1"
    assert sa.buildings.geometry.area.iloc[0] == pytest.approx(2000.0, rel=1e-4)


# 5 ─────────────────────────────────────────────────────────────────────── null and empty geometries
def test_null_and_empty_geometries_dropped_and_counted(tmp_path):
    one_unit(
        tmp_path,
        roads=[
            {"hw": "residential", "geometry": line((0, 500), (1000, 500))},
            {"hw": "residential", "geometry": None},
            {"hw": "primary", "geometry": shapely.LineString()},
        ],
    )
    write(
        tmp_path / "b.parquet",
        [
            {"use": "yes", "fl": 2.0, "h": np.nan, "geometry": g}
            for g in (box(0, 0, 10, 10), None, shapely.Polygon())
        ],
    )
    cfg = config(tmp_path)
    sa = load_study_area(cfg)
    q = quality(sa)
    for layer in ("roads", "buildings"):
        assert q.loc[layer, ["features_read", "kept", "dropped"]].tolist() == [3, 1, 2]
        assert q.loc[layer, "dropped_why"] == "null or empty geometry: 2"
    t = compute(sa, params_from_config(cfg)).indicators.loc["A"]
    assert t["road_length_km"] == pytest.approx(1.0) and t["floor_area_m2"] == pytest.approx(200.0)


# 6 ──────────────────────────────────────────────────────────────────────────── wrong geometry types
def test_wrong_geometry_types_dropped_with_reason(tmp_path):
    one_unit(
        tmp_path,
        roads=[
            {"hw": "residential", "geometry": line((0, 500), (1000, 500))},
            {"hw": "residential", "geometry": box(0, 0, 100, 100)},
        ],
    )
    write(
        tmp_path / "b.parquet",
        [
            {"use": "yes", "fl": 2.0, "h": np.nan, "geometry": box(0, 0, 10, 10)},
            {"use": "yes", "fl": 2.0, "h": np.nan, "geometry": point(50, 50)},
            {"use": "yes", "fl": 2.0, "h": np.nan, "geometry": line((0, 0), (10, 0))},
        ],
    )
    cfg = config(tmp_path)
    sa = load_study_area(cfg)
    q = quality(sa)
    assert (
        q.loc["roads", "dropped_why"]
        == "wrong geometry type: Polygon (expected LineString/MultiLineString): 1"
    )
    assert q.loc["buildings", "dropped_why"] == (
        "wrong geometry type: LineString (expected Polygon/MultiPolygon): 1; "
        "wrong geometry type: Point (expected Polygon/MultiPolygon): 1"
    )
    assert q.loc["buildings", ["features_read", "kept", "dropped"]].tolist() == [3, 1, 2]
    t = compute(sa, params_from_config(cfg)).indicators.loc["A"]
    assert t["road_length_km"] == pytest.approx(1.0) and t["floor_area_m2"] == pytest.approx(200.0)


# 7 ──────────────────────────────────────────────────────────────────────────────── multipart
def test_multipart_features_kept_and_measured(tmp_path):
    # one road drawn as two pieces of 400 m each on y = 300; the building as two 20 × 50 m wings
    road = shapely.MultiLineString([line((0, 300), (400, 300)), line((600, 300), (1000, 300))])
    one_unit(
        tmp_path,
        roads=[
            {"hw": "residential", "geometry": road},
            {"hw": "secondary", "geometry": line((500, 0), (500, 1000))},
        ],
    )
    wings = shapely.MultiPolygon([box(100, 100, 120, 150), box(200, 100, 220, 150)])
    write(tmp_path / "b.parquet", [{"use": "office", "fl": 3.0, "h": np.nan, "geometry": wings}])
    cfg = config(tmp_path)
    sa = load_study_area(cfg)
    q = quality(sa)
    assert q.loc["roads", "kept"] == 2 and q.loc["buildings", "kept"] == 1
    t = compute(sa, params_from_config(cfg)).indicators.loc["A"]
    assert t["road_length_km"] == pytest.approx(0.8 + 1.0)
    assert t["road_density_local_km_per_km2"] == pytest.approx(0.8)
    assert t["road_density_collector_km_per_km2"] == pytest.approx(1.0)
    assert t["footprint_area_m2"] == pytest.approx(2000.0)
    assert t["floor_area_m2"] == pytest.approx(6000.0)
    assert t["building_density_pct"] == pytest.approx(0.2)


# 8 ──────────────────────────────────────────────────────────────────────────────── duplicate ids
def test_duplicate_unit_ids_listed(tmp_path):
    units = [
        {"uid": u, "nm": u, "geometry": box(i * 100, 0, i * 100 + 100, 100)}
        for i, u in enumerate("ABACCDEEFFGGHH")
    ]
    one_unit(tmp_path, units=units)
    with pytest.raises(
        LayerError,
        match=r"layer 'units' has duplicate ids: A, C, E, F, G … \(6 in all\); give every feature its own id",
    ):
        load_study_area(config(tmp_path))


# 9 ───────────────────────────────────────────────────────────────────────────── overlapping units
def test_overlapping_units_flagged_and_measured_per_unit(tmp_path):
    units = [
        {"uid": "A", "nm": "A", "geometry": box(0, 0, 1000, 1000)},
        {"uid": "B", "nm": "B", "geometry": box(500, 0, 1500, 1000)},  # overlaps A on 500 × 1000 m
        {"uid": "C", "nm": "C", "geometry": box(1500, 0, 2500, 1000)},  # touches B: not an overlap
        {"uid": "D", "nm": "D", "geometry": box(2499.9995, 0, 3500, 1000)},
    ]  # overlaps C on 0.5 m²: noise, not flagged
    one_unit(
        tmp_path,
        units=units,
        roads=[{"hw": "residential", "geometry": line((0, 500), (2500, 500))}],
    )
    write(
        tmp_path / "b.parquet",
        [{"use": "yes", "fl": 2.0, "h": np.nan, "geometry": box(600, 100, 700, 200)}],
    )  # in the overlap
    cfg = config(tmp_path)
    sa = load_study_area(cfg)
    q = quality(sa).loc["units"]
    assert q["flagged"] == 2
    assert q["flagged_why"] == (
        "overlapping units, kept as drawn: A/B 500,000 m² (1 in all); each unit is measured over its whole area: buildings, "
        "land, roads and points in an overlap count in full to each unit: 2"
    )
    assert q["kept"] == 4  # flagged units are kept, not merged
    t = compute(sa, params_from_config(cfg)).indicators
    assert t["area_km2"].tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0])
    # the building in the overlap counts in full to both A and B; C and D lie beyond the buildings layer's data (its one
    # building's hull + 200 m reaches x = 900): not measured, NaN — not 0
    assert (
        t["floor_area_m2"].tolist()[:2] == pytest.approx([20_000.0, 20_000.0])
        and t["floor_area_m2"].iloc[2:].isna().all()
    )
    # the 500 m of road inside the overlap counts in full to both: each unit is measured as if alone; the shared
    # edge of B and C (x = 1500) is crossed, not followed, so nothing is split; D overlaps C by 0.5 mm only
    assert t["road_length_km"].tolist() == pytest.approx([1.0, 1.0, 1.0, 0.0], abs=1e-6)


# 10 ──────────────────────────────────────────────────────────────────────────────── empty layers
def test_empty_buildings_layer_is_no_data_not_zero_intensity(tmp_path):
    one_unit(tmp_path)
    cfg = config(
        tmp_path
    )  # one_unit wrote a buildings layer with 0 features: a placeholder, not evidence of none
    sa = load_study_area(cfg)
    assert quality(sa).loc["buildings", ["features_read", "kept"]].tolist() == [0, 0]
    assert (
        sa.absent["buildings"].startswith("inputs.buildings")
        and "has no features" in sa.absent["buildings"]
    )
    res = compute(sa, params_from_config(cfg))
    t = res.indicators.loc["A"]
    assert (
        np.isnan(t["floor_area_m2"])
        and np.isnan(t["far_ratio"])
        and np.isnan(t["building_density_pct"])
    )
    assert t["far_source"] == "none"
    why = res.reasons.set_index(["unit_id", "column"]).loc[("A", "far_ratio")]
    assert why["reason"] == "no_layer" and why["data_gap"]
    assert "data gap: layer buildings" in set(quality(sa, res).index)


def test_empty_units_layer_is_an_error(tmp_path):
    one_unit(tmp_path)
    gpd.GeoDataFrame(
        {"uid": pd.Series([], dtype=str), "nm": pd.Series([], dtype=str)},
        geometry=[],
        crs="EPSG:4548",
    ).to_parquet(tmp_path / "units.parquet")
    with pytest.raises(
        LayerError,
        match=r"layer 'units' \(units\.parquet\) has no features; check the boundary file",
    ):
        load_study_area(config(tmp_path))
    write(tmp_path / "units.parquet", [{"uid": "A", "nm": "A", "geometry": None}])
    with pytest.raises(
        LayerError,
        match=r"layer 'units' \(units\.parquet\) has no usable polygon among its 1 features",
    ):
        load_study_area(config(tmp_path))


# 11 ──────────────────────────────────────────────────────────────────────── layers far from the units
def test_buildings_far_away_counted_outside_with_a_warning(tmp_path, caplog):
    one_unit(tmp_path)
    write(
        tmp_path / "b.parquet",
        [
            {"use": "yes", "fl": 2.0, "h": np.nan, "geometry": box(50_000, 50_000, 50_010, 50_010)},
            {"use": "yes", "fl": 2.0, "h": np.nan, "geometry": box(50_100, 50_000, 50_110, 50_010)},
        ],
    )
    cfg = config(tmp_path)
    with caplog.at_level(logging.WARNING, logger="ditan.pipelines.assemble.load"):
        sa = load_study_area(cfg)
    assert (
        "layer 'buildings': none of its 2 features lies in a unit; check its CRS and extent"
        in caplog.text
    )
    q = quality(sa)
    assert q.loc["buildings", "outside_study_area"] == 2 and q.loc["buildings", "kept"] == 2
    assert q.loc["buildings", "note"].startswith(
        "WARNING: none of the 2 features lies in a unit; check the layer's CRS and extent"
    )
    # beyond the reach of every indicator (longest distance 1,000 m + snapping 2 × 100 m + buffer 25 m + 50 m): set aside, and said so
    assert q.loc["buildings", "note"].endswith(
        "2 features farther than 1,275 m from every unit set aside (they cannot change any indicator)"
    )
    assert len(sa.buildings) == 0
    assert q.loc["roads", "outside_study_area"] == 0 and "WARNING" not in q.loc["roads", "note"]
    t = compute(sa, params_from_config(cfg)).indicators.loc["A"]
    assert t["floor_area_m2"] == 0.0 and t["far_ratio"] == 0.0 and t["building_density_pct"] == 0.0
    assert np.isnan(t["floor_area_estimated_pct"])


# 12 ───────────────────────────────────────────────────────────────────────────── unknown land-use codes
def test_unknown_landuse_codes_flagged_per_code(tmp_path):
    one_unit(tmp_path)
    write(
        tmp_path / "p.parquet",
        [
            {"dm": "0701", "geometry": box(0, 0, 500, 500)},
            {"dm": "XYZ", "geometry": box(500, 0, 600, 100)},
            {"dm": "XYZ", "geometry": box(600, 0, 700, 100)},
            {"dm": "9999", "geometry": box(700, 0, 750, 100)},
        ],
    )
    cfg = config(
        tmp_path, parcels={"path": "p.parquet", "code_column": "dm", "code_system": "gb2023"}
    )
    sa = load_study_area(cfg)
    q = quality(sa).loc["land-use parcels"]
    assert q["flagged_why"] == (
        "unknown 用地用海分类指南 (2023) code '9999' (1 parcels, 5,000 m²; counted as land without a class): 1; "
        "unknown 用地用海分类指南 (2023) code 'XYZ' (2 parcels, 20,000 m²; counted as land without a class): 2"
    )
    assert q["kept"] == 4 and q["flagged"] == 3
    assert q["note"] == "land-use codes read as 用地用海分类指南 (2023)"
    t = compute(sa, params_from_config(cfg)).indicators.loc["A"]
    assert t["lu_residential_pct"] == pytest.approx(25.0)


# 13 ─────────────────────────────────────────────────────────────────────── implausible floors/heights
def test_implausible_floors_and_heights_ignored_and_counted(tmp_path):
    one_unit(tmp_path)
    rows = [
        ("residential", -3, None, "default", 6),  # negative floors → residential default
        ("yes", 0, 30, "height", 10),  # 0 floors → 30 m ÷ 3 m
        ("yes", 500, None, "default", 3),  # absurd floors → _other default
        ("office", None, -10, "default", 8),  # negative height → office default
        ("yes", None, 0, "default", 3),  # zero height
        ("yes", None, 2000, "default", 3),  # absurd height
        ("yes", 500, 2000, "default", 3),  # both absurd: counted once
        ("yes", 4, None, "levels", 4),  # plausible
        ("yes", None, 13, "height", 4),
    ]  # plausible
    b = [
        {"use": u, "fl": fl, "h": h, "geometry": box(i * 50, 0, i * 50 + 10, 10)}
        for i, (u, fl, h, _, _) in enumerate(rows)
    ]
    b.append(
        {"use": "yes", "fl": -3.0, "h": None, "geometry": BOWTIE}
    )  # repaired geometry and implausible floors: counted once
    write(tmp_path / "b.parquet", b)
    cfg = config(tmp_path)
    sa = load_study_area(cfg)
    assert sa.buildings["floors_source"].tolist()[:-1] == [r[3] for r in rows]
    assert sa.buildings["floors"].tolist() == [r[4] for r in rows] + [3]
    assert (sa.buildings["floors"] >= 1).all() and (sa.buildings["floors"] <= 150).all()
    q = quality(sa).loc["buildings"]
    assert (q["features_read"], q["kept"], q["repaired"], q["dropped"]) == (10, 2, 8, 0)
    assert (
        q["repaired_how"]
        == "implausible floors/height ignored: 7; make_valid + implausible floors/height ignored: 1"
    )


# 14 ───────────────────────────────────────────────────────────────────── facilities beyond snapping
def test_facilities_beyond_snapping_distance_counted(tmp_path):
    one_unit(tmp_path)
    write(
        tmp_path / "b.parquet",
        [{"use": "apartments", "fl": 6.0, "h": np.nan, "geometry": box(100, 520, 120, 540)}],
    )
    write(
        tmp_path / "pois.parquet",
        [
            {"cat": "kindergarten", "nm": "近", "geometry": point(150, 510)},  # 10 m from the road
            {"cat": "kindergarten", "nm": "远", "geometry": point(150, 800)},
        ],
    )  # 300 m: beyond 100 m
    cfg = config(
        tmp_path, pois={"path": "pois.parquet", "category_column": "cat", "name_column": "nm"}
    )
    sa = load_study_area(cfg)
    res = compute(sa, params_from_config(cfg))
    q = quality(sa, res).loc["walk-network snapping: facilities and stations"]
    assert (q["features_read"], q["kept"], q["dropped"]) == (2, 1, 1)
    assert (
        q["dropped_why"]
        == "more than 100 m from the walk network (not used for network distances): 1"
    )
    assert res.stats["targets_not_snapped"] == 1
    assert res.indicators.loc["A", "lc_kindergarten_pct"] == pytest.approx(
        100.0
    )  # the near one serves the block


# 15 ────────────────────────────────────────────────────────────────────── disconnected walk network
def test_disconnected_walk_network(tmp_path):
    # two parallel streets 100 m apart and never joined; a kindergarten only on the northern one
    one_unit(
        tmp_path,
        roads=[
            {"hw": "residential", "geometry": line((0, 400), (1000, 400))},
            {"hw": "residential", "geometry": line((0, 500), (1000, 500))},
        ],
    )
    write(
        tmp_path / "b.parquet",
        [
            {
                "use": "apartments",
                "fl": 6.0,
                "h": np.nan,
                "geometry": box(100, 405, 120, 425),
            },  # south street
            {"use": "apartments", "fl": 6.0, "h": np.nan, "geometry": box(100, 475, 120, 495)},
        ],
    )  # north
    write(tmp_path / "pois.parquet", [{"cat": "kindergarten", "geometry": point(150, 505)}])
    cfg = config(tmp_path, pois={"path": "pois.parquet", "category_column": "cat"})
    sa = load_study_area(cfg)
    res = compute(sa, params_from_config(cfg))
    assert res.stats["walk_components"] == 2
    d = res.origin_distances["kindergarten"].to_numpy()[:2]
    assert np.isinf(d[0])  # 90 m as the crow flies, but on the other piece of the network
    assert d[1] == pytest.approx(
        15 + 40 + 5
    )  # from the building's centre 15 m to the street, 40 m along it, 5 m to the door
    assert res.indicators.loc["A", "lc_kindergarten_pct"] == pytest.approx(
        50.0
    )  # equal floor areas, one covered
    q = quality(sa, res)
    assert q.loc["walk-network snapping: residential origins", "note"] == (
        "the walk network is in 2 unconnected pieces: homes and facilities on different pieces are not reachable (distance inf)"
    )


# 16 ───────────────────────────────────────────────────────────────────────── rasters without coverage
def _raster(path, data, x0, y0, nodata=0):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype="uint8",
        crs="EPSG:4548",
        transform=from_origin(X0 + x0, Y0 + y0, 100, 100),
        nodata=nodata,
    ) as dst:
        dst.write(data.astype("uint8"), 1)


@pytest.mark.parametrize("case", ["elsewhere", "all nodata"])
def test_landcover_without_coverage_is_not_assessable(tmp_path, case):
    one_unit(tmp_path)
    if case == "elsewhere":  # 10 × 10 trees 50 km away
        _raster(tmp_path / "lc.tif", np.full((10, 10), 10), 50_000, 51_000)
    else:  # over the unit, every pixel nodata
        _raster(tmp_path / "lc.tif", np.zeros((10, 10)), 0, 1000)
    cfg = config(tmp_path, landcover={"path": "lc.tif"})
    t = compute(load_study_area(cfg), params_from_config(cfg)).indicators.loc["A"]
    assert np.isnan(t["green_coverage_pct"]) and np.isnan(
        t["permeable_surface_pct"]
    )  # not assessable, not 0
    assert t["raster_nodata_pct"] == pytest.approx(100.0)
    assert t["green_coverage_source"] == "raster"


# 17 ────────────────────────────────────────────────────────────────────────────── CSV encodings
@pytest.mark.parametrize(
    ("encoding", "declared", "name"),
    [
        (
            "gbk",
            None,
            "阳光幼儿园",
        ),  # GBK is read as GB18030 (its superset) when nothing is declared
        ("gbk", "gbk", "阳光幼儿园"),
        ("gb18030", None, "王䶮𠀀幼儿园"),
        ("gb18030", "gb18030", "王䶮𠀀幼儿园"),  # 䶮 (U+4DAE) and 𠀀 (U+20000) are not in GBK
        ("utf-8-sig", None, "王䶮𠀀幼儿园"),
    ],
)
def test_csv_encodings(tmp_path, encoding, declared, name):
    if encoding == "gb18030":
        with pytest.raises(UnicodeEncodeError):
            name.encode("gbk")
    one_unit(tmp_path)
    xy = gpd.GeoSeries([point(150, 510)], crs="EPSG:4548").to_crs(4326)
    pd.DataFrame({"经度": xy.x, "纬度": xy.y, "类别": ["幼儿园"], "名称": [name]}).to_csv(
        tmp_path / "pois.csv", index=False, encoding=encoding
    )
    pois = {
        "path": "pois.csv",
        "x_column": "经度",
        "y_column": "纬度",
        "crs": "EPSG:4326",
        "category_column": "类别",
        "name_column": "名称",
    }
    sa = load_study_area(config(tmp_path, pois=pois | ({"encoding": declared} if declared else {})))
    assert sa.facilities["name"].tolist() == [name]
    assert sa.facilities["category"].tolist() == ["kindergarten"]
    detected = "encoding detected: GB18030; " if encoding != "utf-8-sig" and not declared else ""
    assert (
        quality(sa).loc["life-circle facilities", "note"]
        == f"{detected}reprojected from EPSG:4326 to EPSG:4548"
    )


def test_csv_in_an_undeclared_encoding_is_a_clear_error(tmp_path):
    one_unit(tmp_path)
    (tmp_path / "pois.csv").write_bytes("x,y,cat\n1,2,幼儿园\n".encode("utf-16"))
    pois = {
        "path": "pois.csv",
        "x_column": "x",
        "y_column": "y",
        "crs": "EPSG:4326",
        "category_column": "cat",
    }
    with pytest.raises(
        LayerError,
        match=r"layer 'pois': the text of pois\.csv does not decode cleanly as any of UTF-8, GB18030, Big5 .*set encoding: in the config",
    ):
        load_study_area(config(tmp_path, pois=pois))


# 18 ────────────────────────────────────────────────────────────────────────── corrupt and truncated files
@pytest.mark.filterwarnings(
    "ignore::RuntimeWarning"
)  # GDAL's own warnings about the file, before the error
def test_corrupt_and_truncated_files(tmp_path):
    one_unit(tmp_path)
    (tmp_path / "b.gpkg").write_bytes(
        b"SQLite format 3\x00" + bytes(range(256)) * 4
    )  # a header, then garbage
    with pytest.raises(
        LayerError,
        match=r"^layer 'buildings': could not read \S*b\.gpkg: the file is damaged, truncated or not of a "
        r"supported kind \(.+\); export it again",
    ):
        load_study_area(config(tmp_path, buildings={"path": "b.gpkg"}))
    data = (tmp_path / "units.parquet").read_bytes()
    (tmp_path / "units.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        LayerError,
        match=r"^layer 'units': could not read \S*units\.parquet: the file is damaged.*corrupted",
    ):
        load_study_area(config(tmp_path))


def test_truncated_osm_pbf(tmp_path):
    data = (ROOT / "data/beijing_haidian_tsinghua/map.osm.pbf").read_bytes()
    (tmp_path / "cut.osm.pbf").write_bytes(data[:40_000])
    cfg = parse_config(
        {"name": "cut", "inputs": {"osm": {"path": "cut.osm.pbf"}}}, base_dir=tmp_path
    )
    with pytest.raises(
        LayerError,
        match=r"^OSM file '\S*cut\.osm\.pbf' could not be read \(.+\); is it a complete \.osm/\.osm\.pbf file\?$",
    ):
        load_study_area(cfg)


# 19 ─────────────────────────────────────────────────────────────────────────────────── configs
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"units": {"min_area": 100}},
            r"units\.min_area: Extra inputs are not permitted — did you mean 'min_area_m2'\?",
        ),
        ({"units": {"min_area_m2": "big"}}, r"units\.min_area_m2: Input should be a valid number"),
        (
            {"inputs": {"roads": {"path": "nowhere.gpkg", "class_column": "hw"}}},
            r"inputs\.roads\.path: file not found: \S*nowhere\.gpkg",
        ),
    ],
)
def test_config_problems(tmp_path, change, message):
    with pytest.raises(ConfigError, match=r"1 problem\(s\) in config:\n  - " + message):
        parse_config(
            {"name": "bad", "inputs": {"roads": {"path": str(ROOT / "pyproject.toml")}}} | change,
            base_dir=tmp_path,
        )


# 20 ──────────────────────────────────────────────────────────────────────────── markup in names
def test_markup_in_names_escaped_in_the_map_and_kept_as_data(tmp_path):
    from ditan.pipelines.jobs.run import run

    one_unit(tmp_path, units=[{"uid": "A", "nm": XSS, "geometry": UNIT}])
    write(
        tmp_path / "b.parquet",
        [{"use": "apartments", "fl": 6.0, "h": np.nan, "geometry": box(100, 520, 120, 540)}],
    )
    write(
        tmp_path / "pois.parquet", [{"cat": "kindergarten", "nm": XSS, "geometry": point(150, 510)}]
    )
    cfg = config(
        tmp_path,
        {"map": {"tiles": False}},
        pois={"path": "pois.parquet", "category_column": "cat", "name_column": "nm"},
    )
    out = run(cfg, tmp_path / "out")
    html = out.files["map.html"].read_text(encoding="utf-8")
    assert "<img src=x onerror" not in html and "<img" not in html
    # escaped once for HTML, then written into the map's GeoJSON: the unit's tooltip and the facility's
    assert html.count(r"\u0026lt;img src=x onerror=alert(1)\u0026gt;") == 2
    # data files keep the literal text as data
    assert pd.read_csv(out.files["indicators.csv"], encoding="utf-8-sig").loc[0, "name"] == XSS
    assert gpd.read_file(out.files["communities.gpkg"], layer="communities").loc[0, "name"] == XSS
    wb = openpyxl.load_workbook(out.files["indicators.xlsx"], read_only=True)
    try:
        assert XSS in [c for row in wb["指标 indicators"].iter_rows(values_only=True) for c in row]
    finally:
        wb.close()


# ─────────────────────────────────────────────────────────────────────────── everything at once
def test_mixed_problems_every_ledger_row_balances(tmp_path):
    write(
        tmp_path / "units.parquet",
        [
            {"uid": "A", "nm": "甲", "geometry": UNIT},
            {"uid": "B", "nm": "乙", "geometry": box(900, 0, 1900, 1000)},  # overlaps A
            {"uid": "N", "nm": "空", "geometry": None},
            {"uid": "C", "nm": "丙", "geometry": box(2000, 0, 2100, 100)},
        ],
        crs="EPSG:4326",
    )
    write(
        tmp_path / "roads.parquet",
        [
            {"hw": "residential", "geometry": line((0, 500), (1900, 500))},
            {"hw": "primary", "geometry": box(0, 0, 5, 5)},
            {
                "hw": "residential",
                "geometry": shapely.MultiLineString(
                    [line((100, 0), (100, 400)), line((100, 600), (100, 1000))]
                ),
            },
            {"hw": "residential", "geometry": None},
        ],
        crs="EPSG:32650",
    )
    write(
        tmp_path / "b.parquet",
        [
            {"use": "apartments", "fl": 500.0, "h": -10.0, "geometry": box(150, 520, 170, 540)},
            {"use": "yes", "fl": -3.0, "h": np.nan, "geometry": BOWTIE},
            {"use": "yes", "fl": 3.0, "h": np.nan, "geometry": BOWTIE},
            {"use": "yes", "fl": 3.0, "h": np.nan, "geometry": point(10, 10)},
            {"use": "yes", "fl": 3.0, "h": np.nan, "geometry": shapely.Polygon()},
            {"use": "yes", "fl": 3.0, "h": np.nan, "geometry": box(90_000, 0, 90_010, 10)},
        ],
    )
    write(
        tmp_path / "p.parquet",
        [
            {"dm": "0701", "geometry": box(0, 0, 500, 500)},
            {"dm": "XYZ", "geometry": BOWTIE},
            {"dm": "0701", "geometry": None},
        ],
    )
    write(
        tmp_path / "pois.parquet",
        [
            {"cat": "kindergarten", "geometry": point(150, 510)},
            {"cat": "kindergarten", "geometry": point(700, 800)},  # beyond snapping
            {"cat": "casino", "geometry": point(300, 510)},
            {"cat": "kindergarten", "geometry": None},
        ],
    )
    cfg = config(
        tmp_path,
        parcels={"path": "p.parquet", "code_column": "dm"},
        pois={"path": "pois.parquet", "category_column": "cat"},
    )
    sa = load_study_area(cfg)
    res = compute(sa, params_from_config(cfg))
    q = quality(sa, res)  # asserts read = kept + repaired + dropped on every row
    assert len(q) >= 7
    assert q["features_read"].sum() > 0 and q["repaired"].sum() >= 4 and q["dropped"].sum() >= 6
    assert (q[["kept", "repaired", "dropped", "outside_study_area"]] >= 0).all().all()
    for rec in sa.ledger.merged(res.ledger).records.values():
        assert rec.read == rec.kept + rec.repaired_total + rec.dropped_total, rec
    # the overlap of A and B flags both; the parcels (0–500 m) and the buildings cover only part of some units: each unit
    # partly beyond a layer's data is flagged once per layer, measured on what is there
    why = q.loc["units", "flagged_why"]
    assert (
        "overlapping units, kept as drawn: A/B" in why and "partly outside the land-use data" in why
    )
    partly = sum(
        int(part.rsplit(": ", 1)[1])
        for part in why.split("; ")
        if part.startswith("partly outside")
    )
    assert q.loc["units", "flagged"] == 2 + partly
    assert q.loc["buildings", "repaired_how"] == (
        "implausible floors/height ignored: 1; make_valid: 1; make_valid + implausible floors/height ignored: 1"
    )


# ───────────────────────────────────────────────────────────── web-map POIs in GCJ-02 and BD-09
@pytest.mark.parametrize(
    ("system", "forward"), [("gcj02", "wgs84_to_gcj02"), ("bd09", "wgs84_to_bd09")]
)
def test_web_map_pois_are_converted_and_noted(tmp_path, system, forward):
    from ditan.spatial.crs import china as chinacrs

    one_unit(tmp_path)
    truth = (
        gdf([{"geometry": point(300, 505)}]).to_crs(4326).geometry.iloc[0]
    )  # 5 m off the road, in WGS 84
    lon, lat = getattr(chinacrs, forward)(
        np.array([truth.x]), np.array([truth.y])
    )  # as Amap / Baidu would list it
    pd.DataFrame({"lon": lon, "lat": lat, "cat": ["幼儿园"], "name": ["小太阳幼儿园"]}).to_csv(
        tmp_path / "poi.csv", index=False
    )
    pois = {
        "path": "poi.csv",
        "x_column": "lon",
        "y_column": "lat",
        "crs": system,
        "category_column": "cat",
        "name_column": "name",
    }
    sa = load_study_area(config(tmp_path, pois=pois))
    got = sa.facilities.geometry.iloc[0]
    assert got.distance(point(300, 505)) < 0.5  # back where it is, not hundreds of metres off
    q = quality(sa).loc["life-circle facilities"]
    assert (
        f"coordinates converted from {chinacrs.SYSTEM_NAMES[system]} to WGS 84 (1 features)"
        in q["note"]
    )
    # read as WGS 84 by mistake, the point would be hundreds of metres away
    wrong = load_study_area(
        config(tmp_path, pois=pois | {"crs": "EPSG:4326"})
    ).facilities.geometry.iloc[0]
    assert wrong.distance(point(300, 505)) > 100


def test_every_test_the_attack_table_names_exists():
    """tests/bad_inputs.md (linked from the README) names only test files and tests that exist."""
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "tests" / "bad_inputs.md").read_text(encoding="utf-8")
    for f in set(re.findall(r"tests/(test_\w+\.py)", text)):
        assert (root / "tests" / f).is_file(), f
    for f, t in re.findall(r"tests/(test_\w+\.py)::(test_\w+)", text):
        assert f"def {t}(" in (root / "tests" / f).read_text(encoding="utf-8"), (f, t)
