"""Writing a run's outputs.

A run writes all its files into a hidden staging folder beside the output folder
(``.<name>.<pid>.<random>.partial``); only when every file is complete does the staging folder
replace the output folder, with SIGINT and SIGTERM held back for the two renames. One run at a time
writes an output folder (a file lock). The folder, its lock and its staging are in
:mod:`ditan.pipelines.outputs.staging` (re-exported here); single files (``ditan units``) are
written under a temporary name and renamed (``atomic_path``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

from ditan.pipelines.outputs import qgis_styles
from ditan.pipelines.outputs import xlsx_style as style
from ditan.pipelines.outputs.staging import atomic_path
from ditan.spatial.io.inert import csv_frame, xlsx_cell
from ditan.spatial.standards.registry import Indicator

CSV_DECIMALS = 4
#: the date written where a file format insists on one (xlsx properties, zip entries, GeoPackage contents)
FIXED_TIME = dt.datetime(2000, 1, 1)


def write_text(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_csv(path: Path, df: pd.DataFrame) -> None:
    """UTF-8 with BOM (so Excel on Chinese Windows reads it), fixed decimals, no index surprises.

    Text is inert (ditan.spatial.io.inert.csv_cell): a text cell starting with = + - @ tab or CR is prefixed
    with ``'`` and loses its control characters; numbers are written as numbers.
    """
    with atomic_path(path) as tmp:
        csv_frame(df.round(CSV_DECIMALS)).to_csv(tmp, encoding="utf-8-sig", lineterminator="\n")


def xlsx_row(ws: Worksheet, values: Iterable[object]) -> list[object]:
    """One row for ``ws.append``: NaN as an empty cell, numpy scalars as Python ones, every str a string cell.

    openpyxl takes a str starting with ``=`` for a formula and refuses control characters: a text is written
    as a typed string cell (never a formula) without its control characters (ditan.spatial.io.inert.xlsx_cell).
    """
    row: list[object] = []
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and v != v:
            row.append(None)
        elif isinstance(v, str):
            # a position (replaced on append) keeps a write-only sheet's repr of the cell from failing
            cell = Cell(ws, row=1, column=1)
            cell.value = xlsx_cell(v)
            cell.data_type = "s"  # a string, whatever its first character
            row.append(cell)
        else:
            row.append(v)
    return row


def write_xlsx(
    path: Path,
    indicators: pd.DataFrame,
    columns: dict[str, Indicator],
    quality: pd.DataFrame,
    *,
    extra_sheets: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Sheet 指标 with a Chinese and an English header row (with units), plus quality, column notes and extra sheets.

    Written with XlsxWriter, rows streamed to the file (a city's table of a million cells in a few seconds): every
    text a string cell (never a formula or a link, without its control characters: ditan.spatial.io.inert.xlsx_cell),
    NaN an empty cell. Styled (ditan.pipelines.outputs.xlsx_style): a number format per unit, widths, frozen headers,
    a filter, 达标/未达标/无法评估 colours; every other sheet has one bilingual header row (``中文 english_name``).
    """
    import xlsxwriter

    table = indicators.reset_index()
    heads = [columns[c] if c in columns else Indicator(c, c, c) for c in table.columns]
    with atomic_path(path) as tmp:
        wb = xlsxwriter.Workbook(
            str(tmp),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        wb.set_properties(
            {"created": FIXED_TIME}
        )  # no run time inside a table (the manifest has it)
        styles = style.Styles(wb)
        ws = wb.add_worksheet("指标 indicators")
        zh = [h.zh for h in heads]
        en = [
            f"{h.en} ({h.unit})" if h.unit and h.unit not in ("count", "ratio") else h.en
            for h in heads
        ]
        frame = table.round(CSV_DECIMALS)
        style.layout(ws, styles, frame, [zh, en], columns, freeze_cols=2)
        _xlsx_rows(ws, [zh, en], styles.header)
        _xlsx_frame(ws, frame, first=2)
        notes = pd.DataFrame(
            [[i.id, i.zh, i.en, i.unit, i.method, i.source] for i in columns.values()],
            columns=["id", "name_zh", "name_en", "unit", "method", "source"],
        )
        sheets = {"数据质量 data quality": quality, "指标说明 columns": notes}
        sheets |= extra_sheets or {}
        for title, sheet in sheets.items():
            if title not in ("数据质量 data quality", "指标说明 columns"):
                sheet = sheet.reset_index(drop=sheet.index.name is None)
            _xlsx_sheet(wb.add_worksheet(title[:31]), sheet, columns, styles)  # 31: Excel's limit
        wb.close()
        redate_zip(tmp)  # XlsxWriter dates its save time with "created" already


def _xlsx_sheet(ws, frame: pd.DataFrame, columns: dict[str, Indicator], styles) -> None:
    """A sheet of one bilingual header row (``中文 english_name``), styled, then the rows."""
    head = [style.bilingual(str(c), columns) for c in frame.columns]
    style.layout(ws, styles, frame, [head], columns, freeze_cols=1)
    style.colour_rules(ws, styles, frame, first=1)
    _xlsx_rows(ws, [head], styles.header)
    rows = frame.astype(object).to_numpy().tolist()
    _xlsx_rows(ws, rows, first=1, row_formats=style.row_formats(frame, styles))


def _xlsx_rows(
    ws,
    rows: Iterable[Iterable[object]],
    fmt=None,
    *,
    first: int = 0,
    row_formats: list[dict[int, object]] | None = None,
) -> None:
    """Rows of Python values from row ``first``: str a string cell, a number a number, None / NaN nothing.

    ``fmt``: every cell's format (None: its column's); ``row_formats``: per row, formats of some columns.
    """
    for r, values in enumerate(rows, first):
        fmts = row_formats[r - first] if row_formats is not None else None
        for c, v in enumerate(values):
            f = fmts.get(c, fmt) if fmts else fmt
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, str):
                ws.write_string(r, c, xlsx_cell(v), f)
            elif isinstance(v, bool):
                ws.write_boolean(r, c, v, f)
            elif isinstance(v, int | float):
                if v == v and abs(v) != float("inf"):
                    ws.write_number(r, c, v, f)
            elif v is not None and not (isinstance(v, float) and v != v) and v is not pd.NA:
                ws.write_string(r, c, xlsx_cell(str(v)), f)


def _xlsx_frame(ws, frame: pd.DataFrame, *, first: int) -> None:
    """A table's rows from row ``first``, row by row (XlsxWriter's constant-memory mode writes rows in order)."""
    _xlsx_rows(ws, frame.astype(object).to_numpy().tolist(), first=first)


def fix_zip_times(path: Path) -> None:
    """Rewrite a zip (xlsx) with every entry, and the workbook's save time, dated FIXED_TIME.

    openpyxl stamps ``dcterms:modified`` with the time of saving; equal content must give equal bytes.
    """
    import re
    import zipfile

    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as src:
        entries = [(i, src.read(i.filename)) for i in src.infolist()]
    entries = [
        (
            i,
            re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(<)", rb"\g<1>" + stamp + rb"\g<2>", d)
            if i.filename == "docProps/core.xml"
            else d,
        )
        for i, d in entries
    ]
    with zipfile.ZipFile(path, "w") as dst:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, data)


def redate_zip(path: Path) -> None:
    """Date every entry of a zip FIXED_TIME in place, nothing recompressed (a city's workbook: ms, not a second).

    The DOS time and date of each local header and central directory entry are overwritten.

    For a zip whose content holds no time (XlsxWriter's, given ``created``); :func:`fix_zip_times` rewrites content too.
    """
    import struct
    import zipfile

    t = FIXED_TIME
    stamp = struct.pack(
        "<HH",
        (t.hour << 11) | (t.minute << 5) | (t.second // 2),
        ((t.year - 1980) << 9) | (t.month << 5) | t.day,
    )
    with zipfile.ZipFile(path) as z:
        offsets = [i.header_offset for i in z.infolist()]
        start_dir = getattr(z, "start_dir", None)
    if start_dir is None:  # not this zipfile's layout: the slow way
        fix_zip_times(path)
        return
    with open(path, "r+b") as f:
        for at in offsets:  # local file header: PK\3\4, version, flags, method, then time and date
            f.seek(at)
            if f.read(4) != b"PK\x03\x04":
                raise ValueError(f"{path}: no local file header at {at}")
            f.seek(at + 10)
            f.write(stamp)
        f.seek(start_dir)
        # central directory entry: PK\1\2, made by, version, flags, method, then time and date
        for _ in offsets:
            head = f.read(46)
            if head[:4] != b"PK\x01\x02":
                raise ValueError(f"{path}: no central directory entry at {f.tell() - 46}")
            f.seek(-34, 1)
            f.write(stamp)
            name, extra, comment = struct.unpack("<HHH", head[28:34])
            f.seek(30 + name + extra + comment, 1)


@contextmanager
def _gdal_date(when: dt.datetime) -> Iterator[None]:
    """GDAL's GeoPackage driver stamps gpkg_contents.last_change with OGR_CURRENT_DATE when set."""
    old = os.environ.get("OGR_CURRENT_DATE")
    os.environ["OGR_CURRENT_DATE"] = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OGR_CURRENT_DATE", None)
        else:
            os.environ["OGR_CURRENT_DATE"] = old


def write_gpkg(
    path: Path,
    layers: dict[str, gpd.GeoDataFrame],
    *,
    dress: dict[str, Callable[[gpd.GeoDataFrame], qgis_styles.Dress]] | None = None,
) -> None:
    """One GeoPackage with a layer per entry, written atomically; a named index is written as a column.

    ``dress``: layer → a function of the frame written giving its QGIS styles and Chinese field aliases
    (ditan.pipelines.outputs.qgis_styles), written into ``layer_styles`` and ``gpkg_data_columns`` before the rename.
    Not from two threads at once: GDAL reads the fixed date from the process environment.
    """
    with atomic_path(path) as tmp, _gdal_date(FIXED_TIME):
        dressed = {}
        for i, (name, gdf) in enumerate(layers.items()):
            frame = gdf.reset_index() if gdf.index.name is not None else gdf
            frame.to_file(
                tmp, layer=name, driver="GPKG", engine="pyogrio", mode="w" if i == 0 else "a"
            )
            if dress and name in dress:
                dressed[name] = dress[name](frame)
        if dressed:
            qgis_styles.dress_gpkg(tmp, dressed, when=FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


def json_safe(value: object) -> object:
    """``value`` for strict JSON: NaN and infinities as None, numpy scalars and arrays as Python values, keys as text."""
    if isinstance(value, dict):
        return {_json_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_key(key: object) -> object:
    key = key.item() if isinstance(key, np.generic) else key
    return key if isinstance(key, str | int | bool) or key is None else str(key)


def write_json(path: Path, data: dict) -> None:
    """Strict JSON (RFC 8259): no NaN or Infinity (written as null); other objects (paths, dates) as text."""
    text = json.dumps(json_safe(data), ensure_ascii=False, indent=2, default=str, allow_nan=False)
    write_text(path, text + "\n")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder (a File Geodatabase ``.gdb``).

    A folder's hash covers each file under it in sorted order: its relative path (POSIX form, UTF-8,
    then a NUL) before its content.
    """
    h = hashlib.sha256()
    path = Path(path)
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode("utf-8") + b"\0")
            _update(h, f)
    else:
        _update(h, path)
    return h.hexdigest()


def _update(h: hashlib._Hash, path: Path) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
