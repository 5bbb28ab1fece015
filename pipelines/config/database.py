"""The PostgreSQL/PostGIS databases of a run config: the input database (database:) and the output one (output:)."""

from __future__ import annotations

import logging

from pydantic import ConfigDict, Field, field_serializer, field_validator

from ditan.pipelines.config.model import _Model
from ditan.spatial.io.postgis import (
    LOCK_TIMEOUT_S,
    STATEMENT_TIMEOUT_S,
    conninfo_parts,
    has_password,
    redact,
)

log = logging.getLogger(__name__)
#: PostgreSQL keeps timeouts as int milliseconds: at most 2147483647 ms
MAX_TIMEOUT_S = 2_147_483.0


def _lock_timeout(what: str):
    return Field(
        LOCK_TIMEOUT_S,
        gt=0,
        le=MAX_TIMEOUT_S,
        allow_inf_nan=False,
        description=f"Seconds {what} may wait for a lock another session holds on a table (then it stops with one "
        "line naming this key); PostgreSQL lock_timeout",
    )


class _Connection(_Model):
    """A PostgreSQL/PostGIS database: a URL, or libpq's PG* environment variables (and ~/.pgpass) when it has none."""

    url: str | None = Field(
        None,
        repr=False,
        description="postgresql://user@host:5432/dbname (key=value libpq strings work too); default: PGHOST, PGPORT, PGUSER, "
        "PGDATABASE, PGSERVICE … Keep the password out of it: PGPASSWORD or ~/.pgpass (a password here is never written out)",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        if "://" in v and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"'{v.split('://')[0]}://' is not a PostgreSQL URL; write postgresql://user@host:5432/dbname"
            )
        conninfo_parts(v)  # raises ValueError without echoing the string
        if has_password(v):
            log.warning(
                "the config's database url holds a password: ditan never writes it out, but prefer PGPASSWORD or ~/.pgpass "
                "(chmod 600) so that the config file can be shared"
            )
        return v

    @field_serializer("url")
    def _no_password(self, v: str | None) -> str | None:
        return redact(v)


class DatabaseSource(_Connection):
    """The database of the layers given as table: or sql:, read in READ ONLY transactions that cannot write."""

    statement_timeout_s: float = Field(
        STATEMENT_TIMEOUT_S,
        gt=0,
        le=MAX_TIMEOUT_S,
        allow_inf_nan=False,
        description="Seconds a layer's read (each statement) may run before the server cancels it; PostgreSQL "
        "statement_timeout",
    )
    lock_timeout_s: float = _lock_timeout("a layer's read")
    allow_privileged_role: bool = Field(
        False,
        description="Read as a superuser (or a role with pg_write_server_files, pg_execute_server_program or "
        "lo_export), who could write files on the server from a SELECT; default false: such a role is refused — "
        "connect as a role that may only SELECT",
    )


class OutputDatabase(_Connection):
    """Where `ditan run` writes its results (tables runs, units, compliance, service_areas, data_quality)."""

    url: str | None = Field(
        None,
        repr=False,
        description="postgresql://user@host:5432/dbname; default: the input database (database:)",
    )
    db_schema: str = Field(
        "ditan_results",
        alias="schema",
        pattern=r"^[^\x00]{1,63}$",
        description="Schema of the result tables, created when missing",
    )
    lock_timeout_s: float = _lock_timeout("the results' write")
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class OutputOptions(_Model):
    database: OutputDatabase | None = Field(
        None, description="Also write the results to this PostGIS database, one run_id per run"
    )
