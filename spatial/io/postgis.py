"""PostGIS layers: a table or a parameterised SELECT read into a GeoDataFrame, as read_vector reads a file.

The database is named by a libpq connection string or libpq's environment
(:mod:`ditan.spatial.io.pg_conninfo`: passwords never appear in a description or message). Reading cannot
write (:mod:`ditan.spatial.io.pg_session`): a READ ONLY session, the query as one prepared statement, no
privileged role, statement and lock timeouts, rolled back at the end. SQL values are bound by the server
(``%(name)s`` placeholders with ``params``), never pasted into the text; table names are quoted as
identifiers. The geometry column is found by its type (PostGIS ``geometry`` or ``geography``); the
coordinate system by the SRID of the rows (or, with no rows, of the column's type): SRID 0 is a layer
without a CRS, exactly like a file without one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.errors import GEOSException

from ditan.spatial.errors import LayerError, require
from ditan.spatial.io.pg_conninfo import (
    UNREADABLE,
    conninfo_parts,
    describe_database,
    has_password,
    redact,
    scrub,
)
from ditan.spatial.io.pg_session import (
    LOCK_TIMEOUT_S,
    STATEMENT_TIMEOUT_S,
    DatabaseError,
    PrivilegedRole,
    Terminated,
    cancel_on_sigterm,
    check_role,
    connect,
    refusal,
    session_settings,
)
from ditan.spatial.io.vector import declare_crs

__all__ = [
    "DatabaseError",
    "PrivilegedRole",
    "Terminated",
    "UNREADABLE",
    "STATEMENT_TIMEOUT_S",
    "LOCK_TIMEOUT_S",
    "conninfo_parts",
    "has_password",
    "describe_database",
    "redact",
    "scrub",
    "session_settings",
    "connect",
    "cancel_on_sigterm",
    "refusal",
    "split_table",
    "read_postgis",
]

log = logging.getLogger(__name__)
GEOMETRY_TYPES = ("geometry", "geography")
NUMERIC_OID = 1700


# --- reading -----------------------------------------------------------------------------------------------------------


def split_table(name: str) -> tuple[str, ...]:
    """'schema.table' → ('schema', 'table'); 'table' → ('table',). Raises ValueError for anything else."""
    parts = tuple(name.split("."))
    if not 1 <= len(parts) <= 2 or not all(p.strip() for p in parts):
        raise ValueError(
            f"'{name}' is not a table name: write table or schema.table (names are used as written, case kept)"
        )
    return parts


def read_postgis(
    conninfo: str | None,
    *,
    layer_name: str,
    table: str | None = None,
    query: str | None = None,
    params: Mapping[str, Any] | None = None,
    geometry_column: str | None = None,
    crs: str | None = None,
    statement_timeout_s: float = STATEMENT_TIMEOUT_S,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
    allow_privileged_role: bool = False,
) -> gpd.GeoDataFrame:
    """Read a table (``table``: 'schema.table' or 'table') or a SELECT (``query`` with ``params``) from PostGIS.

    The frame holds every non-geometry column (PostgreSQL numeric as float) and the geometry, like
    :func:`ditan.spatial.io.vector.read_vector`; ``crs`` declares the data's CRS (overriding the SRID; 'gcj02'
    or 'bd09' convert Chinese web-map degrees to WGS 84). ``attrs["source_crs"]`` names the CRS read in.

    The read cannot write, whatever ``query`` holds: the session's transactions are READ ONLY
    (``default_transaction_read_only``, set when the connection opens, so a COMMIT in the query cannot end it),
    the query goes as one prepared statement (the server refuses a second one), every statement stops after
    ``statement_timeout_s`` and every lock wait after ``lock_timeout_s``, the transaction is rolled back at the
    end, and SIGTERM or Ctrl-C cancel the running statement on the server. A role that could write on the server
    from a SELECT (a superuser; pg_write_server_files, pg_execute_server_program or the right to run lo_export)
    is refused (:class:`PrivilegedRole`) unless ``allow_privileged_role``.
    """
    if (table is None) == (query is None):
        raise ValueError("read_postgis needs exactly one of table and query")
    label = f"table {table}" if table is not None else "SQL query"
    try:
        parts = split_table(table) if table is not None else ()
    except ValueError as exc:
        raise LayerError(f"layer '{layer_name}': {exc}") from None
    where = f"layer '{layer_name}' ({label} in {describe_database(conninfo)})"
    require("psycopg")  # DependencyError with the install hint when it is missing
    import psycopg
    from psycopg import sql

    settings = session_settings(
        read_only=True, statement_timeout_s=statement_timeout_s, lock_timeout_s=lock_timeout_s
    )
    with (
        connect(conninfo, what=f"layer '{layer_name}'", read_only=True, settings=settings) as conn,
        cancel_on_sigterm(),
    ):
        try:
            check_role(conn, where, allow_privileged_role)
            geo_oids = _geometry_oids(conn, where)
            if table is not None:
                ident = sql.Identifier(*parts)
                _require_table(conn, ident, table, where)
                cur = conn.execute(sql.SQL("SELECT * FROM {}").format(ident))
            else:  # the config's own SQL: one prepared statement (extended protocol), values bound by the server
                assert query is not None
                cur = conn.execute(query, dict(params) if params else None, prepare=True)
            if cur.description is None:
                raise LayerError(f"{where}: the statement returns no rows; write a SELECT")
            names = [c.name for c in cur.description]
            geom_i = _geometry_index(cur.description, geo_oids, geometry_column, where)
            typmod_srid = _typmod_srid(
                cur.pgresult.fmod(geom_i) if cur.pgresult is not None else -1
            )
            rows = cur.fetchall()
            numeric = [i for i, c in enumerate(cur.description) if c.type_code == NUMERIC_OID]
            frame, geoms = _frame(names, rows, geom_i, numeric, where)
            srid = _srid(geoms, typmod_srid, where)
            source = _srid_crs(conn, srid, where) if srid else None
            conn.rollback()  # a read keeps nothing, even what a READ ONLY transaction lets through
        except psycopg.Error as exc:
            limit = refusal(
                exc,
                statement_timeout_s=statement_timeout_s,
                lock_timeout_s=lock_timeout_s,
                key="database",
            )
            if limit is not None:
                raise LayerError(f"{where}: {limit}") from None
            msg = scrub(
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                conninfo,
            )
            raise LayerError(
                f"{where}: the database refused the read: {msg}; check the table name, the SQL and its params"
            ) from None
    log.debug("%s: %d rows, SRID %s", where, len(frame), srid)
    gname = "geometry" if "geometry" not in frame.columns else names[geom_i]
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, name=gname), crs=source)
    return _declare_crs(gdf, crs, layer_name, label)


def _geometry_oids(conn, where: str) -> set[int]:
    oids = {
        r[0]
        for r in conn.execute(
            "SELECT oid FROM pg_type WHERE typname = ANY(%s)", [list(GEOMETRY_TYPES)]
        ).fetchall()
    }
    if not oids:
        raise LayerError(
            f"{where}: the database has no PostGIS; install it there (CREATE EXTENSION postgis)"
        )
    return oids


def _require_table(conn, ident, table: str, where: str) -> None:
    """Stop with the near names when the table does not exist (names are case-sensitive as written)."""
    if conn.execute("SELECT to_regclass(%s)", [ident.as_string(conn)]).fetchone()[0] is not None:
        return
    rel = split_table(table)[-1]
    near = [
        f"{s}.{t}"
        for s, t in conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE lower(table_name) = lower(%s) ORDER BY 1, 2",
            [rel],
        ).fetchall()
    ]
    hint = (
        f"; did you mean {', '.join(near)}? (names are used as written: case and spaces kept)"
        if near
        else ""
    )
    raise LayerError(f"{where}: no such table or view, or no right to read it{hint}")


def _geometry_index(description, geo_oids: set[int], wanted: str | None, where: str) -> int:
    names = [c.name for c in description]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise LayerError(
            f"{where}: the column name(s) {', '.join(dup)} repeat; give the columns distinct names (AS …)"
        )
    geo = [i for i, c in enumerate(description) if c.type_code in geo_oids]
    if wanted is not None:
        if wanted not in names:
            raise LayerError(
                f"{where}: geometry_column '{wanted}' is not among its columns ({', '.join(names)})"
            )
        if names.index(wanted) not in geo:
            raise LayerError(
                f"{where}: geometry_column '{wanted}' is not a PostGIS geometry or geography"
            )
        return names.index(wanted)
    if not geo:
        raise LayerError(
            f"{where}: no geometry column among {', '.join(names)}; select one (for coordinates: "
            "ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom)"
        )
    if len(geo) > 1:
        raise LayerError(
            f"{where}: several geometry columns ({', '.join(names[i] for i in geo)}); name one with geometry_column:"
        )
    return geo[0]


def _typmod_srid(typmod: int) -> int | None:
    """The SRID of a ``geometry(type, srid)`` column from its type modifier (PostGIS' TYPMOD_GET_SRID); None when free."""
    if typmod is None or typmod < 0:
        return None
    return (((typmod & 0x0FFFFF00) - (typmod & 0x08000000)) >> 8) or None


def _frame(
    names: list[str], rows: list[tuple], geom_i: int, numeric: list[int], where: str
) -> tuple[pd.DataFrame, np.ndarray]:
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    data = {}
    for i, name in enumerate(names):
        if i == geom_i:
            continue
        values: Sequence = cols[i]
        if (
            i in numeric
        ):  # numeric arrives as Decimal: read as float, as GDAL reads a file's Real fields
            values = [float(v) if isinstance(v, Decimal) else v for v in values]
            data[name] = pd.Series(values, dtype=float)
        else:
            data[name] = pd.Series(values, dtype=object if not values else None)
    try:
        geoms = shapely.from_wkb(np.array(cols[geom_i], dtype=object))
    except (
        GEOSException,
        NotImplementedError,
    ) as exc:  # GEOS reads no curves (CIRCULARSTRING, CURVEPOLYGON …)
        raise LayerError(
            f"{where}: a geometry cannot be read ({exc}); curved geometries: select ST_CurveToLine(geom) in sql:"
        ) from None
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows))), geoms


def _srid(geoms: np.ndarray, typmod_srid: int | None, where: str) -> int | None:
    """The one SRID of the rows (0: none), else the column's; mixed SRIDs stop the read."""
    present = geoms[~shapely.is_missing(geoms)]
    srids = np.unique(shapely.get_srid(present)) if len(present) else np.array([], dtype=int)
    if len(srids) > 1:
        raise LayerError(
            f"{where}: the rows mix SRIDs {', '.join(map(str, srids))}; select them in one (ST_Transform(geom, 4326)) "
            "or read each SRID as its own layer"
        )
    if len(srids):
        return int(srids[0]) or None
    return typmod_srid


def _srid_crs(conn, srid: int, where: str) -> CRS:
    row = conn.execute(
        "SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s", [srid]
    ).fetchone()
    if row is None:
        raise LayerError(
            f"{where}: SRID {srid} is not in the database's spatial_ref_sys; declare the CRS in the config (crs: EPSG:…)"
        )
    auth, code, wkt = row
    try:
        return CRS.from_user_input(f"{auth}:{code}") if auth and code else CRS.from_wkt(wkt)
    except Exception:  # pyproj.CRSError: an authority pyproj lacks; fall back to the WKT
        try:
            return CRS.from_wkt(wkt)
        except Exception:
            raise LayerError(
                f"{where}: SRID {srid} ({auth}:{code}) is unknown to PROJ; declare the CRS in the config (crs: …)"
            ) from None


def _declare_crs(
    gdf: gpd.GeoDataFrame, crs: str | None, layer_name: str, label: str
) -> gpd.GeoDataFrame:
    """The config's ``crs`` over the SRID; no CRS at all (SRID 0) is an error, as for a file without one."""
    if (
        crs is None and gdf.crs is None and len(gdf) == 0
    ):  # no rows and no SRID on the column: nothing can be misplaced
        gdf = gdf.set_crs(4326)
    return declare_crs(
        gdf,
        crs,
        layer_name=layer_name,
        source=label,
        source_crs="the SRID",
        fix="fix the SRID (ST_SetSRID)",
        no_crs_fix=", or set the SRID in the database (ST_SetSRID)",
    )
