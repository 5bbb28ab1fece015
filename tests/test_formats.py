"""Formats and encodings: GBK shapefiles, Big5 CSV, Excel, File Geodatabase folders, DWG, DXF roads.

GBK shapefiles without .cpg, Big5 CSV, Excel point tables, File Geodatabase folders hashed in the
manifest, DWG refused, DXF roads by CAD layer.

Expectations are worked out apart from ditan: the Chinese names are the strings written; the counts are
the rows written; the folder hash is computed here with hashlib over the files listed by os.walk.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from ditan.pipelines.assemble.load import load_study_area
from ditan.pipelines.assemble.reading import _read
from ditan.pipelines.config.layer_source import LayerSource
from ditan.pipelines.config.schema import parse_config
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs.manifest import input_files
from ditan.spatial.errors import ConfigError, LayerError
from ditan.spatial.io.validate import Ledger
from ditan.spatial.io.vector import read_vector
from tests.conftest import CRS, box, gdf, line, point

NAMES = ["清华大学", "北京大学", "五道口地铁站"]
BIG5_NAMES = ["臺北市立圖書館", "國立臺灣大學", "捷運站"]


def _gbk_shapefile(tmp_path, keep_cpg=False):
    path = tmp_path / "parcels.shp"
    rows = [{"名称": n, "geometry": box(i * 100, 0, i * 100 + 90, 90)} for i, n in enumerate(NAMES)]
    pyogrio.write_dataframe(gdf(rows), path, encoding="GBK")
    cpg = path.with_suffix(".cpg")
    if cpg.exists() and not keep_cpg:
        cpg.unlink()
    return path


def test_gbk_shapefile_without_cpg_is_detected(tmp_path):
    path = _gbk_shapefile(tmp_path)
    assert not path.with_suffix(".cpg").exists()
    assert "清华".encode("gbk") in path.with_suffix(".dbf").read_bytes()  # really GBK on disk
    out = read_vector(path, layer_name="parcels")
    assert out["名称"].tolist() == NAMES
    assert out.attrs["encoding_detected"] == "GB18030"
    ledger = Ledger()
    src = LayerSource.model_validate({"path": str(path)}, context={"base_dir": tmp_path})
    _read(src, "parcels", ledger)
    assert "encoding detected: GB18030" in ledger.layer("parcels").note


@pytest.mark.parametrize(
    ("enc", "names", "noted"), [("big5", BIG5_NAMES, "Big5"), ("utf-8", NAMES, None)]
)
def test_big5_and_utf8_shapefiles_without_cpg(tmp_path, enc, names, noted):
    path = tmp_path / "p.shp"
    rows = [{"名": n, "geometry": point(i, 0)} for i, n in enumerate(names)]  # 名: in GBK and Big5
    pyogrio.write_dataframe(gdf(rows), path, encoding=enc)
    path.with_suffix(".cpg").unlink(missing_ok=True)
    assert names[0].encode(enc) in path.with_suffix(".dbf").read_bytes()
    out = read_vector(path, layer_name="p")
    assert out["名"].tolist() == names
    assert out.attrs.get("encoding_detected") == noted  # UTF-8, the default, is not noted


def test_gbk_shapefile_with_declared_encoding(tmp_path):
    path = _gbk_shapefile(tmp_path)
    out = read_vector(path, layer_name="parcels", encoding="gbk")
    assert out["名称"].tolist() == NAMES
    assert "encoding_detected" not in out.attrs


def test_shapefile_in_no_candidate_encoding_names_them(tmp_path):
    path = tmp_path / "bad.shp"
    pyogrio.write_dataframe(gdf([{"name": "x", "geometry": point(0, 0)}]), path)
    path.with_suffix(".cpg").unlink(missing_ok=True)
    dbf = path.with_suffix(".dbf")
    raw = dbf.read_bytes()
    dbf.write_bytes(raw.replace(b"x", b"\xff", 1) if raw.count(b"x") else raw)
    # the first 'x' in the DBF is the record value (field names are 'name'); 0xFF starts no character
    # in UTF-8, GB18030 or Big5
    with pytest.raises(LayerError, match=r"layer 'bad'.*UTF-8, GB18030, Big5.*set encoding:"):
        read_vector(path, layer_name="bad")


def _csv_bytes(path, names, enc):
    lines = ["name,lon,lat"] + [f"{n},116.3{i},40.0{i}" for i, n in enumerate(names)]
    path.write_bytes("\n".join(lines).encode(enc))


def test_big5_csv_is_detected(tmp_path):
    path = tmp_path / "pois.csv"
    _csv_bytes(path, BIG5_NAMES, "big5")
    out = read_vector(path, layer_name="pois", x_column="lon", y_column="lat", crs="EPSG:4326")
    assert out["name"].tolist() == BIG5_NAMES
    assert out.attrs["encoding_detected"] == "Big5"


def test_gb18030_csv_is_detected(tmp_path):
    path = tmp_path / "pois.csv"
    _csv_bytes(path, NAMES, "gb18030")
    out = read_vector(path, layer_name="pois", x_column="lon", y_column="lat", crs="EPSG:4326")
    assert out["name"].tolist() == NAMES
    assert out.attrs["encoding_detected"] == "GB18030"


def test_csv_declared_wrongly_names_the_declared_encoding(tmp_path):
    path = tmp_path / "pois.csv"
    _csv_bytes(path, NAMES, "gb18030")
    with pytest.raises(LayerError, match=r"not utf-8 text.*encoding: utf-8.*remove encoding:"):
        read_vector(path, layer_name="pois", x_column="lon", y_column="lat", encoding="utf-8")


def test_csv_undecodable_names_the_candidates(tmp_path):
    path = tmp_path / "pois.csv"
    path.write_bytes(b"name,lon,lat\n\xff\xff,116.3,40.0\n")
    with pytest.raises(LayerError, match=r"layer 'pois'.*UTF-8, GB18030, Big5.*set encoding:"):
        read_vector(path, layer_name="pois", x_column="lon", y_column="lat")


def _small(tmp_path, stations):
    gdf([{"code": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    gdf([{"kind": "residential", "geometry": line((0, 500), (1000, 500))}]).to_file(
        tmp_path / "roads.gpkg"
    )
    return parse_config(
        {
            "name": "fmt",
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "code"},
                "roads": {"path": "roads.gpkg", "class_column": "kind"},
                "stations": stations,
            },
        },
        base_dir=tmp_path,
    )


def test_xlsx_station_table(tmp_path):
    pts = gdf(
        [
            {"名称": "甲", "geometry": point(200, 510)},
            {"名称": "乙", "geometry": point(500, 510)},
            {"名称": "丙", "geometry": point(800, 510)},
        ]
    ).to_crs(4326)
    table = pd.DataFrame({"名称": pts["名称"], "经度": pts.geometry.x, "纬度": pts.geometry.y})
    with pd.ExcelWriter(tmp_path / "stations.xlsx") as xw:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(xw, sheet_name="说明", index=False)
        table.to_excel(xw, sheet_name="公交站", index=False)
    layer = {
        "path": "stations.xlsx",
        "layer": "公交站",
        "x_column": "经度",
        "y_column": "纬度",
        "crs": "EPSG:4326",
        "kind": "bus_stop",
        "name_column": "名称",
    }
    sa = load_study_area(_small(tmp_path, [layer]))
    assert len(sa.stations) == 3  # three rows written, 300 m apart: none merged
    assert sorted(sa.stations["name"]) == ["丙", "乙", "甲"]
    with pytest.raises(LayerError, match=r"no sheet '站点'.*说明, 公交站"):
        read_vector(
            tmp_path / "stations.xlsx",
            layer_name="stations",
            layer="站点",
            x_column="经度",
            y_column="纬度",
        )


def test_excel_needs_coordinate_columns(tmp_path):
    (tmp_path / "u.gpkg").touch()
    (tmp_path / "s.xlsx").touch()
    with pytest.raises(ConfigError, match="Excel layer needs x_column and y_column"):
        parse_config(
            {
                "name": "f",
                "inputs": {"units": {"path": "u.gpkg"}, "stations": [{"path": "s.xlsx"}]},
            },
            base_dir=tmp_path,
        )


def test_xls_without_reader_says_save_as_xlsx(tmp_path):
    if importlib.util.find_spec("xlrd") is not None:
        pytest.skip("xlrd is installed: .xls files are read")
    path = tmp_path / "stations.xls"
    path.write_bytes(
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    )  # an OLE2 (old Excel) header
    with pytest.raises(LayerError, match=r"layer 'stations'.*\.xls.*save it as \.xlsx"):
        read_vector(path, layer_name="stations", x_column="x", y_column="y")


def test_filegdb_folder_is_read_and_hashed(tmp_path):
    if "w" not in pyogrio.list_drivers().get("OpenFileGDB", ""):
        pytest.skip(
            "the installed GDAL cannot write File Geodatabases (OpenFileGDB driver read-only)"
        )
    gdb = tmp_path / "plan.gdb"
    parcels = gdf([{"用地代码": "R2", "geometry": box(0, 0, 500, 500)}])
    pyogrio.write_dataframe(parcels, gdb, layer="parcels", driver="OpenFileGDB")
    pyogrio.write_dataframe(
        gdf([{"code": "A", "geometry": box(0, 0, 1000, 1000)}]),
        gdb,
        layer="units",
        driver="OpenFileGDB",
    )
    assert gdb.is_dir()
    out = read_vector(gdb, layer_name="parcels", layer="parcels")
    assert out["用地代码"].tolist() == ["R2"] and out.geometry.area.iloc[0] == pytest.approx(
        250_000
    )

    h = hashlib.sha256()  # independent: os.walk, sorted relative paths
    rel = sorted(
        os.path.relpath(os.path.join(d, f), gdb).replace(os.sep, "/")
        for d, _, fs in os.walk(gdb)
        for f in fs
    )
    for r in rel:
        h.update(r.encode() + b"\0")
        h.update((gdb / r).read_bytes())
    assert write.file_sha256(gdb) == h.hexdigest()

    cfg = parse_config(
        {
            "name": "g",
            "inputs": {
                "units": {"path": "plan.gdb", "layer": "units"},
                "parcels": {"path": "plan.gdb", "layer": "parcels", "code_column": "用地代码"},
            },
        },
        base_dir=tmp_path,
    )
    hashes = {
        str(p): write.file_sha256(p) for p in input_files(cfg)
    }  # what run.py's manifest records
    assert hashes == {str(gdb): h.hexdigest()}


def test_dwg_says_save_as_dxf(tmp_path):
    path = tmp_path / "roads.dwg"
    path.write_bytes(b"AC1032" + b"\0" * 100)
    (tmp_path / "u.gpkg").touch()
    with pytest.raises(LayerError, match=r"layer 'roads'.*DWG.*save it as DXF"):
        read_vector(path, layer_name="roads")
    with pytest.raises(ConfigError, match="DWG.*save it as DXF"):
        parse_config(
            {"name": "d", "inputs": {"units": {"path": "u.gpkg"}, "roads": {"path": "roads.dwg"}}},
            base_dir=tmp_path,
        )


def test_dxf_roads_by_cad_layer(tmp_path):
    path = tmp_path / "roads.dxf"
    roads = gdf(
        [
            {"Layer": "primary", "geometry": line((0, 300), (1000, 300))},
            {"Layer": "residential", "geometry": line((0, 700), (1000, 700))},
            {"Layer": "residential", "geometry": line((500, 0), (500, 1000))},
        ]
    )
    pyogrio.write_dataframe(roads, path, driver="DXF")
    gdf([{"code": "A", "geometry": box(0, 0, 1000, 1000)}]).to_file(tmp_path / "units.gpkg")
    cfg = parse_config(
        {
            "name": "dxf",
            "inputs": {
                "units": {"path": "units.gpkg", "id_column": "code"},
                "roads": {"path": "roads.dxf", "class_column": "Layer", "crs": CRS},
            },
        },
        base_dir=tmp_path,
    )
    sa = load_study_area(cfg)
    r = sa.roads
    assert isinstance(r, gpd.GeoDataFrame)
    cls = next(c for c in ("highway", "class", "kind") if c in r.columns)
    lengths = r.assign(len_m=r.geometry.length).groupby(cls)["len_m"].sum()
    assert lengths["primary"] == pytest.approx(1000, abs=1)  # one 1 km primary line
    assert lengths["residential"] == pytest.approx(2000, abs=1)  # two 1 km residential lines
