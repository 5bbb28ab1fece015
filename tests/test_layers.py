"""Separate input layers loaded into one metric study area and run end to end.

Shapefile, GeoParquet, GeoJSON, GeoPackage, CSV in UTF-8-BOM and GB18030, and a GeoTIFF, in
different coordinate systems.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.compute.indicators import compute
from ditan.pipelines.config.params import params_from_config
from ditan.pipelines.config.schema import parse_config
from tests.conftest import X0, Y0, box, gdf, line, point


@pytest.fixture
def layer_dir(tmp_path):
    # one 1 km × 1 km unit, stored in WGS 84 (so it must be reprojected)
    gdf([{"code": "C1", "title": "示范社区", "geometry": box(0, 0, 1000, 1000)}]).to_crs(
        4326
    ).to_file(tmp_path / "units.geojson")
    gdf(
        [
            {"kind": "primary", "nm": "甲路", "geometry": line((500, -50), (500, 1050))},
            {
                "kind": "residential",
                "nm": "乙路",
                "geometry": line((-50, 500), (500, 500), (1050, 500)),
            },
        ]
    ).to_file(tmp_path / "roads.shp")
    gdf(
        [
            {
                "use": "residential",
                "fl": 10,
                "geometry": box(100, 100, 150, 140),
            },  # 2000 m² × 10 floors
            {"use": "yes", "fl": None, "geometry": box(600, 600, 620, 650)},
        ]
    ).to_parquet(tmp_path / "buildings.parquet")
    # parcels coded with the 2023 用地用海 codes: a code, a Chinese name, an unknown code; one carries a FAR
    gdf(
        [
            {"dm": "0701", "rjl": 1.0, "geometry": box(0, 0, 500, 500)},  # 250,000 m² × FAR 1
            {
                "dm": "公园绿地",
                "rjl": None,
                "geometry": box(600, 0, 700, 100),
            },  # the name of 1401: park
            {"dm": "R9-unknown", "rjl": None, "geometry": box(800, 800, 900, 900)},
        ]
    ).to_file(tmp_path / "parcels.gpkg", layer="lu")
    pois = gdf(
        [
            {
                "cat": "幼儿园",
                "name": "阳光幼儿园",
                "geometry": point(200, 510),
            },  # the category's Chinese name
            {"cat": "not_a_category", "name": "x", "geometry": point(300, 510)},
        ]
    ).to_crs(4326)
    df = pd.DataFrame(
        {"lon": pois.geometry.x, "lat": pois.geometry.y, "cat": pois["cat"], "name": pois["name"]}
    )
    df.to_csv(tmp_path / "pois_bom.csv", index=False, encoding="utf-8-sig")
    df.to_csv(tmp_path / "pois_gbk.csv", index=False, encoding="gb18030")
    gdf(
        [
            {"k": "bus_stop", "geometry": point(480, 300)},
            {"k": "ev_charging", "geometry": point(900, 100)},
            {"k": "tram", "geometry": point(10, 10)},
        ]
    ).to_file(tmp_path / "stations.gpkg")
    # 100 m pixels over the unit: left half trees (10), right half built-up (50)
    data = np.where(np.arange(10)[None, :] < 5, 10, 50).repeat(10, axis=0).astype("uint8")
    with rasterio.open(
        tmp_path / "lc.tif",
        "w",
        driver="GTiff",
        height=10,
        width=10,
        count=1,
        dtype="uint8",
        crs="EPSG:4548",
        transform=from_origin(X0, Y0 + 1000, 100, 100),
        nodata=0,
    ) as dst:
        dst.write(data, 1)
    return tmp_path


def _config(d, pois="pois_bom.csv"):
    return parse_config(
        {
            "name": "layers",
            "inputs": {
                "units": {"path": "units.geojson", "id_column": "code", "name_column": "title"},
                "roads": {"path": "roads.shp", "class_column": "kind", "name_column": "nm"},
                "buildings": {
                    "path": "buildings.parquet",
                    "type_column": "use",
                    "floors_column": "fl",
                },
                "parcels": {
                    "path": "parcels.gpkg",
                    "layer": "lu",
                    "code_column": "dm",
                    "code_system": "gb2023",
                    "far_column": "rjl",
                },
                "pois": {
                    "path": pois,
                    "x_column": "lon",
                    "y_column": "lat",
                    "crs": "EPSG:4326",
                    "category_column": "cat",
                    "name_column": "name",
                },
                "stations": {"path": "stations.gpkg", "kind_column": "k"},
                "landcover": {"path": "lc.tif"},
            },
        },
        base_dir=d,
    )


@pytest.mark.parametrize("pois", ["pois_bom.csv", "pois_gbk.csv"])
def test_layers_load_and_run(layer_dir, pois):
    cfg = _config(layer_dir, pois)
    sa = load_study_area(cfg)
    assert sa.crs.to_epsg() == 4548  # chosen from the data's longitude (≈ 117° E)
    assert sa.units.index.tolist() == ["C1"] and sa.units["name"].iloc[0] == "示范社区"
    assert sa.units.geometry.area.iloc[0] == pytest.approx(
        1e6, rel=1e-6
    )  # reprojected back from WGS 84
    assert sa.facilities["name"].tolist() == ["阳光幼儿园"]  # the GB18030 name survives
    q = sa.ledger.to_frame().set_index("layer")
    assert q.loc["land-use parcels", "flagged_why"] == (
        "unknown 用地用海分类指南 (2023) code 'R9-unknown' (1 parcels, 10,000 m²; counted as land without a class): 1"
    )
    assert q.loc["land-use parcels", "kept"] == 3
    assert (
        q.loc["life-circle facilities", "dropped_why"]
        == "'not_a_category' is not a category of the catalogue (catalogue values): 1"
    )
    assert (
        q.loc["stations", "dropped_why"]
        == "'tram' is not a station kind of the catalogue (catalogue values): 1"
    )
    assert sa.facilities["category"].tolist() == ["kindergarten"]
    assert q["balanced"].all()

    res = compute(sa, params_from_config(cfg))
    t = res.indicators.loc["C1"]
    assert t["road_length_km"] == pytest.approx(2.0)  # 1000 m of each road inside the unit
    assert t["road_density_arterial_km_per_km2"] == pytest.approx(1.0)
    # the parcel's FAR gives 250,000 m² where it lies (the 10-floor building on it is not added);
    # elsewhere the buildings: the 'yes' building has the default 3 floors
    assert t["floor_area_m2"] == pytest.approx(250_000 + 1000 * 3)
    assert t["far_source"] == "parcels+buildings" and t["far_parcel_area_pct"] == pytest.approx(
        25.0
    )
    assert t["far_buildings_ratio"] == pytest.approx((2000 * 10 + 1000 * 3) / 1e6)
    assert t["lu_residential_pct"] == pytest.approx(25.0)
    assert t["lu_park_pct"] == pytest.approx(1.0) and t["green_space_ratio_pct"] == pytest.approx(
        1.0
    )
    assert t["lu_code_system"] == "gb2023"
    # the unknown-code parcel (100 m × 100 m = 1 %) is not folded into a class: it is lu_unknown_pct; the 73 % no
    # parcel covers (100 − 25 − 1 − 1) is lu_no_data_pct (issue 15: the two were one column, 74 %)
    assert t["lu_unknown_pct"] == pytest.approx(1.0)
    assert t["lu_no_data_pct"] == pytest.approx(73.0)
    assert t["green_coverage_pct"] == pytest.approx(50.0)  # left half of the raster is trees
    assert t["green_coverage_source"] == "raster"
    assert t["permeable_surface_pct"] == pytest.approx(50.0)  # the right half is built-up (50)
    assert t["raster_nodata_pct"] == pytest.approx(0.0, abs=1e-6)
    # the residential building (origin near (125, 120)) stands 375 m from the nearest road, beyond the
    # 100 m snapping distance: not covered by any network measure, and counted in the ledger
    assert t["lc_kindergarten_pct"] == pytest.approx(0.0)
    assert t["bus_stop_500m_network_pct"] == pytest.approx(0.0)
    assert res.ledger.records["walk-network snapping: residential origins"].dropped_total == 1
    assert t["bus_stop_500m_radius_pct"] == pytest.approx(100.0)  # (125,120)→(480,300): 398 m
    assert t["bus_stop_count"] == 1 and t["ev_charging_count"] == 1


def test_gb50137_parcels_with_green_ratio_height_limit_and_population(tmp_path):
    # one 1 km unit; parcels coded in GB 50137 (codes and a Chinese name) with green ratios and height limits
    gdf([{"code": "C1", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    gdf([{"kind": "residential", "geometry": line((0, 500), (1000, 500))}]).to_file(
        tmp_path / "roads.gpkg"
    )
    gdf(
        [
            {"use": "apartments", "pop": 300, "geometry": box(100, 510, 140, 540)},
            {"use": "apartments", "pop": 100, "geometry": box(800, 510, 840, 540)},
        ]
    ).to_file(tmp_path / "b.gpkg")
    gdf(
        [
            {
                "dm": "r2",
                "ldl": 30.0,
                "xg": 54.0,
                "geometry": box(0, 0, 500, 400),
            },  # 200,000 m²: R2, 60,000 m² attached green
            {
                "dm": "R22",
                "ldl": None,
                "xg": 24.0,
                "geometry": box(500, 0, 600, 400),
            },  # 40,000 m² community service (R22)
            {
                "dm": "中小学用地",
                "ldl": 35.0,
                "xg": 24.0,
                "geometry": box(600, 0, 800, 400),
            },  # A33 by name: 80,000 m²
            {
                "dm": "G1",
                "ldl": 100.0,
                "xg": None,
                "geometry": box(0, 420, 1000, 460),
            },  # a 40,000 m² park: no attached green
            {"dm": "A39", "ldl": None, "xg": None, "geometry": box(800, 0, 1000, 100)},
        ]
    ).to_file(tmp_path / "p.gpkg")  # parent A3
    cfg = parse_config(
        {
            "name": "gb50137",
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "code"},
                "roads": {"path": "roads.gpkg", "class_column": "kind"},
                "buildings": {"path": "b.gpkg", "type_column": "use", "population_column": "pop"},
                "parcels": {
                    "path": "p.gpkg",
                    "code_column": "dm",
                    "code_system": "gb50137",
                    "green_ratio_column": "ldl",
                    "height_limit_column": "xg",
                },
            },
            "life_circle": {"weight_by": "population"},
        },
        base_dir=tmp_path,
    )
    sa = load_study_area(cfg)
    q = sa.ledger.to_frame().set_index("layer").loc["land-use parcels"]
    assert (
        q["flagged_why"]
        == "code 'A39' not in the GB 50137-2011 table; classified by its parent code: 1"
    )
    t = compute(sa, params_from_config(cfg)).indicators.loc["C1"]
    assert t["lu_code_system"] == "gb50137"
    assert t["lu_residential_pct"] == pytest.approx(20.0) and t[
        "lu_community_service_pct"
    ] == pytest.approx(4.0)
    assert t["public_service_pct"] == pytest.approx(10.0)  # A33 8 % + A39→A3 2 %
    assert t["public_service_incl_community_pct"] == pytest.approx(14.0)
    # 绿地率: the park (4 %) plus attached green 30 % × 200,000 + 35 % × 80,000 = 88,000 m² (8.8 %)
    assert t["green_space_ratio_pct"] == pytest.approx(12.8)
    assert t["green_space_source"] == "land use + parcel green ratios"
    assert t["parcel_height_limit_max_m"] == pytest.approx(54.0)
    assert t["lc_basis"] == "population"
    # 400 residents; housing 2 × 40 m × 30 m × 6 floors (the apartments default) = 14,400 m² → 36 m² each
    assert t["population"] == pytest.approx(400.0)
    assert t["floor_area_per_person_m2"] == pytest.approx(36.0)
    assert t["greenway_km_per_10k_people"] == pytest.approx(0.0)
    # the park is 40,000 m² (≥ 5,000): every residential m² (R2 and R22, 0 ≤ y ≤ 400) lies within 420 m of it (y ≥ 420)
    assert t["park_service_coverage_pct"] == pytest.approx(100.0)
    assert t["residential_land_m2"] == pytest.approx(240_000)


def test_units_carry_their_pilot_kind_into_compliance(tmp_path):
    from ditan.spatial.standards.compliance import evaluate
    from ditan.spatial.standards.profiles import load_profile

    gdf(
        [
            {
                "code": "N1",
                "pilot": "城市新建社区",
                "geometry": box(0, 0, 1000, 1000),
            },  # a kind by its Chinese name
            {"code": "E1", "pilot": "existing", "geometry": box(1000, 0, 2000, 1000)},
        ]
    ).to_file(tmp_path / "units.gpkg")
    gdf([{"kind": "residential", "geometry": line((0, 500), (2000, 500))}]).to_file(
        tmp_path / "roads.gpkg"
    )
    gdf([{"use": "apartments", "geometry": box(100, 510, 140, 540)}]).to_file(tmp_path / "b.gpkg")
    cfg = parse_config(
        {
            "name": "kinds",
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "code", "kind_column": "pilot"},
                "roads": {"path": "roads.gpkg", "class_column": "kind"},
                "buildings": {"path": "b.gpkg", "type_column": "use"},
            },
            "compliance": {"profile": "lowcarbon_pilot_2015"},
        },
        base_dir=tmp_path,
    )
    sa = load_study_area(cfg)
    assert sa.units["kind"].tolist() == ["城市新建社区", "existing"]
    checks = evaluate(
        compute(sa, params_from_config(cfg)).indicators,
        load_profile("lowcarbon_pilot_2015"),
        kind=sa.units["kind"],
    )
    profile = load_profile("lowcarbon_pilot_2015")
    expected = {
        u: {r.id for r in profile.rules if k in r.applies_to}
        for u, k in (("N1", "new"), ("E1", "existing"))
    }
    assert {u: set(g["rule_id"]) for u, g in checks.groupby("unit_id")} == expected
    # the road density rule is a 新建社区 rule only: 1 km of road in 1 km² < 3 km/km², binding
    road = checks[
        (checks["unit_id"] == "N1") & (checks["indicator"] == "road_density_km_per_km2")
    ].iloc[0]
    assert (road["status"], road["binding"], road["measured"]) == (
        "fail",
        "binding",
        pytest.approx(1.0),
    )
