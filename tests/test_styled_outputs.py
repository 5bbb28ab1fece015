"""Files that open styled: indicators.xlsx, the GeoPackages' QGIS styles and aliases, the Shapefile export.

indicators.xlsx (formats, widths, filters, frozen headers, colours, Chinese headers),
communities.gpkg / service_areas.gpkg (QGIS styles in layer_styles, Chinese aliases in gpkg_data_columns) and
``ditan export --shapefile`` (≤ 10-character field names with a mapping table).

Expectations are worked out independently: class breaks with numpy's own quantiles of the values read back from the
file, number formats from the unit → format table of the issue written out by hand, aliases from the registry entries.
"""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import box

from ditan.pipelines.config.schema import load_config
from ditan.pipelines.outputs import files as write
from ditan.pipelines.outputs import qgis_styles
from ditan.pipelines.outputs.shapefile import export_shapefile, short_names
from ditan.spatial.standards.registry import Indicator, indicator

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pipelines" / "configs" / "beijing_haidian.yaml"
CJK = re.compile(r"[\u4e00-\u9fff]")
NA = qgis_styles.NOT_ASSESSABLE_VALUE


@pytest.fixture(scope="module")
def cfg():
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def out(beijing_run):
    """The run of the sample (once for the session, conftest.py): read only."""
    return beijing_run


def _rows(path: Path, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _fields(path: Path, layer: str) -> list[str]:
    return [str(f) for f in pyogrio.read_info(path, layer=layer)["fields"]]


# --- GeoPackage: layer_styles ----------------------------------------------------------------------------


def test_a_default_style_per_main_layer(out, cfg):
    communities = out.out_dir / "communities.gpkg"
    styles = _rows(
        communities,
        "SELECT f_table_name, f_geometry_column, styleName, useAsDefault, styleQML FROM layer_styles",
    )
    assert {s[0] for s in styles} == {"communities", "landuse"} and len(styles) >= 6
    default = [s for s in styles if s[3] == 1 and s[0] == "communities"]
    assert len(default) == 1 and cfg.map.color_by in default[0][2]
    assert (
        ET.fromstring(default[0][4]).find("renderer-v2").get("attr")
        == f'coalesce("{cfg.map.color_by}", {NA})'
    )
    assert {s[1] for s in styles} == {
        _rows(
            communities,
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = 'communities'",
        )[0][0]
    }
    areas = out.out_dir / "service_areas.gpkg"
    layers = [n for n, g in pyogrio.list_layers(areas) if g is not None]
    rows = _rows(areas, "SELECT f_table_name, useAsDefault, styleQML FROM layer_styles")
    assert sorted(r[0] for r in rows if r[1] == 1) == sorted(layers) and len(layers) == 4
    for layer, _, qml in rows:
        r = ET.fromstring(qml).find("renderer-v2")
        assert r.get("type") == "categorizedSymbol" and r.get("attr") == "category"
        values = {c.get("value") for c in r.iter("category")}
        assert values == set(gpd.read_file(areas, layer=layer)["category"])
    # registered as QGIS registers it, and the table has QGIS's columns
    assert _rows(
        communities, "SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'"
    ) == [("attributes",)]
    cols = [r[1] for r in _rows(communities, "PRAGMA table_info(layer_styles)")]
    assert cols == ["id", "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
                    "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time"]  # fmt: skip


#: GB 50137-2011 classes and the colours customary in Chinese plans, written out by hand
GB50137_COLOURS = {
    "residential": ("R", "#FFFF2D"), "public_service": ("A", "#FF7FBF"), "commercial": ("B", "#FF0000"),
    "industrial": ("M/W", "#996633"), "transport": ("S", "#A6A6A6"), "utilities": ("U", "#0070C0"),
    "park": ("G1", "#00C000"), "green": ("G2", "#007F3F"), "plaza": ("G3", "#D9D9D9"),
    "water": ("E1", "#7FDFFF"), "agriculture": ("E2", "#BFFF7F"),
}  # fmt: skip


def test_land_use_layer_in_gb50137_colours(out):
    """communities.gpkg's landuse layer: the land use the shares were computed from, one class colour each."""
    path = out.out_dir / "communities.gpkg"
    lu = gpd.read_file(path, layer="landuse")
    assert len(lu) == len(out.study.landuse) and set(lu["lu_class"]) == set(
        out.study.landuse["lu_class"]
    )
    assert np.allclose(lu["area_m2"], out.study.landuse.geometry.area, rtol=1e-9)
    assert np.allclose(lu.geometry.area, lu["area_m2"], rtol=1e-9)
    for cls, (code, _) in GB50137_COLOURS.items():
        assert set(lu.loc[lu["lu_class"] == cls, "gb50137"]) <= {code}
    [(qml, sld)] = _rows(
        path, "SELECT styleQML, styleSLD FROM layer_styles WHERE f_table_name = 'landuse'"
    )
    r = ET.fromstring(qml).find("renderer-v2")
    assert r.get("type") == "categorizedSymbol" and r.get("attr") == "lu_class"
    symbols = {s.get("name"): s for s in r.iter("symbol")}
    seen = {}
    for c in r.iter("category"):
        colour = next(
            o.get("value")
            for o in symbols[c.get("symbol")].iter("Option")
            if o.get("name") == "color"
        )
        seen[c.get("value")] = colour
        assert CJK.search(c.get("label")), c.get("label")
    assert set(seen) == set(lu["lu_class"])
    for cls, rgba in seen.items():
        if cls in GB50137_COLOURS:
            h = GB50137_COLOURS[cls][1].lstrip("#")
            assert rgba.split(",")[:3] == [str(int(h[i : i + 2], 16)) for i in (0, 2, 4)], cls
    assert "#FFFF2D".lower() in sld.lower() or "residential" not in seen
    # the SLD twin draws as the QML does: fill opacity the QML's alpha ÷ 255, stroke its outline
    qml_of = {}
    for c in r.iter("category"):
        opts = {o.get("name"): o.get("value") for o in symbols[c.get("symbol")].iter("Option")}
        rgba = [int(x) for x in opts["color"].split(",")]
        outline = "#" + "".join(f"{int(x):02x}" for x in opts["outline_color"].split(",")[:3])
        qml_of[c.get("value")] = (rgba[3] / 255, outline)
    sld_of = {}
    for rule in ET.fromstring(sld).iter("{http://www.opengis.net/se}Rule"):
        value = rule.find(".//{http://www.opengis.net/ogc}Literal").text
        p = {x.get("name"): x.text for x in rule.iter("{http://www.opengis.net/se}SvgParameter")}
        sld_of[value] = (float(p["fill-opacity"]), p["stroke"].lower())
    assert set(sld_of) == set(qml_of)
    for v, (opacity, stroke) in sld_of.items():
        assert opacity == pytest.approx(qml_of[v][0], abs=1e-6) and stroke == qml_of[v][1], v
    # land use: 200 of 255 opaque (0.784), outlined grey #666666 (not 0.3 and the fill's colour)
    assert {round(o, 3) for o, _ in sld_of.values()} == {0.784}
    assert {s for _, s in sld_of.values()} == {"#666666"}


def test_graduated_classes_are_quantiles_of_the_unit_values(out):
    path = out.out_dir / "communities.gpkg"
    units = gpd.read_file(path, layer="communities")
    checked = 0
    for name, qml, sld in _rows(
        path,
        "SELECT styleName, styleQML, styleSLD FROM layer_styles WHERE f_table_name = 'communities'",
    ):
        root = ET.fromstring(qml)  # the DOCTYPE line included
        assert root.tag == "qgis"
        ET.fromstring(sld)
        r = root.find("renderer-v2")
        assert r.get("type") == "graduatedSymbol"
        col = re.fullmatch(r'coalesce\("(\w+)", -1000000000\)', r.get("attr")).group(1)
        ranges = [
            (float(x.get("lower")), float(x.get("upper")), x.get("symbol"), x.get("label"))
            for x in r.iter("range")
        ]
        assert ranges[0][:2] == (NA, NA) and ranges[0][3] == "无法评估 not assessable"
        v = units[col].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        expected = np.unique(np.quantile(v, [0, 0.2, 0.4, 0.6, 0.8, 1.0])).tolist()
        expected = expected * 2 if len(expected) == 1 else expected  # one value: one class [v, v]
        got = [lo for lo, *_ in ranges[1:]] + [ranges[-1][1]]
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), name
        assert all(a[1] == b[0] for a, b in zip(ranges[1:], ranges[2:], strict=False))  # contiguous
        # every unit with a value falls in a class as QGIS tests it (lower ≤ v ≤ upper, the bounds as written)
        assert all(any(lo <= x <= hi for lo, hi, *_ in ranges[1:]) for x in v), name
        symbols = {s.get("name"): s for s in r.find("symbols")}
        assert set(symbols) == {x[2] for x in ranges}
        colours = [
            next(o.get("value") for o in symbols[x[2]].iter("Option") if o.get("name") == "color")
            for x in ranges
        ]
        assert len(set(colours)) == len(colours) and all(
            re.fullmatch(r"\d+,\d+,\d+,255", c) for c in colours
        )
        checked += 1
    assert checked >= 5


def test_quantile_breaks_by_hand():
    # numpy's linear quantile of n sorted values at q is at position (n - 1)·q: 0, 1 … 5 for six values
    assert qgis_styles.quantile_breaks([6, 1, 2, 3, 4, 5, np.nan]) == [1, 2, 3, 4, 5, 6]
    assert qgis_styles.quantile_breaks([0.0, 10.0]) == pytest.approx([0, 2, 4, 6, 8, 10])
    assert qgis_styles.quantile_breaks([3.0, 3.0, np.nan]) == [3.0, 3.0]
    assert qgis_styles.quantile_breaks([np.nan]) == []
    frame = gpd.GeoDataFrame({"x_pct": [np.nan, np.nan]}, geometry=[box(0, 0, 1, 1)] * 2, crs=4548)
    # nothing to classify: no style
    assert qgis_styles.communities({}, ["x_pct"])(frame).styles == []


# --- GeoPackage: gpkg_data_columns -------------------------------------------------------------------


def test_an_alias_per_field(out):
    for name in ("communities.gpkg", "service_areas.gpkg"):
        path = out.out_dir / name
        ext = _rows(
            path,
            "SELECT table_name, extension_name, scope FROM gpkg_extensions WHERE extension_name = 'gpkg_schema'",
        )
        assert sorted(ext) == [("gpkg_data_column_constraints", "gpkg_schema", "read-write"),
                               ("gpkg_data_columns", "gpkg_schema", "read-write")]  # fmt: skip
        for layer in (n for n, g in pyogrio.list_layers(path) if g is not None):
            rows = _rows(
                path,
                "SELECT column_name, name, title FROM gpkg_data_columns WHERE table_name = ?",
                layer,
            )
            assert sorted(r[0] for r in rows) == sorted(_fields(path, layer)), layer
            assert all(CJK.search(r[1]) and CJK.search(r[2]) for r in rows), [
                r for r in rows if not CJK.search(r[1])
            ]
            # (table_name, name) is unique in the standard
            assert len({r[1] for r in rows}) == len(rows)
    rows = dict(
        _rows(out.out_dir / "communities.gpkg", "SELECT column_name, name FROM gpkg_data_columns")
    )
    for col in ("road_density_km_per_km2", "green_space_ratio_pct", "floor_area_m2"):
        i = indicator(col)
        assert rows[col] == f"{i.zh} ({i.unit})"
    # a count: no unit in the alias
    assert rows["intersection_count"] == indicator("intersection_count").zh


def test_styled_geopackage_is_byte_identical_when_written_again(tmp_path):
    frame = gpd.GeoDataFrame(
        {"unit_id": ["a", "b", "c"], "x_pct": [1.0, np.nan, 3.0]},
        geometry=[box(0, 0, 1, 1)] * 3,
        crs=4548,
    ).set_index("unit_id")
    cols = {"x_pct": Indicator("x_pct", "某指标", "something", unit="%")}
    for name in ("a.gpkg", "b.gpkg"):
        write.write_gpkg(
            tmp_path / name, {"u": frame}, dress={"u": qgis_styles.communities(cols, ["x_pct"])}
        )
    assert (tmp_path / "a.gpkg").read_bytes() == (tmp_path / "b.gpkg").read_bytes()
    assert dict(_rows(tmp_path / "a.gpkg", "SELECT column_name, name FROM gpkg_data_columns")) == {
        "unit_id": "单元编号",
        "x_pct": "某指标 (%)",
    }


# --- indicators.xlsx ------------------------------------------------------------------------------------

#: the unit → number format of the issue (% one decimal, km/km² two, counts whole, m² with thousands separators)
FORMATS = {"%": "0.0", "km/km²": "0.00", "count": "#,##0", "m²": "#,##0", "ratio": "0.00"}


@pytest.fixture(scope="module")
def workbook(out):
    return openpyxl.load_workbook(out.out_dir / "indicators.xlsx")


def test_number_formats_follow_the_unit(workbook, out):
    ws = workbook["指标 indicators"]
    heads = [c.value for c in ws[2]]
    table = out.result.indicators.reset_index()
    seen = set()
    for j, col in enumerate(table.columns):
        i = out.result.columns.get(col)
        if i is None or i.unit not in FORMATS or not pd.api.types.is_float_dtype(table[col].dtype):
            continue
        cells = [
            ws.cell(r, j + 1)
            for r in range(3, 3 + len(table))
            if ws.cell(r, j + 1).value is not None
        ]
        if not cells:  # every value NaN
            continue
        assert {c.number_format for c in cells} == {FORMATS[i.unit]}, (col, heads[j])
        seen.add(i.unit)
    assert seen == set(FORMATS)
    assert ws["A3"].number_format == "General" and ws["A3"].data_type == "s"  # ids stay text


def test_frozen_headers_filters_and_widths(workbook, out):
    n = len(out.result.indicators)
    ws = workbook["指标 indicators"]
    assert ws.freeze_panes == "C3"  # two header rows, id and name
    assert ws.auto_filter.ref == f"A2:{openpyxl.utils.get_column_letter(ws.max_column)}{n + 2}"
    name_width = ws.column_dimensions["B"].width
    assert name_width > 20  # Chinese names: two units a character
    for ws in workbook.worksheets[1:]:
        assert ws.freeze_panes == "B2", ws.title
        assert (
            ws.auto_filter.ref
            == f"A1:{openpyxl.utils.get_column_letter(ws.max_column)}{ws.max_row}"
        ), ws.title


def test_chinese_headers_on_every_sheet(workbook):
    expected = {"指标 indicators", "数据质量 data quality", "指标说明 columns", "无法评估 not_assessable", "碳盘查 carbon_inventory",
                "碳排放因子 carbon_factors", "达标核查 compliance", "达标汇总 compliance summary"}  # fmt: skip
    assert expected <= set(workbook.sheetnames)
    for ws in workbook.worksheets:
        head = [c.value for c in ws[1]]
        assert all(isinstance(h, str) and CJK.search(h) for h in head), (
            ws.title,
            [h for h in head if not CJK.search(str(h))],
        )
    q = [c.value for c in workbook["数据质量 data quality"][1]]
    assert q[:3] == ["图层 layer", "读入要素数 features_read", "保留数 kept"]
    c = [c.value for c in workbook["达标核查 compliance"][1]]
    assert "结果 status" in c and "测算值 measured" in c


def test_compliance_colours_and_per_row_formats(workbook):
    ws = workbook["达标核查 compliance"]
    head = [c.value for c in ws[1]]
    status, status_zh = head.index("结果 status") + 1, head.index("结果（中文） status_zh") + 1
    rules = {}
    for rng in ws.conditional_formatting:
        for rule in rng.rules:
            rules[(str(rng.sqref), rule.formula[0])] = rule.dxf.fill.bgColor.rgb
    letter = openpyxl.utils.get_column_letter
    for col, values in (
        (status, ("pass", "fail", "not_assessable")),
        (status_zh, ("达标", "未达标", "无法评估")),
    ):
        ref = f"{letter(col)}2:{letter(col)}{ws.max_row}"
        colours = [rules[(ref, f'"{v}"')] for v in values]
        assert [c[-6:] for c in colours] == ["C6EFCE", "FFC7CE", "FFEB9C"]  # green, red, amber
    assert {ws.cell(r, status).value for r in range(2, ws.max_row + 1)} <= {
        "pass",
        "fail",
        "not_assessable",
    }
    unit, measured = head.index("单位 unit") + 1, head.index("测算值 measured") + 1
    by_unit = {}
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, measured).value is not None:
            by_unit.setdefault(ws.cell(r, unit).value, set()).add(
                ws.cell(r, measured).number_format
            )
    assert by_unit["%"] == {"0.0"} and by_unit["count"] == {"#,##0"}
    summary = workbook["达标汇总 compliance summary"]
    refs = {str(r.sqref) for r in summary.conditional_formatting}
    fail = [c.value for c in summary[1]].index("约束性未达标 binding_fail") + 1
    assert f"{letter(fail)}2:{letter(fail)}{summary.max_row}" in refs


def test_workbook_zip_is_dated_and_sound(out):
    with zipfile.ZipFile(out.out_dir / "indicators.xlsx") as z:
        assert z.testzip() is None
        assert {i.date_time for i in z.infolist()} == {(2000, 1, 1, 0, 0, 0)}
        raw = (out.out_dir / "indicators.xlsx").read_bytes()
        for i in z.infolist():  # the local headers too (what the rewrite patches in place)
            assert raw[i.header_offset : i.header_offset + 4] == b"PK\x03\x04"
            # 00:00:00 is 0x0000; 2000-01-01 is (20 << 9) | (1 << 5) | 1 = 0x2821, both little-endian
            assert raw[i.header_offset + 10 : i.header_offset + 14] == bytes.fromhex("00002128")


# --- ditan export --shapefile -----------------------------------------------------------------------


def test_short_names_by_hand():
    names = short_names(["road_density_km_per_km2", "road_density_expressway_km_per_km2", "unit_id",
                         "abcdefghijk", "abcdefghijz", "ABC"])  # fmt: skip
    # names of ≤ 10 letters are kept first (unit_id, ABC); road·den·km·(per)·k2 joined without "_" as 12 > 10;
    # road·den·exp·km·k2 cut to ten; abc… keeps three letters, clashes with ABC (case-insensitive): abc1, abc2
    assert names == {
        "road_density_km_per_km2": "rddenkmk2",
        "road_density_expressway_km_per_km2": "rddenexpkm",
        "unit_id": "unit_id",
        "abcdefghijk": "abc1",
        "abcdefghijz": "abc2",
        "ABC": "ABC",
    }


@pytest.fixture(scope="module")
def shapefile(out, tmp_path_factory):
    return export_shapefile(out.out_dir, tmp_path_factory.mktemp("shp") / "export")


def test_shapefile_names_and_mapping_round_trip(out, shapefile):
    shp = shapefile.out / "communities.shp"
    fields = _fields(shp, "communities")
    assert all(len(f) <= 10 and f.isascii() for f in fields)
    assert len({f.lower() for f in fields}) == len(fields)
    m = pd.read_csv(shapefile.out / "field_map.csv", encoding="utf-8-sig", keep_default_na=False)
    assert list(m.columns) == ["short_name", "column", "name_zh", "unit", "name_en"]
    assert list(m["short_name"]) == fields
    gpkg = gpd.read_file(out.out_dir / "communities.gpkg", layer="communities")
    assert list(m["column"]) == [c for c in gpkg.columns if c != "geometry"]
    assert all(CJK.search(z) for z in m["name_zh"])
    row = m.set_index("column").loc["road_density_km_per_km2"]
    assert (row["unit"], row["name_zh"]) == ("km/km²", indicator("road_density_km_per_km2").zh)
    back = gpd.read_file(shp).rename(columns=dict(zip(m["short_name"], m["column"], strict=True)))
    assert back.crs.to_epsg() == gpkg.crs.to_epsg() == 4548
    assert (shapefile.out / "communities.cpg").read_text().strip() == "UTF-8"
    for col in m["column"]:
        a, b = back[col], gpkg[col]
        if pd.api.types.is_bool_dtype(b.dtype):
            assert a.astype(int).tolist() == b.astype(int).tolist(), col
        elif pd.api.types.is_numeric_dtype(b.dtype):
            assert np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12, equal_nan=True), (
                col
            )
        else:
            assert a.fillna("").astype(str).tolist() == b.fillna("").astype(str).tolist(), col
    assert np.allclose(back.geometry.area, gpkg.geometry.area)


def test_long_text_is_cut_at_a_character_and_counted(tmp_path):
    name = "很长的名称" * 20  # 100 characters, 300 bytes of UTF-8
    gpd.GeoDataFrame(
        {"unit_id": ["u1"], "name": [name]}, geometry=[box(0, 0, 1, 1)], crs=4548
    ).to_file(tmp_path / "communities.gpkg", layer="communities")
    done = export_shapefile(tmp_path / "communities.gpkg")
    # a communities.gpkg is a run's: the export goes beside the run folder, not into it
    assert done.out == tmp_path.parent / f"{tmp_path.name}_shapefile" and done.shortened == {
        "name": 1
    }
    got = gpd.read_file(done.out / "communities.shp")["name"][0]
    assert got == name[:84]  # 254 bytes hold 84 three-byte characters


def test_export_command(out, tmp_path, capsys):
    from ditan.pipelines.cli import main

    assert (
        main(
            [
                "export",
                "--shapefile",
                str(out.out_dir / "communities.gpkg"),
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 0
    )
    assert (tmp_path / "e" / "communities.shp").is_file() and (
        tmp_path / "e" / "communities.prj"
    ).is_file()
    assert main(["export", "--shapefile", str(tmp_path / "missing")]) == 2
    assert "not found: name a run's output folder" in capsys.readouterr().err
    assert (
        main(
            [
                "export",
                "--shapefile",
                str(out.out_dir / "service_areas.gpkg"),
                "--out",
                str(tmp_path / "f"),
            ]
        )
        == 2
    )
    assert "has no layer 'communities'" in capsys.readouterr().err
