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
import secrets
from dataclasses import dataclass

import pandas as pd
from pyproj import CRS

from ditan.pipelines.compute.indicators import RunResult
from ditan.pipelines.config.schema import Config
from ditan.spatial.errors import require
from ditan.spatial.io.postgis import (
    LOCK_TIMEOUT_S,
    DatabaseError,
    cancel_on_sigterm,
    connect,
    describe_database,
    refusal,
    scrub,
    session_settings,
)
from ditan.spatial.io.postgis_write import (
    ewkb,
    jsonb,
    prepare_schema,
    write_table,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where results go: a connection string (None: libpq's PG* environment), a schema, how long to wait for a lock."""

    conninfo: str | None
    schema: str
    lock_timeout_s: float = LOCK_TIMEOUT_S

    @property
    def database(self) -> str:
        """The database as shown in messages and the manifest (no password)."""
        return describe_database(self.conninfo)


def target(cfg: Config) -> Target | None:
    """The config's output.database (its url defaulting to the input database's), or None."""
    out = cfg.output.database
    if out is None:
        return None
    return Target(
        out.url or (cfg.database.url if cfg.database else None), out.db_schema, out.lock_timeout_s
    )


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
    srid, units_geom = ewkb(units, crs)
    _, areas_geom = ewkb(res.service_areas, crs)
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
                "config": jsonb(cfg.model_dump(mode="json")),
                "manifest": jsonb(manifest),
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
    settings = session_settings(read_only=False, lock_timeout_s=tgt.lock_timeout_s)
    try:  # the connection block commits when it completes, else rolls back: schema, tables and rows all or nothing
        with (
            connect(tgt.conninfo, what="output.database", settings=settings) as conn,
            cancel_on_sigterm(),  # SIGTERM, as Ctrl-C, cancels the statement on the server
            conn.cursor() as cur,
        ):
            prepare_schema(cur, tgt.schema, where)
            write_table(
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
                write_table(
                    cur,
                    tgt.schema,
                    name,
                    frame.drop(columns="run_id", errors="ignore"),
                    run_id,
                    key=key,
                )
    except psycopg.Error as exc:
        limit = refusal(
            exc, statement_timeout_s=None, lock_timeout_s=tgt.lock_timeout_s, key="output.database"
        )
        msg = limit or scrub(" ".join(str(exc).split()) or type(exc).__name__, tgt.conninfo)
        raise DatabaseError(f"{where} failed, nothing of the run was written: {msg}") from None
    log.info("results written to %s, schema %s, run_id %s", tgt.database, tgt.schema, run_id)
