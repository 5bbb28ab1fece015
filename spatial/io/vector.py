"""Vector file readers: every format GDAL reads (GeoPackage, GeoJSON, Shapefile, File Geodatabase, DXF, KML …), GeoParquet, and CSV or Excel tables with coordinates."""

from __future__ import annotations

import os
import re
import unicodedata
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ditan.spatial.crs.china import SYSTEM_NAMES, check_coordinates, china_system, to_wgs84
from ditan.spatial.errors import CRSError, LayerError
from ditan.spatial.io.validate import UNUSABLE_XY

__all__ = ["read_vector", "declare_crs"]

#: encodings tried, in order, when a CSV or a Shapefile without .cpg declares none: (Python codec, label)
DETECT_ENCODINGS = (("utf-8", "UTF-8"), ("gb18030", "GB18030"), ("big5", "Big5"))


def read_vector(
    path: str | os.PathLike,
    *,
    layer_name: str,
    layer: str | None = None,
    crs: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read one layer; ``crs`` declares the data's coordinate system (overriding a file's own).

    ``crs`` may also be 'gcj02' or 'bd09' (Chinese web-map coordinates, any case): the coordinates are
    then read as degrees in that system and converted to WGS 84 (EPSG:4326). The coordinates are
    checked against the CRS (:func:`ditan.spatial.crs.china.check_coordinates`). The result's
    ``attrs["source_crs"]`` names the CRS the data was read in ('gcj02', 'bd09', or the CRS string).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".dwg":
        raise LayerError(
            f"layer '{layer_name}': {path.name} is an AutoCAD DWG drawing, which cannot be read (DWG 无法读取); "
            "save it as DXF in CAD (另存为 DXF) and point path: at the .dxf (roads from DXF: class_column: Layer)"
        )
    try:
        if suffix == ".csv":
            gdf = _read_csv(path, layer_name, x_column, y_column, encoding)
        elif suffix in (".xlsx", ".xlsm", ".xls"):
            gdf = _read_excel(path, layer_name, layer, x_column, y_column)
        elif suffix in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(path)
        else:
            detected = None
            if encoding is None and suffix in (".shp", ".dbf"):
                encoding = detected = _detect_dbf_encoding(path, layer_name)
            gdf = _read_fixing_rings(path, layer, encoding)
            if detected and detected != "UTF-8":  # UTF-8, the default expected, is not noted
                gdf.attrs["encoding_detected"] = detected
    except LayerError:
        raise
    except Exception as exc:  # driver errors come in many types; the message says what to do
        raise LayerError(
            f"layer '{layer_name}': could not read {path}: the file is damaged, truncated or not of a supported kind ({exc}); "
            "export it again (GeoPackage, Shapefile, GeoJSON, GeoParquet or CSV)"
        ) from exc
    detected = gdf.attrs.get("encoding_detected")
    out = declare_crs(
        gdf,
        crs,
        layer_name=layer_name,
        source=path.name,
        source_crs="the file's CRS",
        fix="fix the file's CRS (.prj / GeoPackage SRS)",
    )
    if detected:
        out.attrs["encoding_detected"] = detected
    return out


def declare_crs(
    gdf: gpd.GeoDataFrame,
    crs: str | None,
    *,
    layer_name: str,
    source: str,
    source_crs: str,
    fix: str,
    no_crs_fix: str = "",
) -> gpd.GeoDataFrame:
    """Apply the config's ``crs`` to data read with its own CRS (or none), and check the coordinates against it.

    Shared by the file and the database readers: ``source`` names where the data came from (a file
    name, a table), ``source_crs`` its own CRS in words, ``fix`` how to mend that CRS, and
    ``no_crs_fix`` an extra hint when there is none. 'gcj02' / 'bd09' are converted to WGS 84. The
    result's ``attrs["source_crs"]`` names the CRS the data was read in.
    """
    system = china_system(crs)
    if system is not None:
        if gdf.crs is not None and not CRS.from_user_input(gdf.crs).is_geographic:
            own = CRS.from_user_input(gdf.crs)
            raise LayerError(
                f"layer '{layer_name}': the config says crs: {system} ({SYSTEM_NAMES[system]}, longitude/latitude in degrees) "
                f"but {source} carries its own projected CRS {own.name} ({own.to_string()}); they contradict each other. "
                f"Remove crs: {system} to use {source_crs}, or {fix} if the data really is {system}"
            )
        gdf = gdf.set_crs(4326, allow_override=True) if gdf.crs is None else gdf
        check_coordinates(gdf, layer_name, declared=system)
        return to_wgs84(gdf, system)
    if crs is not None:
        gdf = gdf.set_crs(crs, allow_override=True)
    if gdf.crs is None:
        raise CRSError(
            f"layer '{layer_name}' ({source}) has no coordinate system; declare it in the config: crs: EPSG:4326 "
            f"(or the CRS it is in){no_crs_fix}"
        )
    check_coordinates(gdf, layer_name, declared=crs)
    gdf.attrs["source_crs"] = crs if crs is not None else CRS.from_user_input(gdf.crs).to_string()
    return gdf


def _read_fixing_rings(
    path: Path, layer: str | None, encoding: str | None = None
) -> gpd.GeoDataFrame:
    """Read with GDAL, closing unclosed polygon rings; ``attrs["rings_closed"]`` counts them (rings, not features)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kw = {"encoding": encoding} if encoding else {}
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio", on_invalid="fix", **kw)
    closed = [w for w in caught if "Non closed ring" in str(w.message)]
    for w in caught:
        if w not in closed:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    gdf.attrs["rings_closed"] = len(closed)
    return gdf


def _detect_dbf_encoding(path: Path, layer_name: str, max_bytes: int = -1) -> str | None:
    """The encoding of a Shapefile's DBF text when it has no .cpg: None when there is a .cpg or the text is ASCII.

    ``max_bytes``: read at most this much of the DBF (its header and first records; check-config), -1: all of it.
    """
    if path.with_suffix(".cpg").exists() or path.with_suffix(".CPG").exists():
        return None
    dbfs = (path.with_suffix(".dbf"), path.with_suffix(".DBF"))
    dbf = next((p for p in dbfs if p.exists()), None)
    if dbf is None:
        return None
    with open(dbf, "rb") as f:
        raw = f.read(max_bytes)
    if len(raw) < 32:
        return None
    n_records = int.from_bytes(raw[4:8], "little")
    header_len = int.from_bytes(raw[8:10], "little")
    record_len = int.from_bytes(raw[10:12], "little")
    names, spans, start = [], [], 1  # each record begins with its deletion flag
    for o in range(32, header_len - 31, 32):
        if raw[o] == 0x0D:
            break
        names.append(raw[o : o + 11].split(b"\0")[0])
        length = raw[o + 16]
        # text fields only: numbers and dates are ASCII, binary fields are not text
        if raw[o + 11 : o + 12] == b"C":
            spans.append((start, start + length))
        start += length
    n = min(n_records, max(len(raw) - header_len, 0) // max(record_len, 1))
    records = np.frombuffer(raw, dtype=np.uint8, count=n * record_len, offset=header_len)
    records = records.reshape(n, record_len) if record_len else records.reshape(0, 0)
    text = b"\n".join(names + [records[:, a:b].tobytes() for a, b in spans]).replace(b"\0", b" ")
    return detect_encoding(text, layer_name, dbf.name)


def detect_encoding(raw: bytes, layer_name: str, source: str) -> str | None:
    """The first of DETECT_ENCODINGS that decodes ``raw`` cleanly (None for ASCII), else a LayerError naming them.

    Cleanly: no decoding error, no private-use, unassigned or control characters (other than tab and
    line ends), no kana, and — for GB18030, which accepts most Big5 byte pairs — at least 80 % of the
    Chinese characters within GB 2312 (the simplified characters of everyday text); Big5 text read as
    GB18030 falls well below that.
    """
    if raw.isascii():
        return None
    for enc, label in DETECT_ENCODINGS:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if _clean(text, label):
            return label
    raise LayerError(
        f"layer '{layer_name}': the text of {source} does not decode cleanly as any of "
        f"{', '.join(label for _, label in DETECT_ENCODINGS)} (编码无法识别); set encoding: in the config "
        "(e.g. encoding: gbk, encoding: big5, encoding: cp1252)"
    )


def _clean(text: str, label: str) -> bool:
    chars = set(text) - set("\t\r\n\x1a")  # \x1a ends a DBF
    if any(unicodedata.category(c) in ("Co", "Cn", "Cc", "Cs") for c in chars):
        return False
    if any("\u3040" <= c <= "\u30ff" for c in chars):  # kana: Big5 bytes read as GBK symbols
        return False
    if label == "GB18030":
        han = [c for c in text if "\u4e00" <= c <= "\u9fff"]
        if han:
            in_gb2312 = sum(1 for c in han if _encodes(c, "gb2312"))
            return in_gb2312 >= 0.8 * len(han)
    return True


def _encodes(c: str, enc: str) -> bool:
    try:
        c.encode(enc)
    except UnicodeEncodeError:
        return False
    return True


def _read_excel(
    path: Path, layer_name: str, sheet: str | None, x: str | None, y: str | None
) -> gpd.GeoDataFrame:
    """An Excel point table: the sheet ``sheet`` (default the first), points from columns ``x`` and ``y``."""
    try:
        book = pd.ExcelFile(path)
    except ImportError as exc:
        raise LayerError(
            f"layer '{layer_name}': {path.name} is an old Excel .xls file and no .xls reader (xlrd) is installed; "
            "save it as .xlsx in Excel (另存为 .xlsx) or as CSV"
        ) from exc
    with book:
        if sheet is not None and sheet not in book.sheet_names:
            raise LayerError(
                f"layer '{layer_name}': {path.name} has no sheet '{sheet}'; its sheets are {', '.join(book.sheet_names)} (set layer: to one)"
            )
        df = pd.read_excel(book, sheet_name=sheet if sheet is not None else 0)
    df.columns = [str(c) for c in df.columns]
    return _points(df, path, layer_name, x, y)


def _read_csv(
    path: Path, layer_name: str, x: str | None, y: str | None, encoding: str | None
) -> gpd.GeoDataFrame:
    detected = None
    if encoding is None:
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8-sig"
        else:
            encoding = detected = detect_encoding(raw, layer_name, path.name) or "utf-8"
    try:
        df = pd.read_csv(path, encoding=encoding)
    except UnicodeDecodeError as exc:
        raise LayerError(
            f"layer '{layer_name}': {path.name} is not {encoding} text as the config says (encoding: {encoding}); "
            "set the right encoding:, or remove encoding: to let ditan detect it (UTF-8, GB18030, Big5)"
        ) from exc
    except LookupError as exc:
        raise LayerError(
            f"layer '{layer_name}': encoding: {encoding} is not an encoding name; use e.g. utf-8, gbk, gb18030, big5"
        ) from exc
    gdf = _points(df, path, layer_name, x, y)
    if detected and detected != "UTF-8":  # UTF-8, the default expected, is not noted
        gdf.attrs["encoding_detected"] = detected
    return gdf


def _points(
    df: pd.DataFrame, path: Path, layer_name: str, x: str | None, y: str | None
) -> gpd.GeoDataFrame:
    if not (x and y):
        raise LayerError(
            f"layer '{layer_name}': {path.name} is a table; name its coordinate columns with x_column and y_column (and crs)"
        )
    missing = [c for c in (x, y) if c not in df.columns]
    if missing:
        raise LayerError(
            f"layer '{layer_name}': {path.name} has no column(s) {', '.join(map(str, missing))}; it has {', '.join(df.columns)}"
        )
    xs = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    geometry = shapely.points(np.where(bad, 0.0, xs), np.where(bad, 0.0, ys))
    # no point for those rows: clean_geometries drops them with the reason below (not POINT (NaN NaN), kept)
    geometry[bad] = None
    out = gpd.GeoDataFrame(df, geometry=geometry, crs=None)
    if bad.any():
        out.attrs[UNUSABLE_XY] = {
            "count": int(bad.sum()),
            "reason": unusable_xy_reason(df, x, y, np.flatnonzero(bad)),
        }
    return out


_PAIR_IN_ONE_CELL = re.compile(r"^\s*[-+]?\d+(\.\d+)?\s*[,;，、\s]\s*[-+]?\d+(\.\d+)?\s*$")


def unusable_xy_reason(df: pd.DataFrame, x: str, y: str, rows: np.ndarray) -> str:
    """The ledger reason of a table's rows whose x or y is empty or not a number, with the first few as examples.

    Rows are numbered as a spreadsheet shows them (the header is row 1).
    """

    def cell(v: object) -> str:
        if v is None or (not isinstance(v, str) and bool(pd.isna(v))):
            return "empty"
        text = str(v)
        return repr(text if len(text) <= 40 else text[:40] + "…")

    examples = []
    pair = False
    for i in rows[:3]:
        vx, vy = df[x].iloc[i], df[y].iloc[i]
        examples.append(f"row {i + 2}: {cell(vx)}, {cell(vy)}")
        pair = pair or any(isinstance(v, str) and _PAIR_IN_ONE_CELL.match(v) for v in (vx, vy))
    more = " …" if len(rows) > 3 else ""
    hint = "; x and y in one cell? split it into two columns" if pair else ""
    return (
        f"coordinates missing or not numbers 坐标缺失或非数字 (x_column {x}, y_column {y}; "
        f"{'; '.join(examples)}{more}){hint}"
    )
