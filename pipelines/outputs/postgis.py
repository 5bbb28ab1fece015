"""The results of `ditan run` written to PostGIS (config ``output.database``), all in one transaction.

Tables in the schema (``output.database.schema``, default ``ditan_results``), created when missing;
every row carries the ``run_id`` of its run, so that runs coexist:

- ``runs``: one row per run — run_id (primary key), name, title, started_utc, written_utc,
  ditan_version, srid, crs_name, units, config (jsonb, no password), manifest (jsonb);
- ``units``: run_id, unit_id, name, every indicator column, geometry (in the run's metric CRS, its EPSG SRID);
- ``compliance`` and ``compliance_summary`` (runs with a programme profile), as the CSV files;
- ``service_areas``: run_id, category, tier, distance_m, reachable_network_km, area_km2, form, geometry;
- ``data_quality``: run_id and the ledger columns of data_quality.csv.

Every table references ``runs`` (ON DELETE CASCADE): deleting a run's row deletes the run. A table
made by an older ditan gains the columns it lacks (ALTER TABLE … ADD COLUMN). Everything — schema,
tables, rows — is one transaction: a failure leaves nothing of the run. Identifiers are quoted
(psycopg.sql.Identifier), values are bound or streamed by COPY, never pasted into SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import secrets
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import CRS

from ditan.pipelines.compute.indicators import RunResult
from ditan.pipelines.config.schema import Config
from ditan.spatial.errors import require
from ditan.spatial.io.postgis import DatabaseError, connect, describe_database, scrub

log = logging.getLogger(__name__)
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names would be cut


@dataclass(frozen=True)
class Target:
    """Where results go: a connection string (None: libpq's PG* environment) and a schema."""

    conninfo: str | None
    schema: str

    @property
    def database(self) -> str:
        """The database as shown in messages and the manifest (no password)."""
        return describe_database(self.conninfo)


def target(cfg: Config) -> Target | None:
    """The config's output.database (its url defaulting to the input database's), or None."""
    out = cfg.output.database
    if out is None:
        return None
    return Target(out.url or (cfg.database.url if cfg.database else None), out.db_schema)


def new_run_id(name: str, started: dt.datetime) -> str:
    """``<name>_<UTC start, to the second>_<6 random hex digits>``: readable, sortable by time, unique."""
    return f"{name}_{started.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}_{secrets.token_hex(3)}"


def manifest_entries(cfg: Config, tgt: Target | None, run_id: str | None) -> dict:
    """The manifest's database_inputs (layers read from PostGIS) and database_output (run_id, database, schema), when used."""
    out: dict = {}
    layers = cfg.inputs.database_layers()
    if layers:
        out["database_inputs"] = {}
        for key, src in layers.items():
            entry = {"database": describe_database(src.database.url if src.database else None)}
            if src.table is not None:
                entry["table"] = src.table
            else:
                text = json.dumps(
                    {"sql": src.sql, "params": src.params},
                    sort_keys=True,
                    ensure_ascii=False,
                    default=str,
                )
                entry["sql_sha256"] = hashlib.sha256(text.encode()).hexdigest()
            out["database_inputs"][key] = entry
    if tgt is not None:
        out["database_output"] = {"run_id": run_id, "database": tgt.database, "schema": tgt.schema}
    return out


def write_run(
    tgt: Target,
    run_id: str,
    cfg: Config,
    res: RunResult,
    *,
    crs: CRS,
    quality: pd.DataFrame,
    manifest: dict,
    checks: pd.DataFrame | None = None,
    summary: pd.DataFrame | None = None,
) -> None:
    """Write one run to ``tgt`` in a single transaction; raise DatabaseError (and write nothing) on any failure."""
    require("psycopg")  # DependencyError with the install hint when it is missing
    import psycopg

    units = res.units.reset_index()
    srid, units_geom = _ewkb(units, crs)
    _, areas_geom = _ewkb(res.service_areas, crs)
    run = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "name": cfg.name,
                "title": cfg.title,
                "started_utc": manifest.get("run_started_utc"),
                "written_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "ditan_version": manifest.get("ditan"),
                "srid": srid,
                "crs_name": crs.name,
                "units": len(units),
                "config": _json(cfg.model_dump(mode="json")),
                "manifest": _json(manifest),
            }
        ]
    )
    tables = [
        (
            "units",
            units.drop(columns=units.geometry.name).assign(geometry=units_geom),
            ("run_id", "unit_id"),
        )
    ]
    if checks is not None:
        tables += [("compliance", checks, None), ("compliance_summary", summary, None)]
    tables += [
        (
            "service_areas",
            res.service_areas.drop(columns=res.service_areas.geometry.name).assign(
                geometry=areas_geom
            ),
            None,
        ),
        ("data_quality", quality, None),
    ]
    where = f"output.database: run {run_id} to {tgt.database}, schema {tgt.schema}"
    try:  # the connection block commits when it completes, else rolls back: schema, tables and rows all or nothing
        with connect(tgt.conninfo, what="output.database") as conn, conn.cursor() as cur:
            _prepare(cur, tgt.schema, where)
            _write_table(
                cur,
                tgt.schema,
                "runs",
                run.drop(columns="run_id"),
                run_id,
                key=("run_id",),
                types={
                    "started_utc": "timestamptz",
                    "written_utc": "timestamptz",
                    "config": "jsonb",
                    "manifest": "jsonb",
                },
            )
            for name, frame, key in tables:
                _write_table(
                    cur,
                    tgt.schema,
                    name,
                    frame.drop(columns="run_id", errors="ignore"),
                    run_id,
                    key=key,
                )
    except psycopg.Error as exc:
        msg = scrub(" ".join(str(exc).split()) or type(exc).__name__, tgt.conninfo)
        raise DatabaseError(f"{where} failed, nothing of the run was written: {msg}") from None
    log.info("results written to %s, schema %s, run_id %s", tgt.database, tgt.schema, run_id)


def _prepare(cur, schema: str, where: str) -> None:
    """Lock the schema's tables against a concurrent run's DDL; check PostGIS; create the schema when missing."""
    from psycopg import sql

    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"ditan_results:{schema}"])
    if cur.execute("SELECT to_regtype('geometry')").fetchone()[0] is None:
        raise DatabaseError(
            f"{where}: the database has no PostGIS; install it there (CREATE EXTENSION postgis) or name another"
        )
    if cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone() is None:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def _write_table(
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
        defs = [sql.SQL("run_id text NOT NULL")]
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
    convert = {
        "int2": _int,
        "int4": _int,
        "int8": _int,
        "float4": float,
        "float8": float,
        "numeric": float,
        "bool": _bool,
    }.get(udt)
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


def _ewkb(gdf: gpd.GeoDataFrame, crs: CRS) -> tuple[int, list]:
    """Hex EWKB of the geometries with the CRS's EPSG SRID (a CRS without an EPSG code: in WGS 84, SRID 4326)."""
    epsg = CRS.from_user_input(gdf.crs or crs).to_epsg()
    geoms = gdf.geometry
    if epsg is None:
        geoms, epsg = geoms.to_crs(4326), 4326
    hexes = shapely.to_wkb(shapely.set_srid(geoms.to_numpy(), epsg), hex=True, include_srid=True)
    return epsg, list(hexes)


def _json(value):
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
