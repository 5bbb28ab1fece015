"""A vector layer of a run config, and the land-use parcels layer built on it.

A vector layer is a file (``path``) or, in the config's ``database``, a table (``table``) or one
SELECT (``sql`` with ``params`` bound by the server).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from ditan.pipelines.config.database import DatabaseSource
from ditan.pipelines.config.model import _existing, _Model
from ditan.pipelines.config.sql_guard import PLACEHOLDER, check_select
from ditan.spatial.io.postgis import split_table


class LayerSource(_Model):
    """A vector layer: a file (GeoPackage, GeoJSON, Shapefile, GeoParquet, CSV with coordinates), or a PostGIS table or query."""

    path: Path | None = Field(
        None, description="A file; or, in the config's database:, table or sql"
    )
    table: str | None = Field(
        None,
        description="PostGIS table or view: schema.table or table (quoted as written: case and spaces kept)",
    )
    sql: str | None = Field(
        None,
        description="PostGIS: one SELECT statement; values as %(name)s placeholders, bound from params",
    )
    params: dict[str, Any] = Field(
        {},
        description="Values of the sql's %(name)s placeholders (sent apart from the SQL, never pasted in)",
    )
    geometry_column: str | None = Field(
        None, description="PostGIS: the geometry column, when the table or query has several"
    )
    layer: str | None = Field(
        None,
        description="Layer name inside a GeoPackage, File Geodatabase or DXF; sheet name of an Excel file",
    )
    crs: str | None = Field(
        None,
        description="Coordinate system of the data: an EPSG code (EPSG:4326, EPSG:4548), WKT or PROJ string, or gcj02 "
        "(Amap/高德, Tencent/腾讯) / bd09 (Baidu/百度) for Chinese web-map coordinates, converted to WGS 84; "
        "default: the file's own (PostGIS: the SRID; SRID 0 is no CRS)",
    )
    x_column: str | None = Field(None, description="CSV / Excel: longitude / x column")
    y_column: str | None = Field(None, description="CSV / Excel: latitude / y column")
    encoding: str | None = Field(
        None,
        description="text encoding of a CSV, Shapefile or DBF (e.g. gbk, big5); default: the .cpg, else "
        "detected (UTF-8, then GB18030/GBK, then Big5, noted in data_quality.csv)",
    )
    id_column: str | None = Field(None, description="Feature id column")
    name_column: str | None = Field(None, description="Name column")
    class_column: str | None = Field(
        None, description="roads: OSM highway value; land use: internal class or OSM landuse value"
    )
    type_column: str | None = Field(
        None, description="buildings: building type (OSM building values)"
    )
    floors_column: str | None = Field(None, description="buildings: number of floors")
    height_column: str | None = Field(None, description="buildings: height in metres")
    category_column: str | None = Field(
        None,
        description="pois: life-circle category (id, Chinese name or alias; with category_system amap / baidu: "
        "the web map's type column, e.g. type)",
    )
    kind_column: str | None = Field(
        None,
        description="stations: bus_stop, metro, bike_rental or ev_charging (or their Chinese names); units: the pilot kind of each unit",
    )
    category_system: Literal["catalogue", "overture", "amap", "baidu"] = Field(
        "catalogue",
        description="catalogue: ids, Chinese names and aliases of the catalogue; overture: Overture places categories; "
        "amap / baidu: the web map's category paths (高德 大类;中类;小类 and typecode, 百度 一级;二级 行业分类; several "
        "joined by |), mapped by spatial/standards/poi_systems.yaml; the layer's crs then defaults to the provider's "
        "(amap gcj02, baidu bd09)",
    )
    typecode_column: str | None = Field(
        None,
        description="category_system: amap: the six-digit typecode column (matched before the type path); default: "
        "a column named typecode when the file has one",
    )
    population_column: str | None = Field(
        None, description="buildings: residents (life-circle weights with weight_by: population)"
    )
    _database: DatabaseSource | None = PrivateAttr(
        None
    )  # the config's database: (set by Config for table / sql layers)
    _crs_default: str | None = PrivateAttr(
        None
    )  # 'category_system: amap' when crs was taken from the web-map provider (noted when read)

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
        bad = [
            k
            for k, x in v.items()
            if not (
                isinstance(x, scalar)
                or (isinstance(x, list) and all(isinstance(y, scalar) for y in x))
            )
        ]
        if bad:
            raise ValueError(
                f"params {', '.join(bad)}: a value must be text, a number, a date, true/false, null or a list of those"
            )
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
            raise ValueError(
                f"{' and '.join(given)} both given: name the layer once"
                if given
                else "name the layer: path (a file), or table or sql (PostGIS, with database: in the config)"
            )
        if self.path is None:
            stray = [
                k
                for k in ("layer", "x_column", "y_column", "encoding")
                if getattr(self, k) is not None
            ]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} {'applies' if len(stray) == 1 else 'apply'} to files, not to a PostGIS {given[0]} (coordinates: select "
                    "ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom in sql)"
                )
        elif self.geometry_column is not None:
            raise ValueError("geometry_column applies to a PostGIS table or sql, not to a file")
        if self.params and self.sql is None:
            raise ValueError("params go with sql (the values of its %(name)s placeholders)")
        if self.sql is not None:
            self._check_placeholders(self.sql)
        suffix = self.path.suffix.lower() if self.path is not None else ""
        if suffix in (".csv", ".xlsx", ".xlsm", ".xls") and not (self.x_column and self.y_column):
            kind = "a CSV" if suffix == ".csv" else "an Excel"
            raise ValueError(f"{kind} layer needs x_column and y_column (and crs, e.g. EPSG:4326)")
        if suffix == ".dwg":
            raise ValueError(
                "DWG (AutoCAD drawing) cannot be read: save it as DXF (另存为 DXF) and give the .dxf path "
                "(roads from DXF: class_column: Layer)"
            )
        system = getattr(self, "kind_system", None) or self.category_system  # stations: kind_system
        if self.typecode_column is not None and system != "amap":
            raise ValueError(
                f"typecode_column applies to Amap layers (category_system: amap, stations kind_system: amap: six-digit "
                f"typecodes), not to {system}"
            )
        self._provider_crs("category_system", self.category_system)
        return self

    def _provider_crs(self, key: str, system: str) -> None:
        """A web-map layer (amap / baidu) without crs: takes the provider's coordinate system (amap gcj02, baidu bd09)."""
        from ditan.spatial.standards.poi_systems import PROVIDERS, provider_crs

        if self.crs is None and system in PROVIDERS:
            self.crs = provider_crs(system)
            self._crs_default = f"{key}: {system}"

    def _check_placeholders(self, sql: str) -> None:
        used = set(PLACEHOLDER.findall(sql))
        missing, unused = sorted(used - set(self.params)), sorted(set(self.params) - used)
        if missing:
            raise ValueError(f"sql uses %({missing[0]})s but params has no {', '.join(missing)}")
        if unused:
            raise ValueError(f"params {', '.join(unused)} not used in sql (write them as %(name)s)")
        if self.params and re.search(
            r"%(?!%|\(\w+\)[sbt])", PLACEHOLDER.sub("", sql).replace("%%", "")
        ):
            raise ValueError(
                "sql with params: write placeholders as %(name)s and a literal % as %% (e.g. LIKE 'a%%')"
            )

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
    floor_area_column: str | None = Field(
        None, description="Planned or current gross floor area of the parcel, m²"
    )
    far_column: str | None = Field(
        None, description="Planned or current FAR of the parcel (floor area = FAR × parcel area)"
    )
    height_limit_column: str | None = Field(None, description="Building height limit, m")
    green_ratio_column: str | None = Field(
        None, description="Green-space ratio of the parcel, % (attached green 附属绿地)"
    )
