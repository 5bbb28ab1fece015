"""Writing frames to PostGIS tables: the schema locked and checked, tables created or widened, rows streamed.

A table is created when missing and gains the columns it lacks (ALTER TABLE … ADD COLUMN); pandas dtypes
map to PostgreSQL types; geometries go as EWKB with their EPSG SRID; JSON as jsonb. Identifiers are quoted
(psycopg.sql.Identifier) and values are streamed by COPY, never pasted into SQL. The caller owns the
connection and the transaction (see ditan.pipelines.outputs.postgis for the results of a run).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import CRS

from ditan.spatial.io.postgis import DatabaseError

__all__ = ["MAX_IDENTIFIER_BYTES", "prepare_schema", "write_table", "ewkb", "jsonb"]

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names would be cut


def prepare_schema(cur, schema: str, where: str) -> None:
    """Lock the schema's tables against a concurrent run's DDL; check PostGIS; create the schema when missing."""
    from psycopg import sql

    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"ditan_results:{schema}"])
    if cur.execute("SELECT to_regtype('geometry')").fetchone()[0] is None:
        raise DatabaseError(
            f"{where}: the database has no PostGIS; install it there (CREATE EXTENSION postgis) or name another"
        )
    if cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone() is None:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def write_table(
    cur,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    run_id: str,
    *,
    key: tuple[str, ...] | None,
    types: dict[str, str] | None = None,
) -> None:
    """Create ``schema.table`` if missing (or add the columns it lacks) and COPY ``frame``'s rows, each with ``run_id``."""
    from psycopg import sql

    wanted = {
        c: (types or {}).get(c) or ("geometry" if c == "geometry" else _pg_type(frame[c]))
        for c in frame.columns
    }
    long = [c for c in ["run_id", *wanted] if len(str(c).encode()) > MAX_IDENTIFIER_BYTES]
    if long:
        raise DatabaseError(
            f"output.database: column name(s) longer than {MAX_IDENTIFIER_BYTES} bytes in {table}: {', '.join(long)}"
        )
    ident = sql.Identifier(schema, table)
    existing = dict(
        cur.execute(
            "SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s",
            [schema, table],
        ).fetchall()
    )
    if not existing:
        defs: list[sql.Composable] = [sql.SQL("run_id text NOT NULL")]
        if table != "runs":
            defs[0] = sql.SQL(
                "run_id text NOT NULL REFERENCES {} (run_id) ON DELETE CASCADE"
            ).format(sql.Identifier(schema, "runs"))
        defs += [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in wanted.items()]
        if key:
            defs.append(
                sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, key)))
            )
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(", ").join(defs)))
        if not key:
            cur.execute(sql.SQL("CREATE INDEX ON {} (run_id)").format(ident))
        if "geometry" in wanted:
            cur.execute(sql.SQL("CREATE INDEX ON {} USING gist (geometry)").format(ident))
        existing = {"run_id": "text", **{c: _udt(t) for c, t in wanted.items()}}
    for c, t in wanted.items():
        if (
            c not in existing
        ):  # a newer ditan added a column: the table gains it, older runs hold NULL there
            cur.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    ident, sql.Identifier(c), sql.SQL(t)
                )
            )
            existing[c] = _udt(t)
    columns = ["run_id", *wanted]
    values = [[run_id] * len(frame)] + [_values(frame[c], existing[c], table, c) for c in wanted]
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        ident, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cur.copy(stmt) as copy:
        for row in zip(*values, strict=True):
            copy.write_row(row)


PG_TYPES = {"boolean": "bool", "bigint": "int8", "double precision": "float8", "timestamptz": "timestamptz", "text": "text",
            "jsonb": "jsonb", "geometry": "geometry"}  # fmt: skip


def _udt(pg_type: str) -> str:
    return PG_TYPES.get(pg_type, pg_type)


def _pg_type(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_integer_dtype(s):
        return "bigint"
    if pd.api.types.is_float_dtype(s):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "timestamptz"
    kind = pd.api.types.infer_dtype(s, skipna=True)
    return {
        "integer": "bigint",
        "floating": "double precision",
        "mixed-integer-float": "double precision",
        "decimal": "double precision",
        "boolean": "boolean",
    }.get(kind, "text")


def _values(s: pd.Series, udt: str, table: str, column: str) -> list:
    """The column as Python values for the table column's type (udt_name); NaN and NA as NULL."""
    raw = s.astype(object).where(s.notna().to_numpy(), None).tolist()
    converters: dict[str, Callable[[Any], Any]] = {
        "int2": _int,
        "int4": _int,
        "int8": _int,
        "float4": float,
        "float8": float,
        "numeric": float,
        "bool": _bool,
    }
    convert = converters.get(udt)
    if convert is None:
        return [v if v is None or isinstance(v, str) else str(v) for v in raw]
    try:
        return [None if v is None else convert(v) for v in raw]
    except (TypeError, ValueError):
        raise DatabaseError(
            f"output.database: {table}.{column} is {udt} in the database but this run's values are not "
            "(a column of an older ditan with another type): rename or drop that column"
        ) from None


def _int(v) -> int:
    if not float(v).is_integer():
        raise ValueError(f"{v} is not a whole number")
    return int(float(v))


def _bool(v) -> bool:
    if isinstance(v, bool) or v in (0, 1):
        return bool(v)
    raise ValueError(f"{v!r} is not true/false")


def ewkb(gdf: gpd.GeoDataFrame, crs: CRS) -> tuple[int, list]:
    """Hex EWKB of the geometries with the CRS's EPSG SRID (a CRS without an EPSG code: in WGS 84, SRID 4326)."""
    epsg = CRS.from_user_input(gdf.crs or crs).to_epsg()
    geoms = gdf.geometry
    if epsg is None:
        geoms, epsg = geoms.to_crs(4326), 4326
    hexes = shapely.to_wkb(shapely.set_srid(geoms.to_numpy(), epsg), hex=True, include_srid=True)
    return epsg, list(hexes)


def jsonb(value):
    """JSON text for jsonb: NaN and infinities (no JSON for them) as null, other objects as text."""

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(
        clean(json.loads(json.dumps(value, default=str))), ensure_ascii=False, allow_nan=False
    )
