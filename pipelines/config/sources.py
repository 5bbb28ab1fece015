"""The inputs of a run config: the OSM file, vector layers (files or PostGIS tables and queries), rasters, databases.

Re-exported by :mod:`ditan.pipelines.config.schema`. A vector layer is a file (``path``) or, in the config's
``database``, a table (``table``) or one SELECT (``sql`` with ``params`` bound by the server).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_serializer, field_validator, model_validator

from ditan.spatial.io.postgis import conninfo_parts, has_password, redact, split_table

log = logging.getLogger(__name__)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


def _resolve(v: Any, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir", Path.cwd())
    p = Path(v).expanduser()
    return p if p.is_absolute() else (Path(base) / p).resolve()


def _existing(v: Any, info: ValidationInfo) -> Path:
    p = _resolve(v, info)
    if not p.exists():
        raise ValueError(f"file not found: {p} (relative paths are read from the config file's folder)")
    return p


class DatabaseSource(_Model):
    """A PostgreSQL/PostGIS database: a URL, or libpq's PG* environment variables (and ~/.pgpass) when it has none."""

    url: str | None = Field(
        None, repr=False,
        description="postgresql://user@host:5432/dbname (key=value libpq strings work too); default: PGHOST, PGPORT, PGUSER, "
        "PGDATABASE, PGSERVICE … Keep the password out of it: PGPASSWORD or ~/.pgpass (a password here is never written out)",
    )  # fmt: skip

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        if "://" in v and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"'{v.split('://')[0]}://' is not a PostgreSQL URL; write postgresql://user@host:5432/dbname")
        conninfo_parts(v)  # raises ValueError without echoing the string
        if has_password(v):
            log.warning("the config's database url holds a password: ditan never writes it out, but prefer PGPASSWORD or ~/.pgpass "
                        "(chmod 600) so that the config file can be shared")  # fmt: skip
        return v

    @field_serializer("url")
    def _no_password(self, v: str | None) -> str | None:
        return redact(v)


class OutputDatabase(DatabaseSource):
    """Where `ditan run` writes its results (tables runs, units, compliance, service_areas, data_quality)."""

    url: str | None = Field(None, repr=False, description="postgresql://user@host:5432/dbname; default: the input database (database:)")
    db_schema: str = Field("ditan_results", alias="schema", pattern=r"^[^\x00]{1,63}$",
                           description="Schema of the result tables, created when missing")  # fmt: skip
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class OutputOptions(_Model):
    database: OutputDatabase | None = Field(None, description="Also write the results to this PostGIS database, one run_id per run")


class OsmSource(_Model):
    """One OpenStreetMap file from which roads, buildings, land use, POIs and stations are derived."""

    path: Path = Field(description="A .osm, .osm.bz2 or .osm.pbf file")
    crs: str = Field("EPSG:4326", description="OSM data is WGS 84")
    bounds: tuple[float, float, float, float] | None = Field(
        None, description="Study bounds [west, south, east, north] in degrees; default: the file header's bounds"
    )

    _check_path = field_validator("path", mode="before")(_existing)

    @field_validator("path")
    @classmethod
    def _suffix(cls, p: Path) -> Path:
        name = p.name.lower()
        if not name.endswith((".osm", ".osm.bz2", ".osm.pbf", ".pbf", ".osm.gz")):
            raise ValueError(f"'{p.name}' is not an OSM file; use .osm, .osm.bz2 or .osm.pbf")
        return p

    @field_validator("bounds")
    @classmethod
    def _bounds(cls, b: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
        """[west, south, east, north] in WGS 84 degrees: finite, in range, west < east, south < north; a swapped order is named."""
        if b is None:
            return b
        w, s, e, n = b
        text = ", ".join(f"{x:.10g}" for x in b)
        if not all(abs(x) < float("inf") for x in b):
            raise ValueError(f"[{text}]: write four finite numbers [west, south, east, north] in degrees (.nan and .inf are not coordinates)")

        def valid(w: float, s: float, e: float, n: float) -> bool:
            return -180 <= w < e <= 180 and -90 <= s < n <= 90

        swapped = f"[{s:.10g}, {w:.10g}, {n:.10g}, {e:.10g}]"
        if valid(w, s, e, n):
            # no town lies beyond 84° (UTM's limit): such a box read the other way round is the study area
            if max(abs(s), abs(n)) > 84 and valid(s, w, n, e):
                raise ValueError(f"[{text}] put the study area beyond latitude 84°, where no town lies; they look like "
                                 f"[south, west, north, east]: write {swapped} ([west, south, east, north] in degrees)")  # fmt: skip
            return b
        if valid(s, w, n, e):
            sure = " (a latitude cannot exceed 90°)" if max(abs(s), abs(n)) > 90 else ""
            raise ValueError(f"[{text}] look like [south, west, north, east]{sure}: write {swapped} "
                             "([west, south, east, north] in degrees)")  # fmt: skip
        if any(abs(x) > 360 for x in b):
            raise ValueError(f"[{text}] are not degrees (metres of a projected CRS?): write [west, south, east, north] in "
                             "WGS 84 degrees, e.g. [116.3084, 39.9905, 116.332, 40.0123]")  # fmt: skip
        if not (-180 <= min(w, e) and max(w, e) <= 180 and -90 <= min(s, n) and max(s, n) <= 90):
            raise ValueError(f"[{text}] out of range: longitudes (west, east) lie in −180…180 and latitudes (south, north) "
                             "in −90…90 degrees")  # fmt: skip
        which = " and ".join(x for x, bad in ((f"west {w:.10g} ≥ east {e:.10g}", w >= e), (f"south {s:.10g} ≥ north {n:.10g}", s >= n)) if bad)
        raise ValueError(f"[{text}]: bounds must be [west, south, east, north] with west < east and south < north (here {which})"
                         + (f"; did you mean [{min(w, e):.10g}, {min(s, n):.10g}, {max(w, e):.10g}, {max(s, n):.10g}]?" if w != e and s != n else ""))


PLACEHOLDER = re.compile(r"%\((\w+)\)[sbt]")


def _code_only(text: str) -> str:
    """``text`` with its comments blanked and its quoted text (strings, identifiers) x-ed out, same length, for finding ';'."""
    out, i, n = list(text), 0, len(text)
    while i < n:
        c, two = text[i], text[i:i + 2]
        if two == "--":
            end = text.find("\n", i)
            end = n if end < 0 else end
        elif two == "/*":
            depth, end = 1, i + 2
            while end < n and depth:
                depth += (text[end:end + 2] == "/*") - (text[end:end + 2] == "*/")
                end += 2 if text[end:end + 2] in ("/*", "*/") else 1
        elif c in "'\"":
            escapes = c == "'" and i > 0 and text[i - 1] in "eE"
            end = i + 1
            while end < n and not (text[end] == c and text[end + 1:end + 2] != c):
                end += 2 if (text[end] == c or (escapes and text[end] == "\\")) else 1
            end += 1
        elif c == "$" and (m := re.match(r"\$([A-Za-z_]\w*)?\$", text[i:])) and not (text[i - 1:i].isalnum() or text[i - 1:i] == "_"):
            close = text.find(m.group(0), i + len(m.group(0)))
            end = n if close < 0 else close + len(m.group(0))
        else:
            i += 1
            continue
        out[i:end] = ("x" if c in "'\"$" else " ") * (min(end, n) - i)  # comments are blank, quoted text is not
        i = end
    return "".join(out)


def check_select(text: str) -> str:
    """One SELECT (or WITH … SELECT, VALUES, TABLE) statement, its trailing ';' removed; ValueError otherwise."""
    code = _code_only(text).rstrip()
    while code.endswith(";"):
        code = code[:-1].rstrip()
    if ";" in code:
        raise ValueError("sql must be a single statement; it holds ';' between statements (one SELECT per layer)")
    first = re.match(r"[\s(]*([A-Za-z]+)", code)
    if first is None or first.group(1).lower() not in ("select", "with", "values", "table"):
        raise ValueError("sql must be a SELECT (or WITH … SELECT) statement; ditan only reads (the read is a READ ONLY transaction)")
    return text[: len(code)].strip()


class LayerSource(_Model):
    """A vector layer: a file (GeoPackage, GeoJSON, Shapefile, GeoParquet, CSV with coordinates), or a PostGIS table or query."""

    path: Path | None = Field(None, description="A file; or, in the config's database:, table or sql")
    table: str | None = Field(None, description="PostGIS table or view: schema.table or table (quoted as written: case and spaces kept)")
    sql: str | None = Field(None, description="PostGIS: one SELECT statement; values as %(name)s placeholders, bound from params")
    params: dict[str, Any] = Field({}, description="Values of the sql's %(name)s placeholders (sent apart from the SQL, never pasted in)")
    geometry_column: str | None = Field(None, description="PostGIS: the geometry column, when the table or query has several")
    layer: str | None = Field(None, description="Layer name inside a GeoPackage")
    crs: str | None = Field(
        None,
        description="Coordinate system of the data: an EPSG code (EPSG:4326, EPSG:4548), WKT or PROJ string, or gcj02 "
        "(Amap/高德, Tencent/腾讯) / bd09 (Baidu/百度) for Chinese web-map coordinates, converted to WGS 84; "
        "default: the file's own (PostGIS: the SRID; SRID 0 is no CRS)",
    )
    x_column: str | None = Field(None, description="CSV: longitude / x column")
    y_column: str | None = Field(None, description="CSV: latitude / y column")
    encoding: str | None = Field(None, description="CSV text encoding; default: UTF-8 (with or without BOM), then GB18030")
    id_column: str | None = Field(None, description="Feature id column")
    name_column: str | None = Field(None, description="Name column")
    class_column: str | None = Field(None, description="roads: OSM highway value; land use: internal class or OSM landuse value")
    type_column: str | None = Field(None, description="buildings: building type (OSM building values)")
    floors_column: str | None = Field(None, description="buildings: number of floors")
    height_column: str | None = Field(None, description="buildings: height in metres")
    category_column: str | None = Field(None, description="pois: life-circle category (id, Chinese name or alias)")
    kind_column: str | None = Field(
        None, description="stations: bus_stop, metro, bike_rental or ev_charging (or their Chinese names); units: the pilot kind of each unit"
    )
    category_system: Literal["catalogue", "overture"] = Field(
        "catalogue", description="catalogue: ids, Chinese names and aliases of the catalogue; overture: Overture places categories"
    )
    population_column: str | None = Field(None, description="buildings: residents (life-circle weights with weight_by: population)")
    _database: DatabaseSource | None = PrivateAttr(None)  # the config's database: (set by Config for table / sql layers)

    @field_validator("path", mode="before")
    @classmethod
    def _check_path(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _existing(v, info)

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None:
            split_table(v)
        return v

    @field_validator("sql")
    @classmethod
    def _sql(cls, v: str | None) -> str | None:
        return None if v is None else check_select(v)

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        scalar = (str, int, float, bool, type(None), dt.date)  # YAML reads 2024-01-01 as a date
        bad = [k for k, x in v.items() if not (isinstance(x, scalar) or (isinstance(x, list) and all(isinstance(y, scalar) for y in x)))]
        if bad:
            raise ValueError(f"params {', '.join(bad)}: a value must be text, a number, a date, true/false, null or a list of those")
        return v

    @field_validator("crs")
    @classmethod
    def _layer_crs(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from pyproj import CRS

        from ditan.spatial.crs.china import china_system

        system = china_system(v)
        if system is not None:
            return system
        try:
            CRS.from_user_input(v)
        except Exception as exc:  # pyproj raises CRSError; message kept
            raise ValueError(
                f"'{v}' is not a coordinate system ({exc}); use an EPSG code (e.g. EPSG:4326, EPSG:4548), a WKT or PROJ "
                "string, or gcj02 (Amap/高德, Tencent/腾讯) / bd09 (Baidu/百度) for Chinese web-map coordinates"
            ) from None
        return v

    @model_validator(mode="after")
    def _source(self) -> LayerSource:
        given = [k for k in ("path", "table", "sql") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"{' and '.join(given)} both given: name the layer once" if given else
                             "name the layer: path (a file), or table or sql (PostGIS, with database: in the config)")  # fmt: skip
        if self.path is None:
            stray = [k for k in ("layer", "x_column", "y_column", "encoding") if getattr(self, k) is not None]
            if stray:
                raise ValueError(f"{', '.join(stray)} {'applies' if len(stray) == 1 else 'apply'} to files, not to a PostGIS {given[0]} (coordinates: select "
                                 "ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom in sql)")  # fmt: skip
        elif self.geometry_column is not None:
            raise ValueError("geometry_column applies to a PostGIS table or sql, not to a file")
        if self.params and self.sql is None:
            raise ValueError("params go with sql (the values of its %(name)s placeholders)")
        if self.sql is not None:
            self._check_placeholders(self.sql)
        if self.path is not None and self.path.suffix.lower() == ".csv" and not (self.x_column and self.y_column):
            raise ValueError("a CSV layer needs x_column and y_column (and crs, e.g. EPSG:4326)")
        return self

    def _check_placeholders(self, sql: str) -> None:
        used = set(PLACEHOLDER.findall(sql))
        missing, unused = sorted(used - set(self.params)), sorted(set(self.params) - used)
        if missing:
            raise ValueError(f"sql uses %({missing[0]})s but params has no {', '.join(missing)}")
        if unused:
            raise ValueError(f"params {', '.join(unused)} not used in sql (write them as %(name)s)")
        if self.params and re.search(r"%(?!%|\(\w+\)[sbt])", PLACEHOLDER.sub("", sql).replace("%%", "")):
            raise ValueError("sql with params: write placeholders as %(name)s and a literal % as %% (e.g. LIKE 'a%%')")

    @property
    def database(self) -> DatabaseSource | None:
        """The database of a table or sql layer (the config's database:); None for a file."""
        return self._database

    @property
    def label(self) -> str:
        """The source as named in messages: the file name, 'table schema.name' or 'SQL query'."""
        if self.path is not None:
            return self.path.name
        return f"table {self.table}" if self.table is not None else "SQL query"


CODE_SYSTEMS = ("gb2023", "gb50137", "osm", "overture", "internal")


class ParcelSource(LayerSource):
    """Land-use parcels (用地地块) with a land-use code, and optionally their planned or current figures."""

    code_column: str = Field(description="Column with the land-use code (or its Chinese name)")
    code_system: Literal["gb2023", "gb50137", "osm", "overture", "internal"] = Field(
        "gb2023",
        description="gb2023: 国土空间调查、规划、用途管制用地用海分类指南 (07, 0701, 080403…); gb50137: GB 50137-2011 (R2, A33…); "
        "osm: OSM landuse/leisure/amenity values; overture: Overture land_use classes; internal: ditan's class ids",
    )
    floor_area_column: str | None = Field(None, description="Planned or current gross floor area of the parcel, m²")
    far_column: str | None = Field(None, description="Planned or current FAR of the parcel (floor area = FAR × parcel area)")
    height_limit_column: str | None = Field(None, description="Building height limit, m")
    green_ratio_column: str | None = Field(None, description="Green-space ratio of the parcel, % (attached green 附属绿地)")


class StationSource(LayerSource):
    """A stations layer: the kind of each station from a column (kind_column) or one kind for the whole layer (kind).

    Several layers may be given (inputs.stations as a list). A layer replaces OSM's stations only for the kinds
    it supplies; the other kinds keep OSM's (ditan.pipelines.assemble.load._stations).
    """

    kind: str | None = Field(
        None, description="One station kind for every feature of the layer (instead of kind_column): bus_stop, metro, bike_rental "
        "or ev_charging, or their Chinese names (公交站, 地铁站, 自行车租赁点, 电动车充电站)",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_kind_source(self) -> StationSource:
        where = f"stations layer '{self.label}'"
        if self.kind is None and self.kind_column is None:
            raise ValueError(f"{where} needs kind_column (the column naming each station's kind) or kind (one kind for "
                             "every feature, e.g. kind: bus_stop)")  # fmt: skip
        if self.kind is not None and self.kind_column is not None:
            raise ValueError(f"{where} has both kind_column and kind: give one (kind_column for a column of kinds, "
                             "kind for one kind for every feature)")  # fmt: skip
        from ditan.spatial.study_area.stations import unknown_kind  # scipy, only when a config has a stations layer

        if self.kind is not None and (why := unknown_kind(self.kind, self.category_system)):
            raise ValueError(f"{where}: {why}")
        return self



class RasterSource(_Model):
    """A land-cover raster (e.g. ESA WorldCover) or a continuous vegetation index (NDVI)."""

    path: Path
    vegetation_classes: list[int] = Field([10, 20, 30, 90, 95], description="Class codes counted as vegetation")
    impervious_classes: list[int] = Field([50], description="Class codes counted as impervious (permeable share = the rest)")
    ndvi_threshold: float | None = Field(None, description="Continuous raster: pixels ≥ this value are vegetation")
    nodata: float | None = Field(None, description="Override the raster's nodata value")

    _check_path = field_validator("path", mode="before")(_existing)


VECTOR_INPUTS = ("units", "roads", "buildings", "parcels", "pois", "stations")


class Inputs(_Model):
    osm: OsmSource | None = None
    units: LayerSource | None = Field(None, description="Community boundaries; derive them with `ditan units` if you have none")
    roads: LayerSource | None = None
    buildings: LayerSource | None = None
    parcels: ParcelSource | None = Field(None, description="Land-use parcels with a code column (GB 50137, 2023 codes, OSM or Overture)")
    pois: LayerSource | None = None
    stations: StationSource | list[StationSource] | None = Field(
        None, description="One stations layer or a list of them, each with kind_column or kind; a layer replaces OSM's stations "
        "only for the kinds it supplies (the other kinds keep OSM's)",
    )  # fmt: skip
    landcover: RasterSource | None = None

    @field_validator("stations", mode="wrap")
    @classmethod
    def _station_layers(cls, v: Any, handler: Any, info: ValidationInfo) -> StationSource | list[StationSource] | None:
        """One layer (a mapping) or a list of them; errors keep the layer's own keys (inputs.stations.kind, .1.kind)."""
        if v is None or isinstance(v, StationSource):
            return v
        if isinstance(v, list):
            if not v:
                raise ValueError("an empty list: name at least one stations layer, or leave inputs.stations out")
            from pydantic import TypeAdapter

            return TypeAdapter(list[StationSource]).validate_python(v, context=info.context)
        if isinstance(v, dict):
            return StationSource.model_validate(v, context=info.context)
        raise ValueError("give one stations layer (path: …, kind_column: … or kind: …) or a list of them")

    @model_validator(mode="after")
    def _something(self) -> Inputs:
        """Something to measure; a missing layer (no roads, no buildings …) only leaves the indicators that need it NaN."""
        if all(getattr(self, k) is None for k in ("osm", "roads", "buildings", "parcels", "pois", "stations", "landcover")):
            raise ValueError("nothing to measure: name an OSM file (inputs.osm) or layers (inputs.roads, buildings, parcels, pois, "
                             "stations, landcover)")  # fmt: skip
        return self

    def database_layers(self) -> dict[str, LayerSource]:
        """The layers read from PostGIS (table or sql), by input key."""
        return {k: src for k, src in self.vector_layers().items() if src.path is None}

    def station_layers(self) -> list[StationSource]:
        """The stations layers in the order given (none, one, or the list)."""
        s = self.stations
        return [] if s is None else list(s) if isinstance(s, list) else [s]

    def vector_layers(self) -> dict[str, LayerSource]:
        """Every vector layer by input key (several stations layers as stations.0, stations.1 and so on)."""
        out: dict[str, LayerSource] = {}
        for k in VECTOR_INPUTS:
            src = getattr(self, k)
            if isinstance(src, list):
                out.update({f"{k}.{i}": s for i, s in enumerate(src)})
            elif src is not None:
                out[k] = src
        return out
