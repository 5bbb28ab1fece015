"""GeoPackages that open styled in QGIS: styles in ``layer_styles``, Chinese field aliases in ``gpkg_data_columns``.

- **Styles** are QGIS 3 QML documents (with an SLD 1.1 twin for other software) in the ``layer_styles`` table QGIS reads
  and writes itself; the row with ``useAsDefault`` is applied when the layer is added. The units of communities.gpkg get a
  graduated renderer per main indicator (the run's ``map.color_by`` is the default): five classes of equal counts
  (quantiles of the unit values, :func:`quantile_breaks`) in the web map's palettes, and a grey dashed class
  无法评估 not assessable for a unit whose value is NaN (QGIS draws nothing for NULL in a graduated renderer, so the
  renderer classifies ``coalesce("column", NOT_ASSESSABLE_VALUE)``). The other layers (service areas by facility
  category, land use in GB 50137 colours) get a categorised renderer (:mod:`ditan.pipelines.outputs.gpkg_layers`).
- **Aliases** (GeoPackage Schema extension, ``gpkg_schema``): a row per field in ``gpkg_data_columns`` — ``name`` the
  alias QGIS shows (Chinese name and unit, unique in the table as the standard requires), ``title`` the Chinese name,
  ``description`` the English name and method. GDAL (≥ 3.3) reads ``name`` as the field's alternative name, which QGIS
  shows as its alias; the QML carries the same aliases for older versions.

Written with sqlite3 into a GeoPackage pyogrio has just written (inside its atomic write), dated FIXED_TIME.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

# the web map's palettes (YlGnBu; YlOrRd emissions, YlOrBr solar), its no-data grey and label
from ditan.maps.style import NODATA_COLOR, NOT_ASSESSABLE_LABEL, class_colors, palette_of
from ditan.pipelines.outputs import qgis_sld, xlsx_style
from ditan.spatial.standards.registry import Indicator

#: the value a NaN (NULL) unit is classified by: below every indicator's range
NOT_ASSESSABLE_VALUE = -1_000_000_000
CLASSES = 5
#: categories of the service areas: ColorBrewer Paired (12), repeated past twelve
QUALITATIVE = (
    "#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928",
    "#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99",
)  # fmt: skip
QGIS_VERSION = "3.34.0-Prizren"
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
NO_UNIT = ("", "count", "ratio", "yes/no")


@dataclass(frozen=True)
class Alias:
    name: str  # what QGIS shows: Chinese name (unit); unique within a table
    title: str  # Chinese name
    description: str  # English name and method


@dataclass(frozen=True)
class Style:
    name: str
    qml: str
    sld: str
    default: bool
    description: str


@dataclass
class Dress:
    """What a layer wears: an alias per field and its styles (the first default)."""

    aliases: dict[str, Alias]
    styles: list[Style] = field(default_factory=list)


#: a layer's dress from the frame written (columns as in the file)
Dresser = Callable[[gpd.GeoDataFrame], Dress]


def quantile_breaks(values: Sequence[float] | np.ndarray, k: int = CLASSES) -> list[float]:
    """Class breaks of equal counts: the 0, 1/k … 1 quantiles of the finite values (numpy's linear method).

    Ties are merged; one value gives one class [v, v]; no finite value gives [].
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return []
    b = np.unique(np.quantile(v, np.linspace(0.0, 1.0, k + 1)))
    return [float(x) for x in b] if b.size > 1 else [float(b[0]), float(b[0])]


def aliases(
    frame: pd.DataFrame,
    columns: dict[str, Indicator],
    zh: dict[str, str] | None = None,
    en: dict[str, str] | None = None,
) -> dict[str, Alias]:
    """An alias per field (geometry aside): Chinese name from ``zh``, the xlsx headers or the registry, with its unit."""
    out: dict[str, Alias] = {}
    seen: set[str] = set()
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    for col in (str(c) for c in frame.columns if c != geometry):
        name_zh = (zh or {}).get(col) or xlsx_style.zh_name(col, columns) or col
        unit = xlsx_style.unit_of(col, columns)
        label = name_zh if unit in NO_UNIT else f"{name_zh} ({unit})"
        if label in seen:  # gpkg_data_columns: (table_name, name) is unique
            label = f"{label} [{col}]"
        seen.add(label)
        ind = columns.get(col)
        description = (
            f"{ind.en}: {ind.method}"
            if ind is not None and ind.method
            else (ind.en if ind else (en or {}).get(col, col))
        )
        out[col] = Alias(label, name_zh, description)
    return out


def _rgba(hex_colour: str, alpha: int = 255) -> str:
    h = hex_colour.lstrip("#")
    return ",".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4)) + f",{alpha}"


def _fill_symbol(
    parent: ET.Element,
    name: str,
    fill: str,
    *,
    outline: str = "#333333",
    width: float = 0.26,
    alpha: int = 255,
    dashed: bool = False,
) -> None:
    """A QGIS fill symbol of one SimpleFill layer, its properties in both the QGIS ≥ 3.18 (Option) and older (prop) forms."""
    sym = ET.SubElement(
        parent, "symbol", type="fill", name=name, alpha="1", clip_to_extent="1", force_rhr="0"
    )
    layer = ET.SubElement(
        sym, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"}
    )
    props = {
        "color": _rgba(fill, alpha),
        "style": "solid",
        "outline_color": _rgba(outline),
        "outline_style": "dash" if dashed else "solid",
        "outline_width": f"{width:g}",
        "outline_width_unit": "MM",
        "joinstyle": "bevel",
        "offset": "0,0",
        "offset_unit": "MM",
    }
    opts = ET.SubElement(layer, "Option", type="Map")
    for k, v in props.items():
        ET.SubElement(opts, "Option", type="QString", name=k, value=v)
    for k, v in props.items():
        ET.SubElement(layer, "prop", k=k, v=v)


def _qml(renderer: ET.Element, alias_map: dict[str, Alias]) -> str:
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology|Fields|Legend")
    root.append(renderer)
    al = ET.SubElement(root, "aliases")
    for i, (col, a) in enumerate(alias_map.items()):
        ET.SubElement(al, "alias", field=col, index=str(i), name=a.name)
    ET.SubElement(root, "layerGeometryType").text = "2"  # polygon
    return DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


def _decimals(unit: str) -> int:
    code = xlsx_style.number_format(unit) or "0.00"
    return len(code.split(".")[1]) if "." in code else 0


def graduated(
    column: str, values: np.ndarray, alias_map: dict[str, Alias], unit: str, *, default: bool
) -> Style | None:
    """A graduated style of ``column`` in quantile classes, or None when the column has no finite value."""
    breaks = quantile_breaks(values)
    if not breaks:
        return None
    n = len(breaks) - 1
    colours = class_colors(
        n, palette_of(column)
    )  # n ≤ CLASSES: quantile_breaks gives at most 6 breaks
    p = _decimals(unit)
    suffix = "" if unit in NO_UNIT else f" {unit}"
    labels = [
        f"{lo:,.{p}f} – {hi:,.{p}f}{suffix}" for lo, hi in zip(breaks[:-1], breaks[1:], strict=True)
    ]
    expr = f'coalesce("{column}", {int(NOT_ASSESSABLE_VALUE)})'
    r = ET.Element(
        "renderer-v2",
        type="graduatedSymbol",
        attr=expr,
        graduatedMethod="GraduatedColor",
        symbollevels="0",
        forceraster="0",
        enableorderby="0",
    )
    ranges = ET.SubElement(r, "ranges")
    symbols = ET.SubElement(r, "symbols")
    ET.SubElement(
        ranges,
        "range",
        lower=f"{NOT_ASSESSABLE_VALUE:.17g}",
        upper=f"{NOT_ASSESSABLE_VALUE:.17g}",
        symbol="0",
        label=NOT_ASSESSABLE_LABEL,
        render="true",
    )
    _fill_symbol(symbols, "0", NODATA_COLOR, outline="#555555", width=0.3, dashed=True)
    for i, (lo, hi, label, colour) in enumerate(
        zip(breaks[:-1], breaks[1:], labels, colours, strict=True), start=1
    ):
        ET.SubElement(
            ranges,
            "range",
            lower=f"{lo:.17g}",
            upper=f"{hi:.17g}",
            symbol=str(i),
            label=label,
            render="true",
        )
        _fill_symbol(symbols, str(i), colour)
    ramp = ET.SubElement(r, "colorramp", type="gradient", name="[source]")
    ramp_props = {
        "color1": _rgba(colours[0]),
        "color2": _rgba(colours[-1]),
        "discrete": "0",
        "rampType": "gradient",
    }
    ramp_opts = ET.SubElement(ramp, "Option", type="Map")
    for k, v in ramp_props.items():
        ET.SubElement(ramp_opts, "Option", type="QString", name=k, value=v)
        ET.SubElement(ramp, "prop", k=k, v=v)
    method = ET.SubElement(r, "classificationMethod", id="Quantile")
    ET.SubElement(method, "symmetricMode", enabled="0", symmetrypoint="0", astride="0")
    ET.SubElement(
        method, "labelFormat", format="%1 - %2", labelprecision=str(p), trimtrailingzeroes="0"
    )
    ET.SubElement(r, "mode", name="quantile")
    a = alias_map.get(column)
    title = a.name if a else column
    rules = [
        (lo, hi, label, colour)
        for lo, hi, label, colour in zip(breaks[:-1], breaks[1:], labels, colours, strict=True)
    ]
    return Style(
        name=f"{a.title if a else column} {column}",
        qml=_qml(r, alias_map),
        sld=qgis_sld.graduated(column, rules),
        default=default,
        description=f"{title}: {n} 类等数量分级 classes of equal counts (quantiles); 无法评估 NaN in grey",
    )


def categorized(
    column: str,
    values: Sequence[str],
    labels: dict[str, str],
    alias_map: dict[str, Alias],
    *,
    default: bool,
    colours: dict[str, str] | None = None,
    alpha: int = 77,
    outline: str | None = None,
) -> Style:
    """A categorised style of a text column: a fill (``alpha`` of 255) and an outline in one colour per value.

    ``colours``: value → colour, in that order (values it lacks follow, sorted, in QUALITATIVE colours);
    ``outline``: one outline colour for every class (default: the class's own).
    """
    present = {str(v) for v in values if isinstance(v, str)}
    cats = [v for v in (colours or {}) if v in present] + sorted(present - set(colours or {}))
    r = ET.Element(
        "renderer-v2",
        type="categorizedSymbol",
        attr=column,
        symbollevels="0",
        forceraster="0",
        enableorderby="0",
    )
    categories = ET.SubElement(r, "categories")
    symbols = ET.SubElement(r, "symbols")
    fill = [(colours or {}).get(v, QUALITATIVE[i % len(QUALITATIVE)]) for i, v in enumerate(cats)]
    for i, (v, colour) in enumerate(zip(cats, fill, strict=True)):
        label = f"{labels[v]} {v}" if v in labels else v
        ET.SubElement(categories, "category", value=v, symbol=str(i), label=label, render="true")
        _fill_symbol(symbols, str(i), colour, outline=outline or colour, width=0.4, alpha=alpha)
    a = alias_map.get(column)
    return Style(
        name=f"{a.title if a else column} {column}",
        qml=_qml(r, alias_map),
        sld=qgis_sld.categorized(
            column,
            [(v, labels.get(v, v), c) for v, c in zip(cats, fill, strict=True)],
            opacity=alpha / 255,
            outline=outline,
        ),
        default=default,
        description=f"按{a.title if a else column}分类 by {column}",
    )


# --- the layers of a run ------------------------------------------------------------------------------


def communities(columns: dict[str, Indicator], styled: Sequence[str]) -> Dresser:
    """The units' dress: an alias per field; a graduated style per column of ``styled`` present (the first default)."""

    def dress(frame: gpd.GeoDataFrame) -> Dress:
        al = aliases(frame, columns)
        out = Dress(al)
        for col in dict.fromkeys(styled):
            if (
                col in frame.columns
                and pd.api.types.is_numeric_dtype(frame[col].dtype)
                and not pd.api.types.is_bool_dtype(frame[col].dtype)
            ):
                s = graduated(
                    col,
                    frame[col].to_numpy(dtype=float),
                    al,
                    xlsx_style.unit_of(col, columns),
                    default=not out.styles,
                )
                if s is not None:
                    out.styles.append(s)
        return out

    return dress


# --- writing ----------------------------------------------------------------------------------------


LAYER_STYLES = """CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256),
  f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN,
  description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME DEFAULT CURRENT_TIMESTAMP)"""
DATA_COLUMNS = """CREATE TABLE IF NOT EXISTS gpkg_data_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT, mime_type TEXT,
  constraint_name TEXT, CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE (table_name, name))"""
CONSTRAINTS = """CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
  constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN,
  max NUMERIC, max_is_inclusive BOOLEAN, description TEXT, CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))"""
EXTENSIONS = """CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL,
  CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))"""
SCHEMA_EXTENSION = ("gpkg_schema", "http://www.geopackage.org/spec/#extension_schema", "read-write")


def dress_gpkg(path: Path, dresses: dict[str, Dress], *, when: str) -> None:
    """Write the aliases and styles of ``dresses`` (layer → Dress) into the GeoPackage at ``path``; ``when``: the date."""
    con = sqlite3.connect(path)
    try:
        with con:
            for ddl in (EXTENSIONS, DATA_COLUMNS, CONSTRAINTS, LAYER_STYLES):
                con.execute(ddl)
            for table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
                con.execute(
                    "INSERT OR IGNORE INTO gpkg_extensions VALUES (?, NULL, ?, ?, ?)",
                    (table, *SCHEMA_EXTENSION),
                )
            geometry = dict(
                con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall()
            )
            for layer, d in dresses.items():
                con.executemany(
                    "INSERT OR REPLACE INTO gpkg_data_columns VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                    [(layer, col, a.name, a.title, a.description) for col, a in d.aliases.items()],
                )
                con.executemany(
                    "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                    "styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, ?, ?, ?, '', '', ?)",
                    [
                        (
                            layer,
                            geometry.get(layer, "geom"),
                            s.name,
                            s.qml,
                            s.sld,
                            int(s.default),
                            s.description,
                            when,
                        )
                        for s in d.styles
                    ],
                )
            # registered as QGIS registers it (an attributes table), so GDAL and QGIS list and read it as a table
            n = con.execute("SELECT count(*) FROM layer_styles").fetchone()[0]
            con.execute(
                "INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS styles 图层样式', ?)",
                (when,),
            )
            if con.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'gpkg_ogr_contents'"
            ).fetchone():
                con.execute(
                    "INSERT OR REPLACE INTO gpkg_ogr_contents VALUES ('layer_styles', ?)", (n,)
                )
    finally:
        con.close()
