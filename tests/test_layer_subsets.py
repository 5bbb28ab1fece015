"""Runs with a subset of the layers, and the layer checks of check-config (issue 15, items 2 and 3).

Units are the only layer a run needs besides one thing to measure: units + parcels measure land use, units + a
land-cover raster green coverage; every other family is NaN with its data-gap reason. The expectations are worked
out here: land-use shares are rectangle areas over unit areas (shapely, in the study CRS the config names), green
coverage the width of the vegetation pixel columns inside a unit over its width; which columns rest on which layer
is read from ``needs:`` in spatial/standards/indicators.yaml with yaml.

check-config reads each layer's schema only (layer names, columns, geometry type, feature count) and lists every
problem at once with its key path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import yaml

from ditan.pipelines.cli import main
from ditan.pipelines.config.layer_checks import check_layers, named_columns
from ditan.pipelines.config.schema import parse_config
from ditan.pipelines.jobs.run import run
from ditan.spatial.errors import ConfigError
from tests.conftest import CRS, box, class_raster, gdf, line, point

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "data" / "beijing_haidian_tsinghua" / "units.gpkg"
NEEDS = {
    r["id"]: set(r.get("needs") or [])
    for r in yaml.safe_load(
        (ROOT / "spatial" / "standards" / "indicators.yaml").read_text(encoding="utf-8")
    )
}
LU_CLASSES = ["residential", "community_service", "public_service", "commercial", "industrial",
              "transport", "utilities", "park", "green", "plaza", "water", "agriculture", "other"]  # fmt: skip


def _columns_needing(*layers: str) -> list[str]:
    return sorted(c for c, needs in NEEDS.items() if needs & set(layers))


def _gaps(reasons: pd.DataFrame, unit: str) -> pd.DataFrame:
    return reasons[reasons["unit_id"] == unit].set_index("column")


# ─────────────────────────────────────────────────────────── (a) units + parcels only
#: parcels (GB 2023 codes) as rectangles (width × height m) at each unit's representative point, side by side;
#: U008 清华大学（新民路、明德路）, U009 西王庄小区, U002 清华大学（明德路、荷清路） (the fixture checks each fits)
PARCELS = {
    "U008": [("0701", 100, 60), ("0901", 40, 60)],
    "U009": [("1401", 80, 80), ("0702", 50, 40)],
    "U002": [("0801", 120, 50)],
}
CLASS_OF = {
    "0701": "residential",
    "0901": "commercial",
    "1401": "park",
    "0702": "community_service",
    "0801": "public_service",
}  # fmt: skip  GB 2023 (spatial/landuse/gb2023.yaml): 07 居住, 09 商业, 14 绿地 …


def test_units_and_parcels_only(tmp_path):
    units = gpd.read_file(UNITS).set_index("unit_id").to_crs(CRS).loc[list(PARCELS)]
    units.reset_index().to_file(tmp_path / "units.gpkg")
    rows, expected = [], {}
    for uid, parcels in PARCELS.items():
        geom = units.geometry[uid]
        x, y = geom.representative_point().coords[0]
        shares = dict.fromkeys(LU_CLASSES, 0.0)
        for i, (code, w, h) in enumerate(parcels):
            rect = shapely.box(x, y, x + w, y + h)
            x += w  # the next parcel east of this one
            assert geom.contains(rect), f"fixture: parcel {code} lies inside {uid}"
            rows.append({"DKBH": f"{uid}-{i}", "YDYHDM": code, "geometry": rect})
            shares[CLASS_OF[code]] += w * h / geom.area * 100.0
        expected[uid] = shares
    gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS).to_file(tmp_path / "parcels.gpkg")
    cfg = parse_config(
        {
            "name": "units_parcels",
            "crs": CRS,  # the areas above are measured in it
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "unit_id", "name_column": "name"},
                "parcels": {"path": "parcels.gpkg", "code_column": "YDYHDM", "id_column": "DKBH"},
            },
        },
        base_dir=tmp_path,
    )
    assert not check_layers(cfg).problems
    out = run(cfg, tmp_path / "out")
    t, reasons = out.result.indicators, out.result.reasons
    for uid, shares in expected.items():
        for cls, pct in shares.items():
            assert t.at[uid, f"lu_{cls}_pct"] == pytest.approx(pct, abs=1e-6), (uid, cls)
        assert t.at[uid, "lu_unknown_pct"] == pytest.approx(0.0, abs=1e-9)
        assert t.at[uid, "lu_no_data_pct"] == pytest.approx(100.0 - sum(shares.values()), abs=1e-6)
        why = _gaps(reasons, uid)
        gone = _columns_needing("roads", "buildings", "floor_area", "facilities", "stations")
        assert len(gone) > 30 and set(gone) <= set(t.columns)  # every family but land use
        for col in gone:
            assert np.isnan(t.at[uid, col]) and why.loc[col, "data_gap"], (uid, col)
    written = pd.read_csv(out.out_dir / "indicators.csv", encoding="utf-8-sig").set_index("unit_id")
    assert written.at["U008", "lu_residential_pct"] == pytest.approx(
        expected["U008"]["residential"], abs=1e-3
    )
    # the reasons say which layer is missing, in both languages
    road = _gaps(reasons, "U008").loc["road_density_km_per_km2"]
    assert road["reason"] == "no_layer" and "inputs.roads" in road["reason_en"]


# ─────────────────────────────────────────────────────────── (b) units + a land-cover raster only
def test_units_and_raster_only(tmp_path):
    # WorldCover codes, 100 m pixels, columns x = 0…2100 m, rows y = 0…1000 m (conftest.class_raster)
    col_codes = (
        [10] * 3 + [50] * 7 + [30] + [80] * 5 + [50] * 5
    )  # tree, built-up, grass, water, built-up
    class_raster(tmp_path / "lc.tif", np.tile(np.array(col_codes), (10, 1)))
    gdf(
        [
            {"unit_id": "A", "name": "甲", "geometry": box(50, 0, 1050, 1000)},
            {"unit_id": "B", "name": "乙", "geometry": box(1050, 0, 2050, 1000)},
        ]
    ).to_file(tmp_path / "units.gpkg")
    cfg = parse_config(
        {
            "name": "units_raster",
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "unit_id", "name_column": "name"},
                "landcover": {"path": "lc.tif"},
            },
        },
        base_dir=tmp_path,
    )
    out = run(cfg, tmp_path / "out")
    t, reasons = out.result.indicators, out.result.reasons
    # A (x 50…1050): tree 50…300 (250 m) + grass 1000…1050 (50 m) of 1000 m → 30 %; built-up 300…1000 → 70 %
    # B (x 1050…2050): grass 1050…1100 (50 m) → 5 %; built-up 1600…2050 (450 m) → permeable 55 %
    assert t.loc[["A", "B"], "green_coverage_pct"].tolist() == pytest.approx([30.0, 5.0])
    assert t.loc[["A", "B"], "permeable_surface_pct"].tolist() == pytest.approx([30.0, 55.0])
    assert t.loc[["A", "B"], "raster_nodata_pct"].tolist() == pytest.approx([0.0, 0.0])
    for uid in ("A", "B"):
        why = _gaps(reasons, uid)
        gone = _columns_needing("roads", "buildings", "landuse", "facilities", "stations")
        assert len(gone) > 50 and set(gone) <= set(t.columns)  # every family but green coverage
        for col in gone:
            assert np.isnan(t.at[uid, col]) and why.loc[col, "data_gap"], (uid, col)
    assert "inputs.parcels" in _gaps(reasons, "A").loc["lu_residential_pct", "reason_en"]


def test_units_alone_are_refused_with_what_to_add(tmp_path):
    gdf([{"unit_id": "A", "geometry": box(0, 0, 100, 100)}]).to_file(tmp_path / "units.gpkg")
    with pytest.raises(ConfigError, match=r"inputs: nothing to measure: name an OSM file"):
        parse_config({"name": "u", "inputs": {"units": {"path": "units.gpkg"}}}, base_dir=tmp_path)


# ─────────────────────────────────────────────────────────── (c) check-config: the layers' schemas
def _problems(tmp_path, inputs: dict, **extra) -> list[str]:
    cfg = parse_config({"name": "c", "inputs": inputs, **extra}, base_dir=tmp_path)
    return [f"{k}: {m}" for k, m in check_layers(cfg).problems]


ROADS = [
    {"hw": "residential", "nm": "甲路", "geometry": line((0, 500), (1000, 500))},
    {"hw": "primary", "nm": "乙路", "geometry": line((500, 0), (500, 1000))},
]
UNIT_ROWS = [{"uid": "A", "nm": "甲", "geometry": box(0, 0, 1000, 1000)}]


def test_missing_layer_name_in_a_two_layer_geopackage(tmp_path):
    gdf(ROADS).to_file(tmp_path / "city.gpkg", layer="roads_2023")
    gdf(UNIT_ROWS).to_file(tmp_path / "city.gpkg", layer="units")
    inputs = {"roads": {"path": "city.gpkg", "layer": "roads_2024", "class_column": "hw"}}
    assert _problems(tmp_path, inputs) == [
        "inputs.roads.layer: city.gpkg has no layer 'roads_2024'; its layers are roads_2023, units; "
        "did you mean 'roads_2023'?"
    ]
    assert _problems(tmp_path, {"roads": {**inputs["roads"], "layer": "roads_2023"}}) == []
    # no layer: named: the first is read, and a note (not an error) says so
    cfg = parse_config(
        {"name": "c", "inputs": {"roads": {"path": "city.gpkg", "class_column": "hw"}}},
        base_dir=tmp_path,
    )
    found = check_layers(cfg)
    assert not found.problems and found.notes == [
        (
            "inputs.roads",
            "city.gpkg has 2 layers (roads_2023, units); the first, 'roads_2023', is read — name the one to "
            "read with layer:",
        )
    ]


def test_misspelt_column_lists_the_columns_and_the_closest(tmp_path):
    gdf(ROADS).to_file(tmp_path / "roads.gpkg")
    assert _problems(tmp_path, {"roads": {"path": "roads.gpkg", "class_column": "hwy"}}) == [
        "inputs.roads.class_column: 'hwy' is not a column of roads.gpkg (it has hw, nm); did you mean 'hw'?"
    ]
    # upper case (a Shapefile's DBF) is suggested across case
    assert _problems(
        tmp_path, {"roads": {"path": "roads.gpkg", "class_column": "hw", "name_column": "NM"}}
    ) == [
        "inputs.roads.name_column: 'NM' is not a column of roads.gpkg (it has hw, nm); did you mean 'nm'?"
    ]


def test_csv_header_without_the_x_column(tmp_path):
    pd.DataFrame({"名称": ["公交站"], "lon": [116.32], "lat": [40.0], "类型": ["公交站"]}).to_csv(
        tmp_path / "stops.csv", index=False, encoding="gbk"
    )  # GBK without BOM: the header is read in the detected encoding
    src = {
        "path": "stops.csv",
        "x_column": "lng",
        "y_column": "lat",
        "crs": "EPSG:4326",
        "kind_column": "类型",
    }
    assert _problems(tmp_path, {"stations": src}) == [
        "inputs.stations.x_column: 'lng' is not a column of stops.csv (it has 名称, lon, lat, 类型); did you mean 'lon'?"
    ]
    assert _problems(tmp_path, {"stations": {**src, "x_column": "lon"}}) == []


def test_wrong_excel_sheet(tmp_path):
    with pd.ExcelWriter(tmp_path / "pois.xlsx") as xl:
        pd.DataFrame({"x": [116.32], "y": [40.0], "类别": ["小学"]}).to_excel(
            xl, sheet_name="设施", index=False
        )
        pd.DataFrame({"note": ["说明"]}).to_excel(xl, sheet_name="说明", index=False)
    src = {"path": "pois.xlsx", "layer": "设施点", "x_column": "x", "y_column": "y", "crs": "EPSG:4326",
           "category_column": "类别"}  # fmt: skip
    assert _problems(tmp_path, {"pois": src}) == [
        "inputs.pois.layer: pois.xlsx has no sheet '设施点'; its sheets are 设施, 说明; did you mean '设施'?"
    ]
    assert _problems(tmp_path, {"pois": {**src, "layer": "设施"}}) == []
    assert _problems(tmp_path, {"pois": {**src, "layer": "设施", "category_column": "类型"}}) == [
        "inputs.pois.category_column: '类型' is not a column of pois.xlsx sheet '设施' (it has x, y, 类别); "
        "did you mean '类别'?"
    ]


def test_gbk_shapefile_without_cpg(tmp_path):
    rows = [{"用地代码": "0701", "名称": "甲地块", "geometry": box(0, 0, 100, 100)}]
    pyogrio.write_dataframe(gdf(rows), tmp_path / "parcels.shp", encoding="GBK")
    (tmp_path / "parcels.cpg").unlink(
        missing_ok=True
    )  # no .cpg: the encoding is detected, as the run does
    assert (
        "用地代码" not in pyogrio.read_info(tmp_path / "parcels.shp")["fields"]
    )  # GDAL alone reads Latin-1
    src = {"path": "parcels.shp", "code_column": "用地编码", "name_column": "名称"}
    assert _problems(tmp_path, {"parcels": src}) == [
        "inputs.parcels.code_column: '用地编码' is not a column of parcels.shp (it has 用地代码, 名称); "
        "did you mean '用地代码'?"
    ]
    assert _problems(tmp_path, {"parcels": {**src, "code_column": "用地代码"}}) == []


def test_file_geodatabase_layer_and_columns(tmp_path):
    rows = [{"DLBM": "0701", "DKMC": "甲", "geometry": box(0, 0, 100, 100)}]
    pyogrio.write_dataframe(gdf(rows), tmp_path / "plan.gdb", driver="OpenFileGDB", layer="DLTB")
    src = {"path": "plan.gdb", "layer": "DLTB", "code_column": "DLBM", "name_column": "DKMC"}
    assert _problems(tmp_path, {"parcels": src}) == []
    assert _problems(tmp_path, {"parcels": {**src, "code_column": "DLMC"}}) == [
        "inputs.parcels.code_column: 'DLMC' is not a column of plan.gdb (it has DLBM, DKMC); did you mean 'DLBM'?"
    ]
    assert _problems(tmp_path, {"parcels": {**src, "layer": "JSYD"}}) == [
        "inputs.parcels.layer: plan.gdb has no layer 'JSYD'; its layers are DLTB"
    ]


def test_a_valid_layer_of_each_kind_passes(tmp_path):
    roads = gdf(ROADS)
    roads.to_file(tmp_path / "roads.geojson", driver="GeoJSON")
    roads.to_file(tmp_path / "roads.fgb", driver="FlatGeobuf")
    roads.to_parquet(tmp_path / "roads.parquet")
    roads.to_file(tmp_path / "roads.shp", encoding="UTF-8")
    pyogrio.write_dataframe(
        roads[["geometry"]].assign(Layer=roads["hw"]), tmp_path / "roads.dxf", driver="DXF"
    )
    roads.to_crs(4326).to_file(tmp_path / "roads.kml", driver="KML")
    for name, extra in [("roads.geojson", {}), ("roads.fgb", {}), ("roads.parquet", {}), ("roads.shp", {}),
                        ("roads.kml", {"class_column": "hw", "name_column": "Name"})]:  # fmt: skip
        src = {"path": name, "class_column": "hw", "name_column": "nm", **extra}
        assert _problems(tmp_path, {"roads": src}) == [], name
    # DXF: GDAL's fixed columns; the CAD layer is the road class
    assert (
        _problems(tmp_path, {"roads": {"path": "roads.dxf", "class_column": "Layer", "crs": CRS}})
        == []
    )
    (wrong,) = _problems(
        tmp_path, {"roads": {"path": "roads.dxf", "class_column": "layer", "crs": CRS}}
    )  # GDAL's DXF columns (PaperSpace since GDAL 3.x): Layer, SubClasses, Linetype, EntityHandle, Text …
    assert wrong.startswith(
        "inputs.roads.class_column: 'layer' is not a column of roads.dxf (it has Layer, "
    ) and wrong.endswith("EntityHandle, Text); did you mean 'Layer'?")


def test_every_problem_at_once_and_the_command_exits_2(tmp_path, capsys):
    gdf(UNIT_ROWS).to_file(tmp_path / "units.gpkg")
    gdf(ROADS).to_file(tmp_path / "roads.gpkg")
    text = {
        "name": "two",
        "inputs": {
            "units": {"path": "units.gpkg", "id_column": "uid", "name_column": "name"},
            "roads": {"path": "roads.gpkg", "class_column": "highway"},
        },
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(text, allow_unicode=True), encoding="utf-8")
    assert main(["check-config", str(tmp_path / "c.yaml")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "2 problem(s) in" in err
    assert (
        "- inputs.units.name_column: 'name' is not a column of units.gpkg (it has uid, nm)" in err
    )
    assert (
        "- inputs.roads.class_column: 'highway' is not a column of roads.gpkg (it has hw, nm)"
        in err
    )
    # `ditan run` stops on the same problems before any work: no output folder
    assert main(["run", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert "2 problem(s) in" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_check_config_command_prints_key_paths_without_traceback(tmp_path):
    gdf(ROADS).to_file(tmp_path / "roads.gpkg")
    (tmp_path / "c.yaml").write_text(
        "name: c\ninputs:\n  roads:\n    path: roads.gpkg\n    class_column: hwy\n",
        encoding="utf-8",
    )
    script = Path(sys.executable).with_name("ditan")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "ditan.pipelines.cli"]
    res = subprocess.run(
        [*cmd, "check-config", str(tmp_path / "c.yaml")], capture_output=True, text=True
    )
    assert res.returncode == 2
    assert "inputs.roads.class_column: 'hwy' is not a column of roads.gpkg" in " ".join(
        res.stderr.split()
    )
    assert "Traceback" not in res.stderr


def test_empty_placeholder_layers_are_refused(tmp_path):
    gdf(UNIT_ROWS).to_file(tmp_path / "units.gpkg")
    gpd.GeoDataFrame({"hw": pd.Series([], dtype=str)}, geometry=[], crs=CRS).to_file(
        tmp_path / "roads.geojson", driver="GeoJSON"
    )
    gpd.GeoDataFrame({"use": pd.Series([], dtype=str)}, geometry=[], crs=CRS).to_file(
        tmp_path / "b.gpkg"
    )
    pd.DataFrame({"x": [], "y": [], "kind": []}).to_csv(tmp_path / "s.csv", index=False)
    assert _problems(
        tmp_path,
        {
            "units": {"path": "units.gpkg", "id_column": "uid"},
            "roads": {"path": "roads.geojson", "class_column": "hw"},
            "buildings": {"path": "b.gpkg", "type_column": "use"},
            "stations": {
                "path": "s.csv",
                "x_column": "x",
                "y_column": "y",
                "crs": CRS,
                "kind_column": "kind",
            },
        },
    ) == [
        "inputs.roads: roads.geojson has no features (空图层); leave inputs.roads out when there are no roads (the "
        "indicators that need them are then NaN, with the reason), or point path: at the file that has them",
        "inputs.buildings: b.gpkg has no features (空图层); leave inputs.buildings out when there are no buildings "
        "(the indicators that need them are then NaN, with the reason), or point path: at the file that has them",
        "inputs.stations: s.csv has no features (空图层); leave inputs.stations out when there are no stations (the "
        "indicators that need them are then NaN, with the reason), or point path: at the file that has them",
    ]


def test_geometry_type_must_fit_the_layer(tmp_path):
    gdf(UNIT_ROWS).to_file(tmp_path / "units.gpkg")
    gdf([{"k": "metro", "geometry": box(0, 0, 50, 50)}]).to_file(tmp_path / "s.gpkg")
    assert _problems(
        tmp_path,
        {
            "roads": {"path": "units.gpkg", "class_column": "nm"},  # the units file named as roads
            "stations": {"path": "s.gpkg", "kind_column": "k"},
        },
    ) == [
        "inputs.roads: units.gpkg holds polygons, but roads must be lines: give road centre lines (道路中心线); "
        "road-area polygons (道路面) are not read",
        "inputs.stations: s.gpkg holds polygons, but stations must be points: give points: turn polygons into "
        "points first (QGIS: Vector › Geometry Tools › Point on Surface)",
    ]


def test_roads_need_a_class_and_pois_a_category(tmp_path):
    gdf(ROADS).to_file(tmp_path / "roads.gpkg")
    gdf([{"nm": "某小学", "geometry": point(10, 10)}]).to_file(tmp_path / "p.gpkg")
    gdf([{"amenity": "school", "geometry": point(10, 10)}]).to_file(tmp_path / "osm_p.gpkg")
    problems = _problems(tmp_path, {"roads": {"path": "roads.gpkg"}, "pois": {"path": "p.gpkg"}})
    assert problems[0].startswith("inputs.roads.class_column: a roads layer needs class_column")
    assert problems[1].startswith(
        "inputs.pois: p.gpkg has neither category_column nor OSM tag columns ("
    )
    assert "amenity" in problems[1] and len(problems) == 2
    # tag-style POIs (an OSM export: amenity, shop … columns) need no category column
    assert _problems(tmp_path, {"pois": {"path": "osm_p.gpkg"}}) == []


def test_named_columns_come_from_the_model_fields():
    cfg = parse_config(
        {
            "name": "c",
            "inputs": {
                "parcels": {
                    "path": str(UNITS),
                    "code_column": "c",
                    "far_column": "f",
                    "x_column": "x",
                }
            },
        },
        base_dir=ROOT,
    )
    # every field ending in _column that is set; x_column only counts for a CSV or Excel table
    assert named_columns(cfg.inputs.parcels) == {"code_column": "c", "far_column": "f"}


def test_postgis_layers_are_not_read_at_check_config(tmp_path):
    cfg = parse_config(
        {
            "name": "c",
            "database": {"url": "postgresql://nobody@127.0.0.1:1/none"},
            "inputs": {"roads": {"table": "public.roads", "class_column": "no_such"}},
        },
        base_dir=tmp_path,
    )
    assert (
        check_layers(cfg).problems == []
    )  # no connection is made; the run checks the table when it reads it


def test_unreadable_files_and_text_are_problems_with_their_key(tmp_path):
    (tmp_path / "roads.gpkg").write_bytes(b"not a geopackage at all")
    (tmp_path / "p.csv").write_bytes(
        "名称,x,y\n".encode("utf-16")
    )  # no encoding ditan tries decodes it
    problems = _problems(
        tmp_path,
        {
            "roads": {"path": "roads.gpkg", "class_column": "hw"},
            "pois": {
                "path": "p.csv",
                "x_column": "x",
                "y_column": "y",
                "crs": CRS,
                "category_column": "名称",
            },
        },
    )
    assert problems[0].startswith(
        "inputs.roads.path: could not read roads.gpkg: the file is damaged"
    )
    assert problems[1].startswith("inputs.pois.encoding: the text of p.csv does not decode cleanly")
    assert len(problems) == 2


def test_require_layers_raises_every_problem(tmp_path):
    from ditan.pipelines.config.layer_checks import require_layers

    gdf(ROADS).to_file(tmp_path / "roads.gpkg")
    cfg = parse_config(
        {
            "name": "c",
            "inputs": {
                "roads": {"path": "roads.gpkg", "class_column": "hwy", "name_column": "nme"}
            },
        },
        base_dir=tmp_path,
    )
    with pytest.raises(
        ConfigError,
        match=r"(?s)^2 problem\(s\) in c\.yaml:\n  - inputs\.roads\.name_column: 'nme' is not a column of "
        r"roads\.gpkg \(it has hw, nm\); did you mean 'nm'\?\n  - inputs\.roads\.class_column: 'hwy' .*'hw'\?$",
    ):
        require_layers(cfg, source="c.yaml")


def test_batch_check_config_lists_the_layer_problems_of_every_area(tmp_path, capsys):
    gdf(UNIT_ROWS).to_file(tmp_path / "units.gpkg")
    gdf(ROADS).to_file(tmp_path / "roads.gpkg")
    area = {
        "name": "a",
        "inputs": {
            "units": {"path": "units.gpkg", "id_column": "uid"},
            "roads": {"path": "roads.gpkg", "class_column": "hw"},
        },
    }
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(area), encoding="utf-8")
    batch = {
        "name": "b",
        "areas": [
            {"config": "a.yaml", "name": "good"},
            {
                "config": "a.yaml",
                "name": "bad",
                "overrides": {"inputs.roads.class_column": "klass"},
            },
        ],
    }
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(batch), encoding="utf-8")
    assert main(["check-config", str(tmp_path / "b.yaml")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "1 problem(s) with its areas' layers (nothing was run)" in err
    assert (
        "areas.1 (bad, a.yaml): inputs.roads.class_column: 'klass' is not a column of roads.gpkg"
        in err
    )
    (tmp_path / "b.yaml").write_text(
        yaml.safe_dump({**batch, "areas": batch["areas"][:1]}), encoding="utf-8"
    )
    assert main(["check-config", str(tmp_path / "b.yaml")]) == 0
