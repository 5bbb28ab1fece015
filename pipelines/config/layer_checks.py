"""The input layers of a valid config, checked from their schemas before any work (check-config, every command).

For each file layer: the named ``layer:`` (or Excel sheet) exists, every column the config names (each field of the
layer's model ending in ``_column``, so columns added to the models later are covered too) is a column of it, it has
features, its geometry type fits its role (units, parcels and buildings polygons; roads lines; stations and POIs
points), a roads layer has class_column and a POI layer a category column or OSM tag columns. Only the schema is
read — pyogrio.read_info for what GDAL reads, the Parquet schema and row count, the header row of a CSV or an Excel
sheet — never the features. PostGIS layers (table:, sql:) are not checked: check-config does not connect to the
database; the run checks them when it reads them.

Every problem is reported at once, each with its key path (``inputs.parcels.code_column: 'land_use_code' is not a
column of parcels.gpkg …; did you mean 'landuse_code'?``).

An empty layer is refused: a placeholder file with no features is no evidence that there are no roads or no
stations, and a run would either leave its indicators NaN for a reason the user did not intend or, for stations and
POIs, count zero of everything. Leaving the key out says the same thing plainly.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ditan.pipelines.config.layer_source import LayerSource
from ditan.spatial.errors import ConfigError, DitanError

if TYPE_CHECKING:
    from ditan.pipelines.config.schema import Config

__all__ = ["Findings", "LayerSchema", "check_layers", "layer_schema", "require_layers"]

#: the geometry each input must have (stations and POIs are read as points; polygons and lines would be dropped)
ROLE_GEOMETRY = {
    "units": "polygon",
    "parcels": "polygon",
    "buildings": "polygon",
    "roads": "line",
    "pois": "point",
    "stations": "point",
}
#: what each input is, in messages (for "leave inputs.X out when there are no …")
ROLE_NAME = {
    "units": "units",
    "parcels": "land-use parcels",
    "buildings": "buildings",
    "roads": "roads",
    "pois": "POIs",
    "stations": "stations",
}
_FAMILY = {
    "point": ("Point", "MultiPoint"),
    "line": ("LineString", "MultiLineString", "CircularString", "CompoundCurve", "MultiCurve"),
    "polygon": ("Polygon", "MultiPolygon", "CurvePolygon", "MultiSurface", "Triangle", "TIN",
                "PolyhedralSurface"),
}  # fmt: skip
_PLURAL = {"point": "points", "line": "lines", "polygon": "polygons"}
_FIX = {
    "polygon": "give polygons (boundaries 边界面)",
    "line": "give road centre lines (道路中心线); road-area polygons (道路面) are not read",
    "point": "give points: turn polygons into points first (QGIS: Vector › Geometry Tools › Point on Surface)",
}
#: the run's DBF encoding detection reads the whole file; check-config reads its header and first records only
DBF_PREFIX_BYTES = 1 << 20
CSV_PREFIX_BYTES = 1 << 16
TABLES = (".csv", ".xlsx", ".xlsm", ".xls")


class _Unreadable(Exception):
    """The schema of a layer could not be read (the message says why and what to do)."""


@dataclass
class LayerSchema:
    """What a file layer holds, read without its features."""

    source: str  # the file (and layer or sheet) as named in messages
    columns: list[str]
    geometry: str | None  # point, line or polygon; None: unknown or mixed (not checked)
    features: int | None  # None: not known without reading the features
    layers: list[str] = field(default_factory=list)  # the layers (sheets) of a multi-layer file
    layer: str | None = None  # the layer read


@dataclass
class Findings:
    """Problems (each ``(key path, message)``; any one stops the command) and notes (shown, not stopping)."""

    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def message(self, source: str) -> str:
        lines = [f"  - {k}: {m}" if k else f"  - {m}" for k, m in self.problems]
        return f"{len(lines)} problem(s) in {source}:\n" + "\n".join(lines)


def check_layers(cfg: Config, *, land_sale: bool = True) -> Findings:
    """Every problem of the config's file layers (inputs.*, and land_sale.parcels unless ``land_sale`` is False)."""
    found = Findings()
    layers: dict[str, LayerSource] = {
        f"inputs.{k}": src for k, src in cfg.inputs.vector_layers().items()
    }
    if land_sale and cfg.land_sale is not None:
        layers["land_sale.parcels"] = cfg.land_sale.parcels
    tag_keys: list[str] | None = None
    for key, src in layers.items():
        if src.path is None:  # PostGIS: checked when read (check-config does not connect)
            continue
        role = key.split(".")[1]
        try:
            schema = layer_schema(src, role)
        except _Unreadable as exc:
            found.problems.append(
                (f"{key}.{exc.args[1]}" if len(exc.args) > 1 else key, str(exc.args[0]))
            )
            continue
        if role == "pois" and src.category_column is None and tag_keys is None:
            tag_keys = _tag_keys(cfg)
        _check_one(found, key, role, src, schema, tag_keys or [])
    return found


def require_layers(cfg: Config, *, source: str, land_sale: bool = True) -> list[str]:
    """Raise ConfigError listing every problem of :func:`check_layers`; return its notes as ``key: text`` lines."""
    found = check_layers(cfg, land_sale=land_sale)
    if found.problems:
        raise ConfigError(found.message(source))
    return [f"{k}: {m}" for k, m in found.notes]


def named_columns(src: LayerSource) -> dict[str, str]:
    """The columns the config names for a layer: field → column, from every field of its model ending in _column.

    geometry_column (PostGIS only) is not a column of a file; x_column and y_column count only for a CSV or Excel
    table (a GDAL format carries its own geometry and the reader ignores them).
    """
    table = src.path is not None and src.path.suffix.lower() in TABLES
    return {
        name: value
        for name in type(src).model_fields
        if name.endswith("_column")
        and name != "geometry_column"
        and (table or name not in ("x_column", "y_column"))
        and isinstance(value := getattr(src, name), str)
    }


def _check_one(
    found: Findings, key: str, role: str, src: LayerSource, schema: LayerSchema, tag_keys: list[str]
) -> None:
    problems = found.problems
    if len(schema.layers) > 1 and src.layer is None:
        kind = "sheets" if src.path is not None and src.path.suffix.lower() in TABLES else "layers"
        found.notes.append(
            (key, f"{src.label} has {len(schema.layers)} {kind} ({_listing(schema.layers)}); the first, "
             f"'{schema.layer}', is read — name the one to read with layer:")
        )  # fmt: skip
    if role == "roads" and src.class_column is None:
        dxf = src.path is not None and src.path.suffix.lower() == ".dxf"
        problems.append(
            (f"{key}.class_column", "a roads layer needs class_column, the column of the road class (OSM highway "
             "values: primary, residential …, or 快速路, 主干路, 次干路, 支路)"
             + ("; in a DXF the CAD layer name: class_column: Layer" if dxf else ""))
        )  # fmt: skip
    # an empty layer: its columns and geometry type say nothing (an empty GeoJSON has neither)
    if schema.features == 0:
        what = ROLE_NAME[role]
        fix = (
            "check the boundary file (or leave inputs.units out to derive blocks from the roads with `ditan units`)"
            if role == "units"
            else f"leave {key} out when there are no {what} (the indicators that need them are then NaN, with the "
            "reason), or point path: at the file that has them"
        )
        problems.append((key, f"{schema.source} has no features (空图层); {fix}"))
        return
    have = set(schema.columns)
    for name, column in named_columns(src).items():
        if column not in have:
            problems.append((f"{key}.{name}", _not_a_column(column, schema)))
    want = ROLE_GEOMETRY[role]
    if schema.geometry is not None and schema.geometry != want:
        problems.append(
            (key, f"{schema.source} holds {_PLURAL[schema.geometry]}, but {ROLE_NAME[role]} must be "
             f"{_PLURAL[want]}: {_FIX[want]}")
        )  # fmt: skip
    if role == "pois" and src.category_column is None and not have & set(tag_keys):
        problems.append(
            (key, f"{schema.source} has neither category_column nor OSM tag columns ({_listing(sorted(tag_keys))}) to "
             "tell each POI's category; set category_column: to the column naming it (category id, Chinese name or "
             "alias of the catalogue)")
        )  # fmt: skip


def _not_a_column(column: str, schema: LayerSchema) -> str:
    text = f"'{column}' is not a column of {schema.source} (it has {_listing(schema.columns) or 'no columns'})"
    close = [c for c in schema.columns if c.lower() == column.lower()] or difflib.get_close_matches(
        column, schema.columns, n=1, cutoff=0.5
    )
    if not close:  # case apart (a Shapefile's LANDUSE for landuse_code)
        lower = {c.lower(): c for c in schema.columns}
        close = [lower[c] for c in difflib.get_close_matches(column.lower(), list(lower), n=1)]
    return text + (f"; did you mean '{close[0]}'?" if close else "")


def _listing(names: list[str], first: int = 12) -> str:
    shown = ", ".join(map(str, names[:first]))
    return f"{shown}, … ({len(names)} in all)" if len(names) > first else shown


def _tag_keys(cfg: Config) -> list[str]:
    """The OSM tag keys the life-circle catalogue matches POIs on (amenity, shop, leisure …)."""
    from ditan.spatial.standards.catalogue import load_catalogue

    lc = cfg.life_circle
    try:
        cat = load_catalogue(
            lc.catalogue,
            tier_distances_m=lc.tiers_m,
            extra_categories=[c.model_dump() for c in lc.extra_categories],
            extend_categories=[c.model_dump() for c in lc.extend_categories],
        )
    except (OSError, ValueError):  # a broken catalogue is reported by the run
        return []
    entries = [*cat.categories.values(), *cat.amenities.values()]
    return sorted(
        {k for c in entries for rule in c.match for k in rule} - {"name_regex", "min_area_m2"}
    )


# ─────────────────────────────────────────────────────────────────────── reading the schema of one file layer
def layer_schema(src: LayerSource, role: str) -> LayerSchema:
    """The columns, geometry type, feature count and layers of a file layer, without reading its features.

    ``role``: the input key (roads, parcels …), for messages. Raises _Unreadable(message, field) when the file, its
    layer or sheet cannot be read.
    """
    assert src.path is not None
    path, suffix = src.path, src.path.suffix.lower()
    try:
        if suffix == ".csv":
            return _csv_schema(src, role)
        if suffix in (".xlsx", ".xlsm", ".xls"):
            return _excel_schema(src)
        if suffix in (".parquet", ".geoparquet"):
            return _parquet_schema(path)
        return _gdal_schema(src, role)
    except _Unreadable:
        raise
    except DitanError as exc:  # text in none of the encodings tried (the reader's message)
        raise _Unreadable(str(exc).removeprefix(f"layer '{role}': "), "encoding") from None
    except Exception as exc:  # driver errors come in many types; the message says what to do
        raise _Unreadable(
            f"could not read {path.name}: the file is damaged, truncated or not of a supported kind ({exc}); export it "
            "again (GeoPackage, Shapefile, GeoJSON, GeoParquet or CSV)",
            "path",
        ) from None


def _family(geometry_type: str | None) -> str | None:
    if not geometry_type:
        return None
    base = geometry_type.replace("3D ", "").split(" ")[
        0
    ]  # "MultiPolygon Z", "3D LineString", "Point M"
    return next((f for f, names in _FAMILY.items() if base in names), None)


def _gdal_schema(src: LayerSource, role: str) -> LayerSchema:
    import pyogrio

    from ditan.spatial.io.vector import _detect_dbf_encoding

    path = src.path
    assert path is not None
    encoding = src.encoding
    if encoding is None and path.suffix.lower() in (
        ".shp",
        ".dbf",
    ):  # as the run reads it (no .cpg: detected)
        encoding = _detect_dbf_encoding(path, role, DBF_PREFIX_BYTES)
    names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    if src.layer is not None and src.layer not in names:
        close = difflib.get_close_matches(src.layer, names, n=1, cutoff=0.6)
        raise _Unreadable(
            f"{path.name} has no layer '{src.layer}'; its layers are {_listing(names)}"
            + (f"; did you mean '{close[0]}'?" if close else ""),
            "layer",
        )
    layer = src.layer if src.layer is not None else (names[0] if names else None)
    info = pyogrio.read_info(path, layer=layer, **({"encoding": encoding} if encoding else {}))
    features = int(info.get("features", -1))
    return LayerSchema(
        source=f"{path.name} layer '{layer}'" if len(names) > 1 else path.name,
        columns=[str(c) for c in info["fields"]],
        geometry=_family(info.get("geometry_type")),
        features=features if features >= 0 else None,
        layers=names,
        layer=layer,
    )


def _parquet_schema(path: Path) -> LayerSchema:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    meta = pf.schema_arrow.metadata or {}
    geo = json.loads(meta.get(b"geo", b"{}"))
    index = json.loads(meta.get(b"pandas", b"{}")).get("index_columns", [])
    # a named pandas index is restored as the index, not as a column, when the run reads the file
    hidden = set(geo.get("columns", {})) | {c for c in index if isinstance(c, str)}
    types = geo.get("columns", {}).get(geo.get("primary_column"), {}).get("geometry_types", [])
    families = {_family(t) for t in types}
    return LayerSchema(
        source=path.name,
        columns=[c for c in pf.schema_arrow.names if c not in hidden],
        geometry=families.pop() if len(families) == 1 else None,
        features=pf.metadata.num_rows,
    )


def _csv_schema(src: LayerSource, role: str) -> LayerSchema:
    """The header (and whether there is a first row) of a CSV, in the encoding the run reads it in."""
    from ditan.spatial.io.vector import detect_encoding

    path = src.path
    assert path is not None
    with open(path, "rb") as f:
        head = f.read(CSV_PREFIX_BYTES)
    if len(head) == CSV_PREFIX_BYTES and b"\n" in head:
        head = head[
            : head.rindex(b"\n") + 1
        ]  # whole lines only (no multi-byte character cut in two)
    encoding = src.encoding
    if encoding is None:
        if head.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8-sig"
        else:
            encoding = (detect_encoding(head, role, path.name) or "utf-8").lower()
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError:
        raise _Unreadable(
            f"{path.name} is not {encoding} text as the config says; set the right encoding:, or remove encoding: "
            "to let ditan detect it (UTF-8, GB18030, Big5)",
            "encoding",
        ) from None
    except LookupError:
        raise _Unreadable(
            f"'{encoding}' is not an encoding name; use e.g. utf-8, gbk, gb18030, big5", "encoding"
        ) from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, [])
    first = next(rows, None)
    return LayerSchema(
        source=path.name, columns=header, geometry="point", features=1 if first else 0
    )


def _excel_schema(src: LayerSource) -> LayerSchema:
    """The header row of the sheet (default the first) as the run reads it (pandas, openpyxl read-only)."""
    import pandas as pd

    path = src.path
    assert path is not None
    try:
        book = pd.ExcelFile(path)
    except ImportError:
        raise _Unreadable(
            f"{path.name} is an old Excel .xls file and no .xls reader (xlrd) is installed; save it as .xlsx in Excel "
            "(另存为 .xlsx) or as CSV",
            "path",
        ) from None
    with book:
        sheets = [str(s) for s in book.sheet_names]
        if src.layer is not None and src.layer not in sheets:
            close = difflib.get_close_matches(src.layer, sheets, n=1, cutoff=0.6)
            raise _Unreadable(
                f"{path.name} has no sheet '{src.layer}'; its sheets are {_listing(sheets)}"
                + (f"; did you mean '{close[0]}'?" if close else ""),
                "layer",
            )
        sheet = src.layer if src.layer is not None else sheets[0]
        df = pd.read_excel(book, sheet_name=sheet, nrows=1)
    return LayerSchema(
        source=f"{path.name} sheet '{sheet}'" if len(sheets) > 1 else path.name,
        columns=[str(c) for c in df.columns],
        geometry="point",
        features=len(df),
        layers=sheets,
        layer=sheet,
    )
